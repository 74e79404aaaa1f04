import { IdentityNotFound, InvalidResource, ResourceGroup } from "@azmi/core"
import { Effect, JSONSchema, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { sub, useTestApp } from "./fixtures.js"

const apiKey = "api-key-0123456789abcdef-XYZ"
const setup = useTestApp()

describe("API key", () => {
  const group = `/v1/subscriptions/${sub}/resourceGroups/DevTest`

  it.each([
    ["no Authorization", {}],
    ["a wrong key", { Authorization: "Bearer api-key-0123456789abcdef-XYz" }],
    ["a key prefix", { Authorization: `Bearer ${apiKey.slice(0, -1)}` }],
    ["another scheme", { Authorization: `Basic ${apiKey}` }],
    ["no space after the scheme", { Authorization: `Bearer${apiKey}` }],
    ["the scheme alone", { Authorization: "Bearer" }],
    ["the key alone", { Authorization: apiKey }],
  ])("401 on /v1 with %s, before any call", async (_name, headers) => {
    const { app, calls } = setup({ config: { apiKey: Redacted.make(apiKey) } })
    const res = await app.request(group, { headers })
    expect(res.status).toBe(401)
    expect(res.headers.get("www-authenticate")).toContain("Bearer")
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("Unauthorized")
    expect(calls).toEqual([])
  })

  it("the right key passes; health routes need none; the key is never logged", async () => {
    const { app, logs } = setup({ config: { apiKey: Redacted.make(apiKey) } })
    expect((await app.request(group, { headers: { Authorization: `Bearer ${apiKey}` } })).status).toBe(200)
    expect(
      (await app.request("/v1/instance", { headers: { Authorization: `Bearer ${apiKey}` } })).status,
    ).toBe(200)
    expect((await app.request("/healthz")).status).toBe(200)
    await app.request(group, { headers: { Authorization: "Bearer api-key-0123456789abcdef-XYz" } })
    expect(logs).toHaveLength(4)
    for (const line of logs) {
      expect(line).not.toContain(apiKey)
      expect(line).not.toContain("0123456789abcdef")
    }
  })

  // RFC 7235 §2.1: the auth scheme is case-insensitive, and one or more spaces separate it.
  it.each(["bearer", "BEARER", "bEaReR", "Bearer "])("the scheme may be written %j", async (scheme) => {
    const { app, calls } = setup({ config: { apiKey: Redacted.make(apiKey) } })
    const res = await app.request(group, { headers: { Authorization: `${scheme} ${apiKey}` } })
    expect(res.status).toBe(200)
    expect(calls).toHaveLength(1)
  })

  it("every method of a /v1 route needs the key: without it a wrong method is 401, not 405", async () => {
    const { app } = setup({ config: { apiKey: Redacted.make(apiKey) } })
    expect((await app.request(group, { method: "DELETE" })).status).toBe(401)
    const res = await app.request(group, { method: "DELETE", headers: { Authorization: `Bearer ${apiKey}` } })
    expect(res.status).toBe(405)
  })

  it("without a configured key /v1 is open", async () => {
    const { app } = setup()
    expect((await app.request(group)).status).toBe(200)
  })
})

describe("access log", () => {
  it("one JSON line per request with request id, route, status and the client's request id", async () => {
    const { app, logs } = setup()
    const res = await app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest?x=secretish`, {
      headers: { "x-ms-client-request-id": "client-req-42" },
    })
    expect(res.headers.get("x-ms-client-request-id")).toBe("client-req-42")
    expect(logs).toHaveLength(1)
    const record = JSON.parse(logs[0] ?? "{}")
    expect(record).toMatchObject({
      msg: "request",
      level: "info",
      method: "GET",
      path: `/v1/subscriptions/${sub}/resourceGroups/DevTest`,
      route: "/v1/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName",
      status: 200,
      clientRequestId: "client-req-42",
      requestId: res.headers.get("x-request-id"),
    })
    expect(logs[0]).not.toContain("secretish")
  })

  it("a client request id that is not a plain token is neither echoed nor logged", async () => {
    const { app, logs } = setup()
    const res = await app.request("/healthz", { headers: { "x-ms-client-request-id": 'a b"c' } })
    expect(res.headers.get("x-ms-client-request-id")).toBeNull()
    expect(JSON.parse(logs[0] ?? "{}").clientRequestId).toBeUndefined()
  })
})

describe("limits and routing", () => {
  it("unknown routes are an ARM-style 404", async () => {
    const { app } = setup()
    const res = await app.request("/v2/nothing")
    expect(res.status).toBe(404)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("NotFound")
  })

  it("400 for a Content-Length that is not a whole number, before any call", async () => {
    const { app, calls } = setup()
    for (const length of ["1e2", "0x10", "-1", "1.5"]) {
      const res = await app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest`, {
        headers: { "Content-Length": length },
      })
      expect(res.status).toBe(400)
    }
    expect(calls).toEqual([])
  })

  it("413 for a body of unknown length over the limit, whatever the method", async () => {
    const { app, calls } = setup({ config: { maxBodyBytes: 10 } })
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("x".repeat(100)))
        controller.close()
      },
    })
    const res = await app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest`, {
      method: "POST",
      body,
      headers: { "Transfer-Encoding": "chunked" },
      duplex: "half",
    } as RequestInit)
    expect(res.status).toBe(413)
    expect(res.headers.get("connection")).toBe("close")
    expect(calls).toEqual([])
  })

  it("413 for a body over the limit", async () => {
    const { app } = setup({ config: { maxBodyBytes: 10 } })
    const res = await app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest`, {
      method: "POST",
      body: "x".repeat(100),
      headers: { "Content-Length": "100" },
    })
    expect(res.status).toBe(413)
  })

  it("414 for an overlong URL, before any call", async () => {
    const { app, calls } = setup()
    const res = await app.request(`/v1/subscriptions/${sub}/resourceGroups/${"a".repeat(9000)}`)
    expect(res.status).toBe(414)
    expect(calls).toEqual([])
  })

  it("no CORS headers, even when asked", async () => {
    const { app } = setup()
    const res = await app.request("/healthz", { headers: { Origin: "https://evil.example" } })
    expect(res.headers.get("access-control-allow-origin")).toBeNull()
  })

  it("while draining, responses say Connection: close and /readyz is 503", async () => {
    const { app } = setup({ draining: () => true })
    const res = await app.request("/healthz")
    expect(res.headers.get("connection")).toBe("close")
    expect((await app.request("/readyz")).status).toBe(503)
  })
})

