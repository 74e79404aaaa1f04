/**
 * Both ARM wires against a plain HTTP server on 127.0.0.1, one suite for each: what goes out, what comes
 * back, and that an interrupted call aborts its request. `fromUndici` drives undici's dispatch handler
 * itself; `fromHttpClient` goes through `@effect/platform`'s client (the injectable transport): they
 * must not differ in anything ARM or a caller can see.
 */
import { once } from "node:events"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, Either, Exit, Fiber, Redacted, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as ArmWire from "../src/ArmWire.js"
import * as HttpTransport from "../src/HttpTransport.js"

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void

let server: Server
let base: string
let handler: Handler = (_req, res) => res.end()
const closed: Array<string> = []
let scope: Scope.CloseableScope
const wires: Record<"undici" | "http-client", ArmWire.Wire> = {} as never

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = ""
    req.setEncoding("utf8")
    req.on("data", (d: string) => {
      body += d
    })
    req.on("end", () => handler(req, res, body))
    res.on("close", () => {
      if (!res.writableFinished) closed.push(req.url ?? "")
    })
  })
  server.listen(0, "127.0.0.1")
  await once(server, "listening")
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  scope = Effect.runSync(Scope.make())
  for (const transport of ["undici", "http-client"] as const) {
    wires[transport] = await Effect.runPromise(
      Scope.extend(ArmWire.make(transport, { connections: 4 }), scope),
    )
  }
})
afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  server.closeAllConnections()
  server.close()
})

const request = (overrides: Partial<ArmWire.WireRequest> = {}): ArmWire.WireRequest => ({
  method: "GET",
  origin: base,
  path: "/subscriptions/x/resourcegroups/y?api-version=2025-04-01",
  headers: { accept: "application/json", "x-ms-client-request-id": "cid-1" },
  bearer: Redacted.make("secret-token"),
  timeoutMs: 5_000,
  ...overrides,
})

describe.each(["undici", "http-client"] as const)("the %s ARM wire", (transport) => {
  const wire = (request: ArmWire.WireRequest) => wires[transport](request)

  it("sends the caller's headers, the bearer token and a user agent; content-type only with a body", async () => {
    const seen: Array<{ method: string; url: string; headers: IncomingMessage["headers"]; body: string }> = []
    handler = (req, res, body) => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body })
      res.end("{}")
    }
    await Effect.runPromise(wire(request()))
    await Effect.runPromise(wire(request({ method: "PUT", body: '{"a":1}' })))
    expect(seen[0]).toMatchObject({
      method: "GET",
      url: "/subscriptions/x/resourcegroups/y?api-version=2025-04-01",
      body: "",
      headers: {
        accept: "application/json",
        "x-ms-client-request-id": "cid-1",
        authorization: "Bearer secret-token",
      },
    })
    expect(seen[0]?.headers["user-agent"]).toBe(HttpTransport.USER_AGENT)
    expect(seen[0]?.headers["content-type"]).toBeUndefined()
    expect(seen[1]).toMatchObject({ method: "PUT", body: '{"a":1}' })
    expect(seen[1]?.headers["content-type"]).toBe("application/json")
  })

  it("returns status, lower-cased headers (repeats joined) and the UTF-8 body across chunks, BOM skipped", async () => {
    const text = JSON.stringify({ name: "Grüße-DevTest", tags: { "€": "✓" } })
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text, "utf8")])
    handler = (_req, res) => {
      res.writeHead(404, [
        ["X-MS-Request-Id", "rid-1"],
        ["Warning", "one"],
        ["Warning", "two"],
        ["Content-Type", "application/json"],
      ])
      // Split inside a multi-byte character, in separate writes.
      const cut = bytes.indexOf(Buffer.from("ü")) + 1
      res.write(bytes.subarray(0, cut))
      setTimeout(() => res.end(bytes.subarray(cut)), 5)
    }
    const res = await Effect.runPromise(wire(request()))
    expect(res.status).toBe(404)
    expect(res.headers["x-ms-request-id"]).toBe("rid-1")
    expect(res.headers.warning).toBe("one, two")
    expect(res.text).toBe(text)
  })

  it("HEAD answers with an empty text", async () => {
    handler = (_req, res) => {
      res.writeHead(204)
      res.end()
    }
    const res = await Effect.runPromise(wire(request({ method: "HEAD" })))
    expect(res).toMatchObject({ status: 204, text: "" })
  })

  it("interrupting the call aborts the request on the socket", async () => {
    handler = () => {} // never answers
    const path = `/hang-${Date.now()}`
    const fiber = Effect.runFork(wire(request({ path })))
    await new Promise((r) => setTimeout(r, 50))
    await Effect.runPromise(Fiber.interrupt(fiber))
    for (let i = 0; i < 100 && !closed.includes(path); i++) {
      await new Promise((r) => setTimeout(r, 10))
    }
    expect(closed).toContain(path)
  })

  it("a call cut short by Effect.timeout aborts its request on the socket", async () => {
    handler = () => {} // never answers
    const path = `/slow-${Date.now()}`
    const cut = await Effect.runPromise(Effect.either(Effect.timeout(wire(request({ path })), "50 millis")))
    expect(Either.isLeft(cut) && cut.left._tag).toBe("TimeoutException")
    for (let i = 0; i < 100 && !closed.includes(path); i++) {
      await new Promise((r) => setTimeout(r, 10))
    }
    expect(closed).toContain(path)
  })

  it("a call interrupted while queued for a connection is never sent", async () => {
    const held: Array<ServerResponse> = []
    const arrived: Array<string> = []
    handler = (req, res) => {
      arrived.push(req.url ?? "")
      if (req.url?.startsWith("/hold-")) held.push(res)
      else res.end("{}")
    }
    const stamp = Date.now()
    // The pool has 4 connections: four hanging calls hold them all, the fifth waits for one.
    const holding = Array.from({ length: 4 }, (_, i) =>
      Effect.runPromise(Effect.either(wire(request({ path: `/hold-${stamp}-${i}` })))),
    )
    for (let i = 0; i < 100 && held.length < 4; i++) await new Promise((r) => setTimeout(r, 10))
    expect(held).toHaveLength(4)
    const queued = Effect.runFork(wire(request({ path: `/queued-${stamp}` })))
    await new Promise((r) => setTimeout(r, 20))
    await Effect.runPromise(Fiber.interrupt(queued))
    for (const res of held) res.end("{}")
    await Promise.all(holding)
    // Give a freed connection the time to carry the queued request, were it still wanted.
    await Effect.runPromise(wire(request({ path: `/after-${stamp}` })))
    expect(arrived.filter((p) => p.includes(`-${stamp}`))).not.toContain(`/queued-${stamp}`)
    expect(arrived).toContain(`/after-${stamp}`)
  })

  it("no answer within the attempt budget is AttemptTimeout; a refused connection is Transport", async () => {
    handler = () => {}
    const slow = await Effect.runPromise(Effect.either(wire(request({ timeoutMs: 100 }))))
    expect(slow).toEqual(Either.left({ _tag: "AttemptTimeout" }))
    const refused = await Effect.runPromise(
      Effect.either(wire(request({ origin: "http://127.0.0.1:1", path: "/x" }))),
    )
    expect(Either.isLeft(refused) && refused.left._tag).toBe("Transport")
    expect(JSON.stringify(refused)).not.toContain("secret-token")
  })
})
