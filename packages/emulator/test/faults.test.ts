import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import {
  azureErrorBody,
  FaultController,
  FaultSpecError,
  type FaultTarget,
  mangleBody,
  parseFaultSpec,
  type Reply,
  respondWithFaults,
} from "../src/faults.js"

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON bodies
const json = (r: Response): Promise<any> => r.json()

const tokenBody = JSON.stringify({
  access_token: "header.payload.signature",
  client_id: "0d7e6c5b-4a3f-4b2e-8d1c-9f8e7a6b5c4d",
  expires_in: "86399",
  expires_on: "1700086700",
  ext_expires_in: "86399",
  not_before: "1700000000",
  resource: "https://management.azure.com/",
  token_type: "Bearer",
})

describe("parseFaultSpec", () => {
  it("accepts a full spec and the JSON spelling of Infinity", () => {
    const spec = parseFaultSpec({
      target: "arm",
      status: 429,
      retryAfter: 3,
      headers: { "x-test": "1" },
      count: "Infinity",
      pathIncludes: "resourcegroups",
    })
    expect(spec).toEqual({
      target: "arm",
      status: 429,
      retryAfter: 3,
      headers: { "x-test": "1" },
      count: Number.POSITIVE_INFINITY,
      pathIncludes: "resourcegroups",
    })
  })

  it.each([
    [null, "faultSpec.(root): must be a JSON object"],
    [{ target: "imds" }, "faultSpec.target: must be one of"],
    [{ target: "arm", status: 99 }, "faultSpec.status: must be an integer 100..599"],
    [{ target: "arm", status: 500.5 }, "faultSpec.status"],
    [{ target: "arm", status: 500, count: 0 }, "faultSpec.count: must be a positive integer or Infinity"],
    [{ target: "arm", status: 500, count: "3" }, "faultSpec.count"],
    [{ target: "arm", status: 500, probability: 1.5 }, "faultSpec.probability: must be a number 0..1"],
    [{ target: "arm", latencyMs: -1 }, "faultSpec.latencyMs"],
    [{ target: "arm", latencyMs: Number.NaN }, "faultSpec.latencyMs"],
    [
      { target: "arm", headers: { "bad name": "x" } },
      'faultSpec.headers["bad name"]: is not a valid HTTP header name',
    ],
    [
      { target: "arm", headers: { "x-a": "1\r\nx-b: 2" } },
      'faultSpec.headers["x-a"]: must be a string without',
    ],
    [{ target: "arm", retryAfter: -5 }, "faultSpec.retryAfter"],
    [{ target: "imds-token", malformed: "garbage" }, "faultSpec.malformed: must be one of"],
    [{ target: "imds-token", reset: true, status: 500 }, "faultSpec.reset: cannot be combined"],
    [
      { target: "imds-token", malformed: "truncated", status: 500 },
      "faultSpec.malformed: cannot be combined",
    ],
    [{ target: "imds-token" }, "faultSpec.(root): must set at least one of"],
    [{ target: "imds-token", stauts: 500 }, "faultSpec.stauts: unknown field"],
    [{ target: "arm", status: 500, pathIncludes: "" }, "faultSpec.pathIncludes"],
  ])("rejects %j", (input, message) => {
    expect(() => parseFaultSpec(input)).toThrow(FaultSpecError)
    expect(() => parseFaultSpec(input)).toThrow(message)
  })
})

