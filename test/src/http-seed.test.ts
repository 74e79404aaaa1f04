/**
 * End to end: the built azmi-http against the emulator — the seed quickstart over HTTP, caching,
 * validation by the core, metrics, and no secret in any line the server prints.
 */
import { type Emulator, startEmulator } from "@azmi/emulator"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { grantReader, type HttpChild, startHttp, waitForLine } from "./http-support.js"

const apiKey = "e2e-api-key-0123456789abcdef"
const brokerSecret = "e2e-broker-secret-0123456789"
let emu: Emulator
let http: HttpChild
const auth = { Authorization: `Bearer ${apiKey}` }

beforeAll(async () => {
  emu = await startEmulator({
    limits: { imdsRequestsPerSecond: Infinity, imdsConcurrency: Infinity, armReadBucket: Infinity },
  })
  http = await startHttp(emu, {
    AZMI_HTTP_API_KEY: apiKey,
    AZMI_IDENTITY_HEADER: brokerSecret,
    AZMI_HTTP_CACHE_TTL_MS: "60000",
  })
})

afterAll(async () => {
  await http?.stop()
  await emu?.close()
})

describe("the seed flow over azmi-http", () => {
  it("instance metadata names the VM's subscription and group", async () => {
    const res = await fetch(`${http.url}/v1/instance`, { headers: auth })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({
      subscriptionId: emu.subscriptionId,
      resourceGroupName: "DevTest",
      name: "myVM",
    })
  })

  it("403 with the exact grant command until Reader is assigned, then 200", async () => {
    const denied = await fetch(`${http.url}/v1/resourceGroup`, { headers: auth })
    expect(denied.status).toBe(403)
    const body = (await denied.json()) as { error: { code: string; hint: string } }
    expect(body.error.code).toBe("AuthorizationFailed")
    const principalId = emu.vm.systemAssigned?.principalId ?? ""
    expect(body.error.hint).toContain(`--assignee-object-id ${principalId} --role Reader`)

    await grantReader(emu, principalId, `/subscriptions/${emu.subscriptionId}/resourceGroups/DevTest`)

    const ok = await fetch(`${http.url}/v1/resourceGroup`, { headers: auth })
    expect(ok.status).toBe(200)
    expect(ok.headers.get("cache-control")).toBe("private, max-age=60")
    expect(ok.headers.get("x-ms-request-id")).toMatch(/.+/)
    expect(await ok.json()).toMatchObject({
      id: `/subscriptions/${emu.subscriptionId}/resourceGroups/DevTest`,
      name: "DevTest",
      location: "westus",
      tags: { env: "dev" },
    })
  })

  it("a burst of 100 identical reads costs at most one ARM request", async () => {
    const path = `/v1/subscriptions/${emu.subscriptionId}/resourceGroups/DevTest`
    emu.requests.reset()
    const responses = await Promise.all(
      Array.from({ length: 100 }, () => fetch(`${http.url}${path}`, { headers: auth })),
    )
    expect(responses.map((r) => r.status)).toEqual(Array(100).fill(200))
    expect(emu.requests.count({ target: "arm", method: "GET" })).toBeLessThanOrEqual(1)
    expect(emu.requests.count({ target: "imds-token" })).toBe(0)
  })

  it("HEAD tells existence; the list follows every page", async () => {
    const sub = `/v1/subscriptions/${emu.subscriptionId}/resourceGroups`
    expect((await fetch(`${http.url}${sub}/DevTest`, { method: "HEAD", headers: auth })).status).toBe(204)
    // Reader on DevTest only: other groups are invisible, a missing one is 404 or 403 as ARM decides.
    expect([403, 404]).toContain(
      (await fetch(`${http.url}${sub}/Nope`, { method: "HEAD", headers: auth })).status,
    )
    const list = await fetch(`${http.url}${sub}?tag=env%3Ddev`, { headers: auth })
    expect(list.status).toBe(200)
    expect(((await list.json()) as { value: Array<{ name: string }> }).value.map((g) => g.name)).toContain(
      "DevTest",
    )
  })

  it("the core's validation answers 400 before any ARM request", async () => {
    emu.requests.reset()
    for (const path of [
      "/v1/subscriptions/not-a-guid/resourceGroups/DevTest",
      `/v1/subscriptions/${emu.subscriptionId}/resourceGroups/${encodeURIComponent("bad/name")}`,
      `/v1/subscriptions/${emu.subscriptionId}/resourceGroups/ends-with-period.`,
      `/v1/subscriptions/${emu.subscriptionId}/resourceGroups/${"a".repeat(91)}`,
    ]) {
      const res = await fetch(`${http.url}${path}`, { headers: auth })
      expect(res.status, path).toBe(400)
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("InvalidInput")
    }
    expect(emu.requests.count({ target: "arm" })).toBe(0)
  })

  it("API key required on /v1; readyz, metrics and openapi work", async () => {
    expect((await fetch(`${http.url}/v1/resourceGroup`)).status).toBe(401)
    expect((await fetch(`${http.url}/readyz`)).status).toBe(200)
    const metrics = await (await fetch(`${http.url}/metrics`)).text()
    expect(metrics).toMatch(/azmi_http_requests_total\{[^}]*status="200"[^}]*\} [1-9]/)
    expect(metrics).toMatch(/azmi_imds_requests_total(\{[^}]*\})? [1-9]/)
    expect(metrics).toMatch(/^azmi_arm_requests_total [1-9]/m)
    expect(metrics).toMatch(/^azmi_retries_total \d+$/m)
    expect(metrics).toMatch(/azmi_http_group_cache_hits_total [1-9]/)
    const doc = (await (await fetch(`${http.url}/openapi.json`)).json()) as { paths: Record<string, unknown> }
    expect(Object.keys(doc.paths)).toContain("/msi/token")
  })

  it("no line the server printed contains the API key, the broker secret or a token", async () => {
    const token = await fetch(
      `${http.url}/msi/token?resource=${encodeURIComponent("https://management.azure.com/")}&api-version=2019-08-01`,
      { headers: { "X-IDENTITY-HEADER": brokerSecret } },
    )
    expect(token.status).toBe(200)
    const accessToken = ((await token.json()) as { access_token: string }).access_token
    expect(accessToken.split(".")).toHaveLength(3)
    await fetch(`${http.url}/v1/instance`, { headers: { Authorization: `Bearer ${brokerSecret}` } })
    await fetch(`${http.url}/msi/token?resource=x&api-version=2019-08-01`, {
      headers: { "X-IDENTITY-HEADER": apiKey },
    })
    // Access-log lines are batched: wait for the last request's line before reading them all.
    await waitForLine(http, (l) => l.includes('"status":401') && l.includes('"route":"/msi/token"'))
    const output = http.lines.join("\n")
    expect(http.lines.length).toBeGreaterThan(10)
    expect(output).not.toContain(apiKey)
    expect(output).not.toContain(brokerSecret)
    expect(output).not.toContain(accessToken)
    expect(output).not.toContain(accessToken.split(".")[1])
    for (const line of http.lines.slice(1)) expect(() => JSON.parse(line)).not.toThrow()
  })
})
