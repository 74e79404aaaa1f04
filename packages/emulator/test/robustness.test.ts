import fc from "fast-check"
import { fetch } from "undici"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DEFAULT_SUBSCRIPTION_ID } from "../src/index.js"
import { start, type TestEmulator } from "./helpers.js"

let t: TestEmulator
let admin: string
beforeAll(async () => {
  t = await start({ armTls: false })
  admin = await t.adminToken()
})
afterAll(() => t.close())

const segment = fc.oneof(
  fc.constantFrom(
    "metadata",
    "METADATA",
    "identity",
    "oauth2",
    "token",
    "instance",
    "compute",
    "versions",
    "subscriptions",
    DEFAULT_SUBSCRIPTION_ID,
    "resourcegroups",
    "resourceGroups",
    "DevTest",
    "providers",
    "Microsoft.Authorization",
    "roleAssignments",
    "roleDefinitions",
    "%",
    "%E0%A4%A",
    "..",
    "",
  ),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
)
const query = fc
  .array(
    fc.tuple(
      fc.constantFrom(
        "api-version",
        "resource",
        "client_id",
        "object_id",
        "msi_res_id",
        "$filter",
        "$top",
        "$skiptoken",
        "format",
        "x",
      ),
      fc.oneof(
        fc.constantFrom(
          "2018-02-01",
          "2025-04-01",
          "https://management.azure.com/",
          "atScope()",
          "text",
          "1",
        ),
        fc.string({ maxLength: 16 }),
      ),
    ),
    { maxLength: 4 },
  )
  .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&"))
const method = fc.constantFrom("GET", "HEAD", "PUT", "POST", "DELETE", "PATCH")
const body = fc.oneof(fc.constant(undefined), fc.string({ maxLength: 64 }), fc.json({ maxDepth: 2 }))

describe("robustness", () => {
  it("arbitrary requests never get a 5xx and never crash either server", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        method,
        fc.array(segment, { maxLength: 8 }),
        query,
        body,
        fc.boolean(),
        async (toArm, m, segments, q, b, withAuth) => {
          const base = toArm ? t.emu.armUrl : t.emu.imdsUrl
          if (!toArm && segments[0] === "_emulator") return
          const res = await fetch(`${base}/${segments.join("/")}${q === "" ? "" : `?${q}`}`, {
            method: m,
            headers: {
              ...(withAuth ? { authorization: `Bearer ${admin}` } : {}),
              ...(toArm ? {} : { metadata: "true" }),
              ...(b === undefined || m === "GET" || m === "HEAD"
                ? {}
                : { "content-type": "application/json" }),
            },
            ...(b === undefined || m === "GET" || m === "HEAD" ? {} : { body: b }),
          })
          await res.arrayBuffer()
          expect(res.status).toBeGreaterThanOrEqual(200)
          expect(res.status).toBeLessThan(500)
        },
      ),
      { numRuns: 300 },
    )
    // Both servers still answer normally afterwards.
    expect(
      (
        await t.arm(
          `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourcegroups/DevTest?api-version=2025-04-01`,
          admin,
        )
      ).status,
    ).toBe(200)
    expect((await t.imds("/metadata/versions")).status).toBe(200)
  })

  it("ARM error bodies never echo the bearer token", async () => {
    const token = await t.vmToken("https://vault.azure.net")
    for (const path of [
      `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourcegroups/DevTest?api-version=2025-04-01`,
      `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourcegroups/DevTest`,
      "/subscriptions/nope/resourcegroups/x?api-version=2025-04-01",
    ]) {
      const res = await t.arm(path, token)
      const text = await res.text()
      expect(res.status).toBeGreaterThanOrEqual(400)
      expect(text).not.toContain(token)
      expect(text).not.toContain(token.split(".")[2]!)
    }
    const tampered = `${token.slice(0, -4)}AAAA`
    const res = await t.arm(
      `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourcegroups/DevTest?api-version=2025-04-01`,
      tampered,
    )
    expect(res.status).toBe(401)
    expect(await res.text()).not.toContain(tampered)
  })

  it("an oversized ARM body gets 413, not a crash", async () => {
    const res = await t.arm(
      `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourcegroups/big?api-version=2025-04-01`,
      admin,
      {
        method: "PUT",
        body: JSON.stringify({ location: "westus", tags: { x: "y".repeat(2 * 1024 * 1024) } }),
      },
    )
    expect(res.status).toBe(413)
  })
})
