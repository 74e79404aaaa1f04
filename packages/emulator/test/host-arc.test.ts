import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fetch } from "undici"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ARC_TOKENS_DIRECTORY, ArcSecrets } from "../src/hosts/arcSecrets.js"
import { HostSetupError } from "../src/hosts/host.js"
import { defaultWorld, type World } from "../src/world/model.js"
import { ARM_RESOURCE, json, jwtPayload, start, type TestEmulator } from "./helpers.js"

const SUB = defaultWorld().subscriptions[0]?.subscriptionId ?? ""
const UAMI = {
  name: "arc-extra",
  subscriptionId: SUB,
  resourceGroup: "DevTest",
  principalId: "11111111-2222-4333-8444-555555555555",
  clientId: "66666666-7777-4888-9999-aaaaaaaaaaaa",
}
const UAMI_ID = `/subscriptions/${SUB}/resourceGroups/DevTest/providers/Microsoft.ManagedIdentity/userAssignedIdentities/arc-extra`
const world: World = {
  ...defaultWorld(),
  userAssignedIdentities: [UAMI],
  hosts: [
    {
      kind: "arc",
      name: "edge01",
      subscriptionId: SUB,
      resourceGroup: "DevTest",
      systemAssigned: {
        principalId: "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff",
        clientId: "12345678-9abc-4def-8123-456789abcdef",
      },
      userAssigned: [UAMI_ID],
    },
  ],
}

let t: TestEmulator
let endpoint: string
beforeAll(async () => {
  t = await start({ source: "arc", world })
  endpoint = t.emu.env.IDENTITY_ENDPOINT ?? ""
})
afterAll(() => t.close())

const q = (apiVersion = "2020-06-01", extra = "") =>
  `${endpoint}?api-version=${apiVersion}&resource=${encodeURIComponent(ARM_RESOURCE)}${extra}`

/** The challenge: status, the realm's file path and the secret in it. */
const challenge = async (url: string) => {
  const res = await fetch(url, { headers: { Metadata: "true" } })
  const realm = res.headers.get("www-authenticate") ?? ""
  const path = realm.replace(/^Basic realm=/, "")
  return { res, realm, path, secret: await readFile(path, "utf8") }
}

describe("Azure Arc host (--source arc)", () => {
  it("env holds IDENTITY_ENDPOINT and IMDS_ENDPOINT on 127.0.0.1 and names the world's Arc server", () => {
    expect(t.emu.env.IDENTITY_ENDPOINT).toMatch(
      /^http:\/\/127\.0\.0\.1:\d+\/metadata\/identity\/oauth2\/token$/,
    )
    expect(t.emu.env.IMDS_ENDPOINT).toBe(new URL(endpoint).origin)
    expect(t.emu.env.AZURE_POD_IDENTITY_AUTHORITY_HOST).toBeUndefined()
    expect(t.emu.host).toMatchObject({
      source: "arc",
      name: "edge01",
      clientId: "12345678-9abc-4def-8123-456789abcdef",
    })
  })

  it("challenges with a fresh 0600 key file in /var/opt/azcmagent/tokens, then answers the Basic secret with expires_in and expires_on", async () => {
    const first = await challenge(q())
    expect(first.res.status).toBe(401)
    // JSON, not empty: MSAL Node's standalone HTTP client JSON-parses the 401 before reading the challenge.
    expect(await json(first.res)).toMatchObject({ error: "unauthorized_client" })
    expect(first.realm).toMatch(/^Basic realm=\/var\/opt\/azcmagent\/tokens\/[0-9a-f]{32}\.key$/)
    expect(first.path.startsWith(`${ARC_TOKENS_DIRECTORY}/`)).toBe(true)
    expect((await stat(first.path)).mode & 0o777).toBe(0o600)
    expect(first.secret).toMatch(/^[0-9a-f]{64}$/) // no trailing newline, far below 4096 bytes
    const second = await challenge(q())
    expect(second.path).not.toBe(first.path)

    const res = await fetch(q(), { headers: { Metadata: "true", Authorization: `Basic ${first.secret}` } })
    expect(res.status).toBe(200)
    const body = await json(res)
    expect(body.expires_in).toMatch(/^\d+$/)
    expect(body.expires_on).toMatch(/^\d+$/)
    expect(body.resource).toBe(ARM_RESOURCE)
    expect(jwtPayload(body.access_token).oid).toBe(t.emu.host.principalId)
  })

  it("accepts api-version 2019-11-01 too, and refuses others, a missing Metadata header and a wrong secret", async () => {
    const { secret } = await challenge(q("2019-11-01"))
    const ok = await fetch(q("2019-11-01"), {
      headers: { Metadata: "true", Authorization: `Basic ${secret}` },
    })
    expect(ok.status).toBe(200)
    const bad = await fetch(q("2018-02-01"), {
      headers: { Metadata: "true", Authorization: `Basic ${secret}` },
    })
    expect(bad.status).toBe(400)
    expect((await fetch(q(), { headers: { Authorization: `Basic ${secret}` } })).status).toBe(400)
    const wrong = await fetch(q(), { headers: { Metadata: "true", Authorization: "Basic 0123" } })
    expect(wrong.status).toBe(401)
    expect(wrong.headers.get("www-authenticate")).toMatch(/^Basic realm=\/var\/opt\/azcmagent\/tokens\//)
  })

  it("echoes a user-assigned selector back (client_id, object_id, msi_res_id), as the SDKs require", async () => {
    for (const [param, value, echo] of [
      ["client_id", UAMI.clientId, "client_id"],
      ["object_id", UAMI.principalId, "object_id"],
      ["msi_res_id", UAMI_ID, "msi_res_id"],
    ] as const) {
      const url = q("2020-06-01", `&${param}=${encodeURIComponent(value)}`)
      const { secret } = await challenge(url)
      const res = await fetch(url, { headers: { Metadata: "true", Authorization: `Basic ${secret}` } })
      expect(res.status).toBe(200)
      const body = await json(res)
      expect(body[echo]).toBe(value)
      expect(jwtPayload(body.access_token).oid).toBe(UAMI.principalId)
    }
  })

  it("the fault API and the request log cover the endpoint (target arc-token)", async () => {
    t.emu.requests.reset()
    t.emu.faults.inject({ target: "arc-token", status: 500 })
    const res = await fetch(q(), { headers: { Metadata: "true" } })
    expect(res.status).toBe(500)
    expect(await json(res)).toMatchObject({ error: "server_error" })
    expect(t.emu.requests.count({ target: "arc-token", status: 500 })).toBe(1)
  })
})

describe("Arc's secret directory", () => {
  it("closing the emulator deletes the key files it wrote", async () => {
    const own = await start({ source: "arc" })
    const url = `${own.emu.env.IDENTITY_ENDPOINT}?api-version=2020-06-01&resource=${ARM_RESOURCE}`
    const { path } = await challenge(url)
    await own.close()
    await expect(stat(path)).rejects.toMatchObject({ code: "ENOENT" })
  })

  it("a directory that cannot be written is a HostSetupError naming the directory and why", async () => {
    const dir = await mkdtemp(join(tmpdir(), "azmi-arc-"))
    try {
      const file = join(dir, "not-a-directory")
      await writeFile(file, "")
      const failure = ArcSecrets.open(join(file, "tokens"))
      await expect(failure).rejects.toBeInstanceOf(HostSetupError)
      await expect(failure).rejects.toThrow(
        `--source arc: cannot write Azure Arc's secret files to ${join(file, "tokens")} (ENOTDIR`,
      )
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