describe("/healthz, /readyz, /metrics, /openapi.json", () => {
  it("healthz is ok without touching IMDS", async () => {
    const { app, tokenCalls } = setup()
    expect(await (await app.request("/healthz")).json()).toEqual({ status: "ok" })
    expect(tokenCalls).toEqual([])
  })

  it("readyz asks for an ARM token", async () => {
    const { app, tokenCalls } = setup()
    const res = await app.request("/readyz")
    expect(res.status).toBe(200)
    expect(tokenCalls).toEqual([{ resource: "https://management.azure.com/", selector: "system" }])
  })

  it("readyz is 503 with the reason whenever no token can be obtained", async () => {
    const first = setup({ token: () => Effect.fail(new IdentityNotFound({ selector: "system-assigned" })) })
    const res = await first.app.request("/readyz")
    expect(res.status).toBe(503)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("IdentityNotFound")
    await first.dispose()
    const b = setup({ token: (resource) => Effect.fail(new InvalidResource({ resource })) })
    expect((await b.app.request("/readyz")).status).toBe(503)
  })

  it("metrics count requests by route and status, and the group cache", async () => {
    const { app } = setup()
    await app.request(`/v1/subscriptions/${sub}/resourceGroups/MetricsGroup`)
    await app.request(`/v1/subscriptions/${sub}/resourceGroups/MetricsGroup`)
    await app.request("/no/such/path")
    const res = await app.request("/metrics")
    expect(res.headers.get("content-type")).toContain("text/plain; version=0.0.4")
    const text = await res.text()
    expect(text).toContain("# TYPE azmi_http_requests_total counter")
    expect(text).toMatch(
      /azmi_http_requests_total\{[^}]*route="\/v1\/subscriptions\/:subscriptionId\/resourceGroups\/:resourceGroupName"[^}]*status="200"[^}]*\} \d+/,
    )
    expect(text).toMatch(/azmi_http_requests_total\{[^}]*route="unmatched"[^}]*status="404"/)
    expect(text).toContain("# TYPE azmi_http_request_duration_seconds histogram")
    expect(text).toMatch(/azmi_http_request_duration_seconds_bucket\{route="[^"]+",le="\+Inf"\} \d+/)
    expect(text).toMatch(/azmi_http_group_cache_hits_total [1-9]/)
    expect(text).toMatch(/azmi_http_group_cache_misses_total [1-9]/)
  })

  it("metrics list the core's IMDS, ARM, cache and retry counters from the start", async () => {
    const { app } = setup()
    const text = await (await app.request("/metrics")).text()
    for (const name of [
      "azmi_imds_requests_total",
      "azmi_arm_requests_total",
      "azmi_token_cache_hits_total",
      "azmi_token_cache_misses_total",
      "azmi_retries_total",
    ]) {
      expect(text).toContain(`# TYPE ${name} counter`)
      expect(text).toMatch(new RegExp(`^${name} \\d+$`, "m"))
    }
  })

  it("openapi.json is generated from the route schemas", async () => {
    const { app } = setup({ config: { identityHeader: Redacted.make("broker-secret-0123456789") } })
    const doc = (await (await app.request("/openapi.json")).json()) as {
      openapi: string
      paths: Record<
        string,
        Record<
          string,
          { parameters: Array<{ name: string; in: string }>; responses: Record<string, unknown> }
        >
      >
      components: { schemas: Record<string, unknown> }
    }
    expect(doc.openapi).toBe("3.1.0")
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        "/healthz",
        "/metrics",
        "/msi/token",
        "/openapi.json",
        "/readyz",
        "/v1/instance",
        "/v1/resourceGroup",
        "/v1/subscriptions/{subscriptionId}/resourceGroups",
        "/v1/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}",
      ].sort(),
    )
    const list = doc.paths["/v1/subscriptions/{subscriptionId}/resourceGroups"]?.get
    expect(list?.parameters.map((p) => `${p.in}:${p.name}`)).toEqual([
      "path:subscriptionId",
      "query:tag",
      "query:top",
    ])
    expect(
      Object.keys(doc.paths["/v1/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}"] ?? {}),
    ).toEqual(["get", "head"])
    expect(doc.paths["/msi/token"]?.get?.parameters.map((p) => p.name)).toEqual([
      "resource",
      "api-version",
      "client_id",
      "principal_id",
      "object_id",
      "mi_res_id",
      "xms_cc",
    ])
    // The group body schema is exactly what Effect derives from the core's ResourceGroup schema.
    const { $schema: _, ...derived } = JSONSchema.make(ResourceGroup, { target: "openApi3.1" })
    const get = doc.paths["/v1/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}"]?.get
    expect(get?.responses["200"]).toMatchObject({ content: { "application/json": { schema: derived } } })
    expect(doc.components.schemas.ErrorBody).toMatchObject({ type: "object", required: ["error"] })
    expect(JSON.stringify(doc)).not.toContain("$defs")
  })

  it("openapi.json leaves the broker out when it is off", async () => {
    const { app } = setup()
    const doc = (await (await app.request("/openapi.json")).json()) as { paths: Record<string, unknown> }
    expect(doc.paths["/msi/token"]).toBeUndefined()
  })
})
