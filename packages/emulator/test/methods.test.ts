/**
 * A wrong method on a route that exists is 405 with an `Allow` header naming the methods the route takes —
 * on every server and route family of the emulator (IMDS identity and instance, login, ARM, control API) —
 * while a path that exists for no method stays 404.
 */
import { Agent, fetch } from "undici"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DEFAULT_ADMIN_ASSIGNMENT_NAME, READER_ROLE_ID } from "../src/world/model.js"
import { start, type TestEmulator } from "./helpers.js"

let t: TestEmulator
let admin: string
const plain = new Agent()
beforeAll(async () => {
  t = await start()
  admin = await t.adminToken()
})
afterAll(async () => {
  await t.close()
  await plain.close()
})

interface Case {
  readonly server: "imds" | "arm"
  readonly method: string
  /** `{sub}` and `{tenant}` are filled in from the running emulator. */
  readonly path: string
  readonly allow: string
  readonly auth?: boolean
}

const cases: ReadonlyArray<Case> = [
  {
    server: "imds",
    method: "POST",
    path: "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/",
    allow: "GET",
  },
  { server: "imds", method: "POST", path: "/metadata/identity/info?api-version=2021-02-01", allow: "GET" },
  { server: "imds", method: "POST", path: "/metadata/instance?api-version=2021-02-01", allow: "GET" },
  { server: "imds", method: "DELETE", path: "/metadata/versions", allow: "GET" },
  { server: "imds", method: "PUT", path: "/_emulator/world", allow: "GET" },
  { server: "imds", method: "PUT", path: "/_emulator/faults", allow: "GET, POST, DELETE" },
  { server: "imds", method: "GET", path: "/_emulator/faults/some-id", allow: "DELETE" },
  { server: "imds", method: "POST", path: "/_emulator/requests", allow: "GET, DELETE" },
  { server: "arm", method: "GET", path: "/{tenant}/oauth2/v2.0/token", allow: "POST" },
  { server: "arm", method: "GET", path: "/{tenant}/oauth2/token", allow: "POST" },
  { server: "arm", method: "POST", path: "/{tenant}/v2.0/.well-known/openid-configuration", allow: "GET" },
  { server: "arm", method: "POST", path: "/common/discovery/v2.0/keys", allow: "GET" },
  {
    server: "arm",
    method: "DELETE",
    path: "/subscriptions?api-version=2022-12-01",
    allow: "GET",
    auth: true,
  },
  { server: "arm", method: "POST", path: "{sub}?api-version=2022-12-01", allow: "GET", auth: true },
  {
    server: "arm",
    method: "PUT",
    path: "{sub}/resourcegroups?api-version=2021-04-01",
    allow: "GET",
    auth: true,
  },
  {
    server: "arm",
    method: "POST",
    path: "{sub}/resourcegroups/DevTest?api-version=2021-04-01",
    allow: "GET, HEAD, PUT, PATCH, DELETE",
    auth: true,
  },
  {
    server: "arm",
    method: "POST",
    path: `{sub}/providers/Microsoft.Authorization/roleAssignments/${DEFAULT_ADMIN_ASSIGNMENT_NAME}?api-version=2022-04-01`,
    allow: "GET, PUT, DELETE",
    auth: true,
  },
  {
    server: "arm",
    method: "PUT",
    path: "{sub}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01",
    allow: "GET",
    auth: true,
  },
  {
    server: "arm",
    method: "DELETE",
    path: `{sub}/providers/Microsoft.Authorization/roleDefinitions/${READER_ROLE_ID}?api-version=2022-04-01`,
    allow: "GET",
    auth: true,
  },
]

const send = (c: Omit<Case, "allow">) => {
  const base = c.server === "imds" ? t.emu.imdsUrl : t.emu.armUrl
  const path = c.path
    .replace("{sub}", `/subscriptions/${t.emu.subscriptionId}`)
    .replace("{tenant}", t.emu.tenantId)
  return fetch(`${base}${path}`, {
    method: c.method,
    dispatcher: c.server === "arm" ? t.dispatcher : plain,
    headers: {
      ...(c.server === "imds" ? { metadata: "true" } : {}),
      ...(c.auth === true ? { authorization: `Bearer ${admin}` } : {}),
    },
  })
}

describe("a wrong method on an existing route", () => {
  for (const c of cases) {
    it(`${c.server} ${c.method} ${c.path} → 405, Allow: ${c.allow}`, async () => {
      const res = await send(c)
      await res.arrayBuffer()
      expect(res.status).toBe(405)
      expect(res.headers.get("allow")).toBe(c.allow)
    })
  }

  it("every method the Allow header names is one the route answers without 405", async () => {
    for (const c of cases) {
      for (const method of c.allow.split(", ")) {
        const res = await send({ ...c, method })
        await res.arrayBuffer()
        expect(res.status, `${method} ${c.path}`).not.toBe(405)
      }
    }
  })

  it("a path that exists for no method is 404, not 405", async () => {
    for (const c of [
      { server: "imds", method: "POST", path: "/metadata/nothing-here" },
      { server: "imds", method: "GET", path: "/_emulator/nothing-here" },
      {
        server: "arm",
        method: "POST",
        path: "{sub}/resourcegroups/DevTest/nothing-here?api-version=2021-04-01",
        auth: true,
      },
    ] satisfies ReadonlyArray<Omit<Case, "allow">>) {
      const res = await send(c)
      await res.arrayBuffer()
      expect(res.status, `${c.method} ${c.path}`).toBe(404)
    }
  })
})
