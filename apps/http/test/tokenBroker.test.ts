import { IdentityNotFound, ImdsThrottled } from "@azmi/core"
import { Effect, Redacted } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { makeTestApp, tokenSecret } from "./fixtures.js"

const header = "broker-secret-0123456789abcdef"
let current: ReturnType<typeof makeTestApp> | undefined
const setup = (options: Parameters<typeof makeTestApp>[0] = {}) => {
  current = makeTestApp({ ...options, config: { identityHeader: Redacted.make(header), ...options.config } })
  return current
}
afterEach(async () => {
  await current?.dispose()
  current = undefined
})

const arm = encodeURIComponent("https://management.azure.com/")
const tokenUrl = (extra = "") => `/msi/token?resource=${arm}&api-version=2019-08-01${extra}`
const guid = "0b8f3d7c-5c1e-4a0e-9c51-6b1f1c2f4a11"
const uamiId = `/subscriptions/${guid}/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app`
const ok = { "X-IDENTITY-HEADER": header }

describe("GET /msi/token (App Service 2019-08-01)", () => {
  it("the default identity missing: the hint says which query parameters name another", async () => {
    const { app } = setup({ token: () => Effect.fail(new IdentityNotFound({ selector: "system-assigned" })) })
    const res = await app.request(tokenUrl(), { headers: ok })
    expect(res.status).toBe(503)
    const { error } = (await res.json()) as { error: { hint: string } }
    expect(error.hint).toContain("client_id, object_id (or principal_id) or mi_res_id query parameter")
    expect(error.hint).not.toContain("--")
  })

  it("is absent unless AZMI_IDENTITY_HEADER is set", async () => {
    current = makeTestApp()
    const res = await current.app.request(tokenUrl(), { headers: { "X-IDENTITY-HEADER": header } })
    expect(res.status).toBe(404)
  })

  it("answers in App Service's format, from the process's own identity", async () => {
    const { app, tokenCalls } = setup()
    const res = await app.request(tokenUrl(), { headers: { "X-IDENTITY-HEADER": header } })
    expect(res.status).toBe(200)
    expect(res.headers.get("cache-control")).toBe("no-store")
    expect(await res.json()).toEqual({
      access_token: tokenSecret,
      expires_on: "1900000000",
      resource: "https://management.azure.com/",
      token_type: "Bearer",
      client_id: "client-of-system",
    })
    expect(tokenCalls).toEqual([{ resource: "https://management.azure.com/", selector: "system" }])
  })

  // App Service's documented names; principal_id is its (older) name for the object id.
  it.each([
    ["client_id", guid, "ClientId"],
    ["principal_id", guid, "ObjectId"],
    ["object_id", guid, "ObjectId"],
    ["mi_res_id", uamiId, "ResourceId"],
  ])("%s selects that identity", async (param, id, tag) => {
    const { app, tokenCalls } = setup()
    const res = await app.request(tokenUrl(`&${param}=${encodeURIComponent(id)}`), { headers: ok })
    expect(res.status).toBe(200)
    expect(((await res.json()) as { client_id: string }).client_id).toBe(`client-of-${tag}`)
    expect(tokenCalls).toEqual([{ resource: "https://management.azure.com/", selector: tag }])
  })

  // Each of these named an identity the broker did not know, and got the default identity's token.
  it.each([
    "msi_res_id",
    "clientid",
    "msi_client_id",
    "Client_ID",
    "identity",
    "user_assigned_identity",
    "principalId",
  ])(
    "an identity parameter App Service does not define (%s) is a 400 naming it, and no token",
    async (param) => {
      const { app, tokenCalls } = setup()
      const res = await app.request(tokenUrl(`&${param}=${guid}`), { headers: ok })
      expect(res.status).toBe(400)
      const body = (await res.json()) as { error: { code: string; message: string } }
      expect(body.error.code).toBe("InvalidInput")
      expect(body.error.message).toContain(`Invalid ${param}: is not a parameter of this route`)
      expect(body.error.message).toContain("client_id, principal_id, object_id, mi_res_id")
      expect(tokenCalls).toEqual([])
    },
  )

  it("MSAL's client capabilities (xms_cc) are accepted and change nothing", async () => {
    const { app, tokenCalls } = setup()
    const res = await app.request(tokenUrl("&xms_cc=cp1"), { headers: ok })
    expect(res.status).toBe(200)
    expect(tokenCalls).toEqual([{ resource: "https://management.azure.com/", selector: "system" }])
  })

  it.each([
    ["client_id", "not-a-guid"],
    ["principal_id", "not-a-guid"],
    ["object_id", "not-a-guid"],
    ["mi_res_id", "/subscriptions/x"],
  ])("a malformed %s is a 400 naming that query parameter, and no token", async (param, id) => {
    const { app, tokenCalls } = setup()
    const res = await app.request(tokenUrl(`&${param}=${encodeURIComponent(id)}`), { headers: ok })
    expect(res.status).toBe(400)
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      new RegExp(`^Invalid ${param}: `),
    )
    expect(tokenCalls).toEqual([])
  })

  it.each([
    ["no header", {}],
    ["a wrong header", { "X-IDENTITY-HEADER": "broker-secret-0123456789abcdeX" }],
    ["a prefix of the header", { "X-IDENTITY-HEADER": header.slice(0, 10) }],
    ["the API-key style instead", { Authorization: `Bearer ${header}` }],
  ])("401 with %s, and no token request", async (_name, headers) => {
    const { app, tokenCalls } = setup()
    const res = await app.request(tokenUrl(), { headers })
    expect(res.status).toBe(401)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("Unauthorized")
    expect(tokenCalls).toEqual([])
  })

  // Whatever relayed the request here, the broker is not a hop for a token (IMDS refuses X-Forwarded-For).
  it.each([
    ["X-Forwarded-For", "10.0.0.1"],
    ["Forwarded", "for=10.0.0.1;proto=http"],
    ["X-Real-IP", "10.0.0.1"],
    ["Via", "1.1 proxy"],
    ["X-Forwarded-Host", "app.example"],
    ["True-Client-IP", "10.0.0.1"],
  ])(
    "400 for a request carrying %s, even with the right header (and before it is checked)",
    async (name, value) => {
      const { app, tokenCalls } = setup()
      for (const headers of [{ ...ok, [name]: value }, { [name]: value }]) {
        const res = await app.request(tokenUrl(), { headers })
        expect(res.status).toBe(400)
        const body = (await res.json()) as { error: { code: string; message: string } }
        expect(body.error.code).toBe("ForwardedRequestRejected")
        expect(body.error.message).toContain(name.toLowerCase())
      }
      expect(tokenCalls).toEqual([])
    },
  )

  it.each([
    ["missing resource", "/msi/token?api-version=2019-08-01", "resource"],
    ["missing api-version", `/msi/token?resource=${arm}`, "api-version"],
    ["old api-version", `/msi/token?resource=${arm}&api-version=2017-09-01`, "api-version"],
    ["two selectors", tokenUrl(`&client_id=${guid}&object_id=${guid}`), "client_id"],
    ["principal_id and object_id", tokenUrl(`&principal_id=${guid}&object_id=${guid}`), "principal_id"],
    [
      "client_id and mi_res_id",
      tokenUrl(`&mi_res_id=${encodeURIComponent(uamiId)}&client_id=${guid}`),
      "client_id",
    ],
    ["repeated resource", `${tokenUrl()}&resource=x`, "resource"],
    ["empty client_id", tokenUrl("&client_id="), "client_id"],
  ])("400 for %s", async (_name, url, field) => {
    const { app, tokenCalls } = setup()
    const res = await app.request(url, { headers: { "X-IDENTITY-HEADER": header } })
    expect(res.status).toBe(400)
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain(`Invalid ${field}`)
    expect(tokenCalls).toEqual([])
  })

  it("an unknown selected identity is the caller's 400; 429 from IMDS carries Retry-After", async () => {
    const a = setup({ token: () => Effect.fail(new IdentityNotFound({ selector: `client_id=${guid}` })) })
    expect((await a.app.request(tokenUrl(`&client_id=${guid}`), { headers: ok })).status).toBe(400)
    // …but the process's own identity missing is the server's problem.
    expect((await a.app.request(tokenUrl(), { headers: ok })).status).toBe(503)
    await a.dispose()
    const b = setup({ token: () => Effect.fail(new ImdsThrottled({ attempts: 4, retryAfterSeconds: 3 })) })
    const res = await b.app.request(tokenUrl(), { headers: { "X-IDENTITY-HEADER": header } })
    expect(res.status).toBe(429)
    expect(res.headers.get("retry-after")).toBe("3")
  })

  it("neither the broker secret nor the token appears in a log line", async () => {
    const { app, logs } = setup()
    await app.request(tokenUrl(), { headers: { "X-IDENTITY-HEADER": header } })
    await app.request(tokenUrl(`&client_id=${guid}`), {
      headers: { "X-IDENTITY-HEADER": "wrong-wrong-wrong-wrong" },
    })
    expect(logs).toHaveLength(2)
    for (const line of logs) {
      expect(line).not.toContain(header)
      expect(line).not.toContain(tokenSecret)
      expect(line).not.toContain("wrong-wrong")
      expect(JSON.parse(line)).toMatchObject({ msg: "request", route: "/msi/token" })
    }
  })
})