describe("FaultController.take", () => {
  it("applies a fault to the next N matching requests only, default 1", () => {
    const faults = new FaultController()
    faults.inject({ target: "imds-token", status: 503, count: 2 })
    faults.inject({ target: "arm", status: 500 })
    expect(faults.take("imds-instance", "/metadata/instance")).toBeUndefined()
    expect(faults.take("imds-token", "/metadata/identity/oauth2/token")?.status).toBe(503)
    expect(faults.take("imds-token", "/metadata/identity/oauth2/token")?.status).toBe(503)
    expect(faults.take("imds-token", "/metadata/identity/oauth2/token")).toBeUndefined()
    expect(faults.take("arm", "/subscriptions/x")?.status).toBe(500)
    expect(faults.take("arm", "/subscriptions/x")).toBeUndefined()
    expect(faults.list()).toEqual([])
  })

  it("matches pathIncludes case-insensitively and in injection order", () => {
    const faults = new FaultController()
    faults.inject({
      target: "arm",
      status: 404,
      pathIncludes: "roleAssignments",
      count: Number.POSITIVE_INFINITY,
    })
    faults.inject({ target: "arm", status: 503 })
    expect(faults.take("arm", "/subscriptions/s/resourcegroups/DevTest")?.status).toBe(503)
    expect(
      faults.take("arm", "/subscriptions/s/providers/microsoft.authorization/roleassignments")?.status,
    ).toBe(404)
    expect(faults.take("arm", "/subscriptions/s/resourcegroups/DevTest")).toBeUndefined()
    expect(faults.list()).toHaveLength(1)
    expect(faults.list()[0]?.applied).toBe(1)
  })

  it("Infinity lasts until cleared; clear and remove drop faults", () => {
    const faults = new FaultController()
    const { id } = faults.inject({ target: "login", status: 500, count: Number.POSITIVE_INFINITY })
    for (let i = 0; i < 50; i++) expect(faults.take("login", "/t/oauth2/v2.0/token")?.status).toBe(500)
    expect(faults.remove(id)).toBe(true)
    expect(faults.remove(id)).toBe(false)
    expect(faults.take("login", "/t/oauth2/v2.0/token")).toBeUndefined()
    faults.inject({ target: "login", status: 500, count: 5 })
    faults.clear()
    expect(faults.take("login", "/t/oauth2/v2.0/token")).toBeUndefined()
  })

  it("probability applies when the roll is below p, and lasts until cleared", () => {
    const rolls = [0.1, 0.9, 0.29, 0.3, 0.0]
    const faults = new FaultController({ random: () => rolls.shift() ?? 1 })
    faults.inject({ target: "imds-token", status: 500, probability: 0.3 })
    const applied = [1, 2, 3, 4, 5].map(
      () => faults.take("imds-token", "/metadata/identity/oauth2/token") !== undefined,
    )
    expect(applied).toEqual([true, false, true, false, true])
    expect(faults.list()).toHaveLength(1)
  })

  it("probability with a count stops after count applications", () => {
    const faults = new FaultController({ random: () => 0 })
    faults.inject({ target: "arm", status: 500, probability: 0.5, count: 2 })
    expect(faults.take("arm", "/")).toBeDefined()
    expect(faults.take("arm", "/")).toBeDefined()
    expect(faults.take("arm", "/")).toBeUndefined()
  })

  it("inject validates like untrusted input", () => {
    const faults = new FaultController()
    expect(() => faults.inject({ target: "arm", status: 42 })).toThrow("faultSpec.status")
    expect(faults.list()).toEqual([])
  })
})

describe("azureErrorBody", () => {
  it("uses the OAuth shape for IMDS token errors", () => {
    expect(JSON.parse(azureErrorBody("imds-token", 429))).toEqual({
      error: "too_many_requests",
      error_description: expect.any(String),
    })
    expect(JSON.parse(azureErrorBody("imds-token", 500)).error).toBe("unknown")
    expect(JSON.parse(azureErrorBody("imds-token", 410)).error_description).toContain("70 seconds")
  })

  it("uses {error: string} for instance metadata", () => {
    expect(JSON.parse(azureErrorBody("imds-instance", 503))).toEqual({ error: expect.any(String) })
  })

  it("uses the ARM CloudError shape with the subscription from the path", () => {
    const body = JSON.parse(azureErrorBody("arm", 429, "/subscriptions/abc/resourcegroups/x", 7))
    expect(body.error.code).toBe("SubscriptionRequestsThrottled")
    expect(body.error.message).toContain("subscription 'abc'")
    expect(body.error.message).toContain("after '7' seconds")
    expect(JSON.parse(azureErrorBody("arm", 503)).error.code).toBe("ServiceUnavailable")
    expect(JSON.parse(azureErrorBody("arm", 418)).error.code).toBe("BadRequest")
  })

  it("uses Entra's error shape for login", () => {
    const body = JSON.parse(azureErrorBody("login", 401))
    expect(body.error).toBe("invalid_client")
    expect(body.error_codes).toEqual([7000215])
    expect(body.error_description).toMatch(/^AADSTS7000215: /)
    expect(body.trace_id).toMatch(/^[0-9a-f-]{36}$/)
  })
})

