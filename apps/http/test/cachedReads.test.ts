// A fresh cached group read is answered before hono routes it (app.ts); these tests hold that path to
// exactly what the routed path answers, and to every rule of the edge (auth, limits, logs, metrics).
import { Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { renderPrometheus } from "../src/metrics.js"
import { sub, useTestApp } from "./fixtures.js"

const apiKey = "api-key-0123456789abcdef-XYZ"
const group = `/v1/subscriptions/${sub}/resourceGroups/DevTest`
const route = "/v1/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName"

const setup = useTestApp()

const headersOf = (res: Response) =>
  Object.fromEntries([...res.headers].filter(([k]) => k !== "x-request-id"))
const counter = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, "m").exec(renderPrometheus([]))?.[1])

describe("cached group reads", () => {
  it("a hit answers the same status, body and headers as the read that filled the cache, with its own id", async () => {
    const { app, calls, logs } = setup()
    const first = await app.request(group)
    const second = await app.request(group)
    const third = await app.request(group)
    expect(calls).toHaveLength(1)
    for (const res of [second, third]) {
      expect(res.status).toBe(200)
      expect(headersOf(res)).toEqual(headersOf(first))
    }
    const bodies = await Promise.all([first, second, third].map((r) => r.text()))
    expect(new Set(bodies).size).toBe(1)
    const ids = [first, second, third].map((r) => r.headers.get("x-request-id"))
    expect(new Set(ids).size).toBe(3)
    for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/)
    // One access-log line per request, the same shape on both paths.
    expect(logs).toHaveLength(3)
    for (const [i, line] of logs.entries()) {
      expect(JSON.parse(line)).toMatchObject({
        msg: "request",
        level: "info",
        method: "GET",
        path: group,
        route,
        status: 200,
        requestId: ids[i],
      })
    }
  })

  it("counts hits and the request in the metrics", async () => {
    const { app } = setup()
    const routeCount = () =>
      Number(
        /azmi_http_requests_total\{route="\/v1\/subscriptions\/:subscriptionId\/resourceGroups\/:resourceGroupName",method="GET",status="200"\} (\d+)/.exec(
          renderPrometheus([]),
        )?.[1] ?? 0,
      )
    const [hits, misses, requests] = [
      counter("azmi_http_group_cache_hits_total"),
      counter("azmi_http_group_cache_misses_total"),
      routeCount(),
    ]
    await app.request(`/v1/subscriptions/${sub}/resourceGroups/CountedGroup`)
    await app.request(`/v1/subscriptions/${sub}/resourceGroups/CountedGroup`)
    await app.request(`/v1/subscriptions/${sub}/resourceGroups/CountedGroup`)
    expect(counter("azmi_http_group_cache_misses_total") - misses).toBe(1)
    expect(counter("azmi_http_group_cache_hits_total") - hits).toBe(2)
    expect(routeCount() - requests).toBe(3)
  })

  it("echoes and logs the caller's x-ms-client-request-id on a hit, and ignores one that is not plain", async () => {
    const { app, logs } = setup()
    await app.request(group)
    const res = await app.request(group, { headers: { "x-ms-client-request-id": "client-req-7" } })
    expect(res.headers.get("x-ms-client-request-id")).toBe("client-req-7")
    expect(JSON.parse(logs[1] ?? "{}").clientRequestId).toBe("client-req-7")
    const odd = await app.request(group, { headers: { "x-ms-client-request-id": 'a b"c' } })
    expect(odd.status).toBe(200)
    expect(odd.headers.get("x-ms-client-request-id")).toBeNull()
    expect(logs[2]).not.toContain('a b\\"c')
    expect(JSON.parse(logs[2] ?? "{}").clientRequestId).toBeUndefined()
  })

  it("the query is neither a different entry nor logged", async () => {
    const { app, calls, logs } = setup()
    await app.request(group)
    const res = await app.request(`${group}?x=secretish`)
    expect(res.status).toBe(200)
    expect(calls).toHaveLength(1)
    expect(JSON.parse(logs[1] ?? "{}").path).toBe(group)
    expect(logs[1]).not.toContain("secretish")
  })

  it("still needs the API key once the read is cached, and never logs it", async () => {
    const { app, calls, logs } = setup({ config: { apiKey: Redacted.make(apiKey) } })
    const good = { Authorization: `Bearer ${apiKey}` }
    expect((await app.request(group, { headers: good })).status).toBe(200)
    expect((await app.request(group, { headers: good })).status).toBe(200)
    expect((await app.request(group, { headers: { Authorization: `bearer ${apiKey}` } })).status).toBe(200)
    for (const headers of [
      {},
      { Authorization: `Bearer ${apiKey}x` },
      { Authorization: `Basic ${apiKey}` },
    ]) {
      const res = await app.request(group, { headers })
      expect(res.status).toBe(401)
      expect(res.headers.get("www-authenticate")).toContain("Bearer")
    }
    expect(calls).toHaveLength(1)
    expect(logs).toHaveLength(6)
    for (const line of logs) expect(line).not.toContain("0123456789abcdef")
  })

  it("still refuses a body over the limit once the read is cached", async () => {
    const { app, config } = setup()
    await app.request(group)
    const res = await app.request(group, { headers: { "content-length": String(config.maxBodyBytes + 1) } })
    expect(res.status).toBe(413)
  })

  it("while draining, a cached read still says Connection: close", async () => {
    let draining = false
    const { app } = setup({ draining: () => draining })
    await app.request(group)
    draining = true
    const res = await app.request(group)
    expect(res.status).toBe(200)
    expect(res.headers.get("connection")).toBe("close")
  })

  it("a percent-encoded name reads the same entry; HEAD still asks ARM", async () => {
    const { app, calls } = setup()
    await app.request(group)
    const encoded = await app.request(`/v1/subscriptions/${sub}/resourceGroups/%44evTest`)
    expect(encoded.status).toBe(200)
    expect(calls).toHaveLength(1)
    expect((await app.request(group, { method: "HEAD" })).status).toBe(204)
    expect(calls.map((c) => c.op)).toEqual(["get", "exists"])
  })

  it("another name, case or shape of path is not the cached entry", async () => {
    const { app, calls } = setup()
    await app.request(group)
    expect((await app.request(`/v1/subscriptions/${sub}/resourceGroups/devtest`)).status).toBe(200)
    expect(calls).toHaveLength(2)
    expect((await app.request(`${group}/`)).status).toBe(404)
    expect((await app.request(`/v1/Subscriptions/${sub}/resourceGroups/DevTest`)).status).toBe(404)
    expect((await app.request(`/v1/subscriptions/${sub}/resourcegroups/DevTest`)).status).toBe(404)
    expect(calls).toHaveLength(2)
  })

  it("with TTL 0 nothing is cached: every read goes to ARM", async () => {
    const { app, calls } = setup({ config: { cacheTtlMs: 0 } })
    for (let i = 0; i < 3; i++)
      expect((await app.request(group)).headers.get("cache-control")).toBe("no-store")
    expect(calls).toHaveLength(3)
  })
})

describe("with the access log off (AZMI_HTTP_ACCESS_LOG=off)", () => {
  it("no request is logged, on the hot path or routed, and the metrics still count every one", async () => {
    const { app, logs } = setup({ config: { accessLog: false } })
    const requests = () =>
      Number(
        /azmi_http_requests_total\{route="\/v1\/subscriptions\/:subscriptionId\/resourceGroups\/:resourceGroupName",method="GET",status="200"\} (\d+)/.exec(
          renderPrometheus([]),
        )?.[1] ?? 0,
      )
    const before = requests()
    // A miss (routed), two hits (hot path), a 404 (routed).
    for (const path of [group, group, group]) expect((await app.request(path)).status).toBe(200)
    expect((await app.request("/v1/nothing")).status).toBe(404)
    expect(requests() - before).toBe(3)
    expect(logs).toEqual([])
  })
})
