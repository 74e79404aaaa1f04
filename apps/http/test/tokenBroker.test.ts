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

describe("GET /msi/token (App Service 2019-08-01)", () => {
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

  it.each([
    ["client_id", "ClientId"],
    ["mi_res_id", "ResourceId"],
    ["object_id", "ObjectId"],
  ])("%s selects that identity", async (param, tag) => {
    const { app, tokenCalls } = setup()
    const res = await app.request(tokenUrl(`&${param}=abc`), { headers: { "X-IDENTITY-HEADER": header } })
    expect(res.status).toBe(200)
    expect(((await res.json()) as { client_id: string }).client_id).toBe(`client-of-${tag}`)
    expect(tokenCalls).toEqual([{ resource: "https://management.azure.com/", selector: tag }])
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

  it("400 for a request carrying X-Forwarded-For, even with the right header", async () => {
    const { app, tokenCalls } = setup()
    const res = await app.request(tokenUrl(), {
      headers: { "X-IDENTITY-HEADER": header, "X-Forwarded-For": "10.0.0.1" },
    })
    expect(res.status).toBe(400)
    expect(tokenCalls).toEqual([])
  })

  it.each([
    ["missing resource", "/msi/token?api-version=2019-08-01", "resource"],
    ["missing api-version", `/msi/token?resource=${arm}`, "api-version"],
    ["old api-version", `/msi/token?resource=${arm}&api-version=2017-09-01`, "api-version"],
    ["two selectors", tokenUrl("&client_id=a&object_id=b"), "client_id"],
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
    const a = setup({ token: () => Effect.fail(new IdentityNotFound({ selector: "client_id=abc" })) })
    expect(
      (await a.app.request(tokenUrl("&client_id=abc"), { headers: { "X-IDENTITY-HEADER": header } })).status,
    ).toBe(400)
    // …but the process's own identity missing is the server's problem.
    expect((await a.app.request(tokenUrl(), { headers: { "X-IDENTITY-HEADER": header } })).status).toBe(503)
    await a.dispose()
    const b = setup({ token: () => Effect.fail(new ImdsThrottled({ attempts: 4, retryAfterSeconds: 3 })) })
    const res = await b.app.request(tokenUrl(), { headers: { "X-IDENTITY-HEADER": header } })
    expect(res.status).toBe(429)
    expect(res.headers.get("retry-after")).toBe("3")
  })

  it("neither the broker secret nor the token appears in a log line", async () => {
    const { app, logs } = setup()
    await app.request(tokenUrl(), { headers: { "X-IDENTITY-HEADER": header } })
    await app.request(tokenUrl("&client_id=x"), {
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
