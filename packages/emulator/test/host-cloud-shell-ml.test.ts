import { fetch } from "undici"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ARM_RESOURCE, json, jwtPayload, start, type TestEmulator } from "./helpers.js"

describe("Cloud Shell host (--source cloud-shell)", () => {
  let t: TestEmulator
  let endpoint: string
  beforeAll(async () => {
    t = await start({ source: "cloud-shell" })
    endpoint = t.emu.env.MSI_ENDPOINT ?? ""
  })
  afterAll(() => t.close())

  const post = (form: Record<string, string>, headers: Record<string, string> = { Metadata: "true" }) =>
    fetch(endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded;charset=utf-8", ...headers },
      body: new URLSearchParams(form).toString(),
    })

  it("env holds MSI_ENDPOINT only (no MSI_SECRET: that would be Azure ML)", () => {
    expect(t.emu.env.MSI_ENDPOINT).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/oauth2\/token$/)
    expect(t.emu.env.MSI_SECRET).toBeUndefined()
    expect(t.emu.host.source).toBe("cloud-shell")
  })

  it("POST resource=… with Metadata: true gets expires_in, expires_on and resource", async () => {
    const res = await post({ resource: ARM_RESOURCE })
    expect(res.status).toBe(200)
    const body = await json(res)
    expect(body).toMatchObject({ resource: ARM_RESOURCE, token_type: "Bearer" })
    expect(body.expires_in).toMatch(/^\d+$/)
    expect(body.expires_on).toMatch(/^\d+$/)
    expect(jwtPayload(body.access_token).oid).toBe(t.emu.host.principalId)
  })

  it("refuses GET, a missing Metadata header, a missing resource and any user-assigned selector", async () => {
    expect(
      (await fetch(`${endpoint}?resource=${ARM_RESOURCE}`, { headers: { Metadata: "true" } })).status,
    ).toBe(405)
    expect((await post({ resource: ARM_RESOURCE }, {})).status).toBe(400)
    expect((await post({})).status).toBe(400)
    const ua = await post({ resource: ARM_RESOURCE, client_id: t.emu.host.clientId })
    expect(ua.status).toBe(400)
    expect((await json(ua)).error_description).toContain("system-assigned")
  })

  it("faults and the request log cover it (target cloud-shell-token)", async () => {
    t.emu.requests.reset()
    t.emu.faults.inject({ target: "cloud-shell-token", status: 429, retryAfter: 2 })
    const res = await post({ resource: ARM_RESOURCE })
    expect(res.status).toBe(429)
    expect(res.headers.get("retry-after")).toBe("2")
    expect(t.emu.requests.count({ target: "cloud-shell-token", method: "POST" })).toBe(1)
  })
})

describe("Azure ML host (--source azure-ml)", () => {
  let t: TestEmulator
  let endpoint: string
  let secret: string
  beforeAll(async () => {
    t = await start({ source: "azure-ml" })
    endpoint = t.emu.env.MSI_ENDPOINT ?? ""
    secret = t.emu.env.MSI_SECRET ?? ""
  })
  afterAll(() => t.close())

  const q = (extra = "") =>
    `${endpoint}?api-version=2017-09-01&resource=${encodeURIComponent(ARM_RESOURCE)}${extra}`
  const get = (url: string, headers: Record<string, string> = { secret }) => fetch(url, { headers })

  it("env holds MSI_ENDPOINT, MSI_SECRET and DEFAULT_IDENTITY_CLIENT_ID (the compute's identity)", () => {
    expect(t.emu.env.MSI_ENDPOINT).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/msi\/token$/)
    expect(secret).toMatch(/^[0-9a-f-]{36}$/)
    expect(t.emu.env.DEFAULT_IDENTITY_CLIENT_ID).toBe(t.emu.host.clientId)
  })

  it("answers the secret header (no Metadata needed) with integer expires_on and expires_in", async () => {
    const res = await get(q())
    expect(res.status).toBe(200)
    const body = await json(res)
    expect(Number.isInteger(body.expires_on)).toBe(true)
    expect(Number.isInteger(body.expires_in)).toBe(true)
    expect(body.resource).toBe(ARM_RESOURCE)
    expect(jwtPayload(body.access_token).oid).toBe(t.emu.host.principalId)
  })

  it("clientid = DEFAULT_IDENTITY_CLIENT_ID (what MSAL Node sends) selects the default identity; an unknown one is refused", async () => {
    expect((await get(q(`&clientid=${t.emu.env.DEFAULT_IDENTITY_CLIENT_ID}`))).status).toBe(200)
    expect((await get(q("&clientid=00000000-0000-4000-8000-000000000000"))).status).toBe(400)
  })

  it("refuses a missing or wrong secret and another api-version", async () => {
    expect((await get(q(), {})).status).toBe(401)
    expect((await get(q(), { secret: "x" })).status).toBe(401)
    expect((await get(`${endpoint}?api-version=2019-08-01&resource=${ARM_RESOURCE}`)).status).toBe(400)
  })

  it("faults and the request log cover it (target azure-ml-token)", async () => {
    t.emu.requests.reset()
    t.emu.faults.inject({ target: "azure-ml-token", malformed: "missing-expires-on" })
    const body = await json(await get(q()))
    expect(body.expires_on).toBeUndefined()
    expect(t.emu.requests.count({ target: "azure-ml-token" })).toBe(1)
  })
})
