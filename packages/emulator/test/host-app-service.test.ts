import { fetch } from "undici"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ARM_RESOURCE, json, jwtPayload, READER_ID, start, type TestEmulator } from "./helpers.js"

let t: TestEmulator
let endpoint: string
let secret: string

beforeAll(async () => {
  t = await start({ source: "app-service" })
  endpoint = t.emu.env.IDENTITY_ENDPOINT ?? ""
  secret = t.emu.env.IDENTITY_HEADER ?? ""
})
afterAll(() => t.close())

const token = (query: string, headers: Record<string, string> = { "X-IDENTITY-HEADER": secret }) =>
  fetch(`${endpoint}?${query}`, { headers })

const q = (extra = "") => `api-version=2019-08-01&resource=${encodeURIComponent(ARM_RESOURCE)}${extra}`

describe("App Service host (--source app-service)", () => {
  it("env holds exactly App Service's identity variables plus the emulator's CA and ARM endpoint, no IMDS", () => {
    expect(Object.keys(t.emu.env).sort()).toEqual(
      [
        "AZMI_ARM_ENDPOINT",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "NODE_EXTRA_CA_CERTS",
        "REQUESTS_CA_BUNDLE",
        "SSL_CERT_FILE",
      ].sort(),
    )
    expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/msi\/token$/)
    expect(t.emu.env.NODE_EXTRA_CA_CERTS).toBe(t.emu.caCertPath)
    expect(t.emu.host).toMatchObject({ source: "app-service", name: "myApp" })
    expect(t.emu.host.resourceId).toMatch(/\/providers\/Microsoft\.Web\/sites\/myApp$/)
  })

  it("answers 2019-08-01 with expires_on as epoch seconds, the resource and client_id; the token is the host's", async () => {
    const res = await token(q())
    expect(res.status).toBe(200)
    const body = await json(res)
    expect(Object.keys(body).sort()).toEqual(
      ["access_token", "client_id", "expires_on", "resource", "token_type"].sort(),
    )
    expect(body.expires_on).toMatch(/^\d+$/)
    expect(body.resource).toBe(ARM_RESOURCE)
    expect(body.client_id).toBe(t.emu.host.clientId)
    const claims = jwtPayload(body.access_token)
    expect(claims.oid).toBe(t.emu.host.principalId)
    expect(claims.aud).toBe(ARM_RESOURCE)
    expect(claims.xms_mirid).toBe(t.emu.host.resourceId.replace("/resourceGroups/", "/resourcegroups/"))
  })

  it("the host's identity is a principal: ARM refuses it without a role and accepts it after a Reader grant", async () => {
    const access = (await json(await token(q()))).access_token as string
    const rgPath = `/subscriptions/${t.emu.subscriptionId}/resourcegroups/DevTest?api-version=2021-04-01`
    expect((await t.arm(rgPath, access)).status).toBe(403)
    const admin = await t.adminToken()
    const put = await t.arm(
      `/subscriptions/${t.emu.subscriptionId}/providers/Microsoft.Authorization/roleAssignments/6a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d?api-version=2022-04-01`,
      admin,
      {
        method: "PUT",
        body: {
          properties: {
            roleDefinitionId: READER_ID(t.emu.subscriptionId),
            principalId: t.emu.host.principalId,
          },
        },
      },
    )
    expect(put.status).toBe(201)
    expect((await t.arm(rgPath, access)).status).toBe(200)
    // A token of the same identity for another audience is still refused, as for a VM's.
    const vault = await token(
      `api-version=2019-08-01&resource=${encodeURIComponent("https://vault.azure.net")}`,
    )
    const wrongAudience = await t.arm(rgPath, (await json(vault)).access_token)
    expect(wrongAudience.status).toBe(401)
    expect((await json(wrongAudience)).error.code).toBe("InvalidAuthenticationTokenAudience")
  })

  it("refuses a missing or wrong X-IDENTITY-HEADER with App Service's error body", async () => {
    for (const headers of [{}, { "X-IDENTITY-HEADER": "wrong" }]) {
      const res = await token(q(), headers)
      expect(res.status).toBe(401)
      const body = await json(res)
      expect(body).toMatchObject({ statusCode: 401 })
      expect(body.message).toContain("X-IDENTITY-HEADER")
      expect(typeof body.correlationId).toBe("string")
    }
  })

  it("refuses another api-version, a missing resource, an unknown identity and two selectors", async () => {
    expect((await token(`api-version=2017-09-01&resource=${ARM_RESOURCE}`)).status).toBe(400)
    expect((await token("api-version=2019-08-01")).status).toBe(400)
    const unknown = await token(q("&client_id=00000000-0000-4000-8000-000000000000"))
    expect(unknown.status).toBe(400)
    expect((await json(unknown)).message).toBe("Unable to load the proper Managed Identity.")
    const byClient = await token(q(`&client_id=${t.emu.host.clientId}`))
    expect(byClient.status).toBe(200)
    const byPrincipal = await token(q(`&principal_id=${t.emu.host.principalId}`))
    expect(byPrincipal.status).toBe(200)
    const both = await token(q(`&client_id=${t.emu.host.clientId}&principal_id=${t.emu.host.principalId}`))
    expect(both.status).toBe(400)
  })

  it("the fault API and the request log cover the endpoint (target app-service-token)", async () => {
    t.emu.requests.reset()
    t.emu.faults.inject({ target: "app-service-token", status: 503 })
    const faulted = await token(q())
    expect(faulted.status).toBe(503)
    expect(await json(faulted)).toMatchObject({ statusCode: 503 })
    expect((await token(q())).status).toBe(200)
    expect(t.emu.requests.count({ target: "app-service-token" })).toBe(2)
    expect(t.emu.requests.count({ target: "app-service-token", status: 503 })).toBe(1)
  })

  it("the host is in the world (so it persists with --state)", () => {
    const hosts = t.emu.world.toJSON().hosts ?? []
    expect(hosts.map((h) => `${h.kind}/${h.name}`)).toEqual(["app-service/myApp"])
  })
})