describe("mangleBody", () => {
  it("invalid-json does not parse", () => {
    expect(() => JSON.parse(mangleBody(tokenBody, "invalid-json"))).toThrow(SyntaxError)
  })
  it("truncated is a prefix that does not parse", () => {
    const t = mangleBody(tokenBody, "truncated")
    expect(tokenBody.startsWith(t)).toBe(true)
    expect(t.length).toBeLessThan(tokenBody.length)
    expect(() => JSON.parse(t)).toThrow(SyntaxError)
  })
  it("missing-* drops exactly that field", () => {
    const a = JSON.parse(mangleBody(tokenBody, "missing-expires-on"))
    expect(a).not.toHaveProperty("expires_on")
    expect(a.access_token).toBe("header.payload.signature")
    const b = JSON.parse(mangleBody(tokenBody, "missing-access-token"))
    expect(b).not.toHaveProperty("access_token")
    expect(b.expires_on).toBe("1700086700")
  })
  it("missing-* leaves a non-object body alone", () => {
    expect(mangleBody("[1]", "missing-expires-on")).toBe("[1]")
    expect(mangleBody("nope", "missing-access-token")).toBe("nope")
  })
})

describe("respondWithFaults over HTTP", () => {
  const faults = new FaultController()
  let server: Server
  let base: string
  let produced = 0
  let statuses: Array<number> = []
  let reply: () => Reply = () => ({
    status: 200,
    headers: { "Content-Type": "application/json; charset=utf-8", "x-route": "1" },
    body: tokenBody,
  })

  beforeAll(async () => {
    server = createServer(async (req, res) => {
      const url = new URL(req.url ?? "/", "http://x")
      const target = (url.searchParams.get("target") ?? "imds-token") as FaultTarget
      const status = await respondWithFaults({
        faults,
        target,
        path: url.pathname,
        req,
        res,
        produce: () => {
          produced++
          return reply()
        },
      })
      statuses.push(status)
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })

  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  beforeEach(() => {
    faults.clear()
    produced = 0
    statuses = []
    reply = () => ({
      status: 200,
      headers: { "Content-Type": "application/json; charset=utf-8", "x-route": "1" },
      body: tokenBody,
    })
  })

  it("without a fault sends the route's answer and returns its status", async () => {
    const res = await fetch(`${base}/metadata/identity/oauth2/token`)
    expect(res.status).toBe(200)
    expect(res.headers.get("x-route")).toBe("1")
    expect(await res.text()).toBe(tokenBody)
    expect(produced).toBe(1)
    expect(statuses).toEqual([200])
  })

  it("a status fault answers without running the route, then the route runs again", async () => {
    faults.inject({ target: "imds-token", status: 503, retryAfter: 2 })
    const first = await fetch(`${base}/metadata/identity/oauth2/token`)
    expect(first.status).toBe(503)
    expect(first.headers.get("retry-after")).toBe("2")
    expect(first.headers.get("content-type")).toBe("application/json; charset=utf-8")
    expect((await json(first)).error).toBe("service_unavailable")
    expect(produced).toBe(0)
    const second = await fetch(`${base}/metadata/identity/oauth2/token`)
    expect(second.status).toBe(200)
    await second.text()
    expect(produced).toBe(1)
    expect(statuses).toEqual([503, 200])
  })

  it("an ARM status fault carries ARM's request-id headers and CloudError body", async () => {
    faults.inject({ target: "arm", status: 429, retryAfter: 5 })
    const res = await fetch(`${base}/subscriptions/abc/resourcegroups/DevTest?target=arm`)
    expect(res.status).toBe(429)
    expect(res.headers.get("x-ms-request-id")).toMatch(/^[0-9a-f-]{36}$/)
    expect(res.headers.get("retry-after")).toBe("5")
    expect((await json(res)).error.code).toBe("SubscriptionRequestsThrottled")
  })

  it("a raw body and headers replace the defaults", async () => {
    faults.inject({
      target: "imds-token",
      status: 500,
      body: "<html>oops</html>",
      headers: { "Content-Type": "text/html" },
    })
    const res = await fetch(`${base}/metadata/identity/oauth2/token`)
    expect(res.status).toBe(500)
    expect(res.headers.get("content-type")).toBe("text/html")
    expect(await res.text()).toBe("<html>oops</html>")
  })

  it("reset destroys the connection and returns 0", async () => {
    faults.inject({ target: "imds-token", reset: true })
    await expect(fetch(`${base}/metadata/identity/oauth2/token`)).rejects.toThrow()
    expect(statuses).toEqual([0])
    expect(produced).toBe(0)
    const after = await fetch(`${base}/metadata/identity/oauth2/token`)
    expect(after.status).toBe(200)
    await after.text()
  })

  it("latency delays the normal answer by at least latencyMs", async () => {
    faults.inject({ target: "imds-token", latencyMs: 50 })
    const started = performance.now()
    const res = await fetch(`${base}/metadata/identity/oauth2/token`)
    expect(await res.text()).toBe(tokenBody)
    expect(performance.now() - started).toBeGreaterThanOrEqual(45)
    expect(res.status).toBe(200)
    expect(produced).toBe(1)
  })

  it("latency plus status delays the fault answer", async () => {
    faults.inject({ target: "imds-token", latencyMs: 20, status: 410 })
    const res = await fetch(`${base}/metadata/identity/oauth2/token`)
    expect(res.status).toBe(410)
    await res.text()
  })

  it("a client that goes away during the latency gets nothing and the status is 0", async () => {
    faults.inject({ target: "imds-token", latencyMs: 5_000 })
    const controller = new AbortController()
    const pending = fetch(`${base}/metadata/identity/oauth2/token`, { signal: controller.signal })
    await new Promise((resolve) => setTimeout(resolve, 50))
    controller.abort()
    await expect(pending).rejects.toThrow()
    await expect.poll(() => statuses).toEqual([0])
    expect(produced).toBe(0)
  })

  it.each([
    ["invalid-json", (t: string) => expect(() => JSON.parse(t)).toThrow()],
    ["truncated", (t: string) => expect(tokenBody.startsWith(t) && t.length < tokenBody.length).toBe(true)],
    ["missing-expires-on", (t: string) => expect(JSON.parse(t)).not.toHaveProperty("expires_on")],
    ["missing-access-token", (t: string) => expect(JSON.parse(t)).not.toHaveProperty("access_token")],
  ] as const)("malformed %s mangles the success body with a matching Content-Length", async (kind, check) => {
    faults.inject({ target: "imds-token", malformed: kind })
    const res = await fetch(`${base}/metadata/identity/oauth2/token`)
    expect(res.status).toBe(200)
    const text = await res.text()
    expect(Number(res.headers.get("content-length"))).toBe(Buffer.byteLength(text))
    check(text)
  })

  it("malformed leaves an error answer untouched", async () => {
    const errorBody = JSON.stringify({ error: "invalid_request", error_description: "Identity not found" })
    reply = () => ({ status: 400, headers: { "content-type": "application/json" }, body: errorBody })
    faults.inject({ target: "imds-token", malformed: "invalid-json" })
    const res = await fetch(`${base}/metadata/identity/oauth2/token`)
    expect(res.status).toBe(400)
    expect(await res.text()).toBe(errorBody)
  })

  it("a fault for another target or path does not apply", async () => {
    faults.inject({ target: "arm", status: 500 })
    faults.inject({ target: "imds-token", status: 500, pathIncludes: "/metadata/instance" })
    const res = await fetch(`${base}/metadata/identity/oauth2/token`)
    expect(res.status).toBe(200)
    await res.text()
  })

  it("a throwing route becomes a 500 Azure-shaped error, not a crash", async () => {
    reply = () => {
      throw new Error("boom")
    }
    const res = await fetch(`${base}/metadata/identity/oauth2/token`)
    expect(res.status).toBe(500)
    expect((await json(res)).error).toBe("unknown")
  })

  it("204 answers carry no body", async () => {
    reply = () => ({ status: 204, headers: {}, body: "" })
    faults.inject({ target: "arm", headers: { "x-extra": "y" } })
    const res = await fetch(`${base}/x?target=arm`)
    expect(res.status).toBe(204)
    expect(res.headers.get("x-extra")).toBe("y")
    expect(await res.text()).toBe("")
  })
})
