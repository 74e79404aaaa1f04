// startServer answers a fresh cached read on Node's own request (server.ts hands the IncomingMessage to
// hotPath.ts and writes the answer with writeHead + end), before @hono/node-server builds a Request.
// These tests hold that path, over raw sockets, to the very bytes the routed path writes, and show
// that every decision the app.request() tests pin (cachedReads, imds, hostCheck) is taken on it too:
// whatever needs one reaches the routed path, which the listener's `routing` hook records.
import { createServer, type Server } from "node:http"
import { type AddressInfo, connect } from "node:net"
import {
  type AccessToken,
  IdentitySelector,
  ManagedIdentity,
  ManagedIdentitySource,
  TokenProvider,
} from "@azmi/core"
import { Effect, Layer, ManagedRuntime, Redacted } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { createApp } from "../src/app.js"
import { renderPrometheus } from "../src/metrics.js"
import { requestListener } from "../src/server.js"
import { type FakeOptions, fakeServices, sub, tokenSecret } from "./fixtures.js"

const group = `/v1/subscriptions/${sub}/resourceGroups/DevTest`
const groupRoute = "/v1/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName"
const arm = "https://management.azure.com/"
const tokenTarget = `/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(arm)}`
const apiKey = "api-key-0123456789abcdef-XYZ"

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((f) => f()))
})

// The core's real token cache over a source that answers at once, as IMDS would.
const cachedTokens = Layer.scoped(
  TokenProvider,
  ManagedIdentity.make({ identity: IdentitySelector.SystemAssigned() }),
).pipe(
  Layer.provide(
    Layer.succeed(
      ManagedIdentitySource,
      ManagedIdentitySource.of({
        name: "IMDS",
        endpoint: "http://169.254.169.254",
        requestToken: (resource) =>
          Effect.sync(
            (): AccessToken => ({
              token: Redacted.make(tokenSecret),
              tokenType: "Bearer",
              resource,
              expiresOn: Date.now() + 86_400_000,
              refreshOn: Date.now() + 43_200_000,
              notBefore: Date.now(),
              clientId: "2084ae4a-0000-4000-8000-000000000001",
            }),
          ),
      }),
    ),
  ),
)

/** The app behind startServer's own listener, with a hook that records what reaches the routed path. */
const serve = async (options: FakeOptions = {}) => {
  const fakes = fakeServices(options)
  const runtime = ManagedRuntime.make(fakes.layer)
  const logs: Array<string> = []
  let draining = false
  const app = createApp({
    runtime,
    config: fakes.config,
    log: (line) => logs.push(line),
    isDraining: () => draining,
  })
  const routed: Array<string> = []
  const server: Server = createServer(
    requestListener(app, "127.0.0.1", (request) => routed.push(`${request.method} ${request.url}`)),
  )
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  cleanups.push(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    await runtime.dispose()
  })
  const port = (server.address() as AddressInfo).port
  return { ...fakes, port, routed, logs, drain: () => (draining = true) }
}

/** Sends `head` (and `body`) on a fresh connection; resolves with the first whole response, as sent. */
const exchange = (port: number, head: string, body = "") =>
  new Promise<string>((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(head + body))
    let text = ""
    const done = () => {
      socket.destroy()
      resolve(text)
    }
    socket.setEncoding("latin1")
    socket.on("data", (chunk: string) => {
      text += chunk
      const end = text.indexOf("\r\n\r\n")
      if (end < 0) return
      // No length: a bodiless answer (HEAD, 204); none here is chunked.
      const length = Number(/\r\ncontent-length: (\d+)\r\n/i.exec(text.slice(0, end + 2))?.[1] ?? 0)
      if (text.length >= end + 4 + length) done()
    })
    socket.on("close", done)
    socket.on("error", reject)
  })

const headLines = (headers: Record<string, string>) =>
  Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("")

/** A GET (or `method`) of `target` with `headers`; `Host` names the listener unless a header says otherwise. */
const request = (
  port: number,
  target: string,
  headers: Record<string, string> = {},
  method = "GET",
  body = "",
) =>
  exchange(
    port,
    `${method} ${target} HTTP/1.1\r\n${"Host" in headers ? "" : `Host: 127.0.0.1:${port}\r\n`}${headLines(headers)}\r\n`,
    body,
  )

const statusOf = (response: string) => Number(response.slice(9, 12))
const dateOf = (response: string) => /\r\nDate: ([^\r]*)\r\n/.exec(response)?.[1]
const requestIdOf = (response: string) => /\r\nx-request-id: ([^\r]*)\r\n/.exec(response)?.[1]
const withoutRequestId = (response: string) =>
  response.replace(/\r\nx-request-id: [^\r]*\r\n/, "\r\nx-request-id: …\r\n")

/**
 * A hit and the routed answer to the same request (a `Content-Length: 0` makes the hot path decline),
 * taken within one second so that `Date`, `Age` and `expires_in` are the same.
 */
const hitAndRouted = async (port: number, target: string, headers: Record<string, string>) => {
  for (;;) {
    const hit = await request(port, target, headers)
    const routed = await request(port, target, { ...headers, "Content-Length": "0" })
    if (dateOf(hit) === dateOf(routed)) return { hit, routed }
  }
}

describe("a cached read answered on Node's own request", () => {
  it.each<[string, string, Record<string, string>]>([
    ["a group read", group, {}],
    ["a group read with x-ms-client-request-id", group, { "x-ms-client-request-id": "client-req-7" }],
    ["a group read on a connection the client closes", group, { Connection: "close" }],
    ["IMDS's token route", tokenTarget, { Metadata: "true" }],
    [
      "IMDS's token route with x-ms-client-request-id",
      tokenTarget,
      { Metadata: "true", "x-ms-client-request-id": "c-1" },
    ],
  ])("%s: byte for byte what the routed path writes, request id aside", async (_name, target, headers) => {
    const { port, routed } = await serve({ config: { imds: true }, tokenProvider: cachedTokens })
    expect(statusOf(await request(port, target, headers))).toBe(200)
    routed.length = 0
    const { hit, routed: routedAnswer } = await hitAndRouted(port, target, headers)
    expect(routed).toEqual([`GET ${target}`])
    expect(statusOf(hit)).toBe(200)
    expect(withoutRequestId(hit)).toBe(withoutRequestId(routedAnswer))
    expect(requestIdOf(hit)).toMatch(/^[0-9a-f-]{36}$/)
    expect(requestIdOf(hit)).not.toBe(requestIdOf(routedAnswer))
  })

  it("is logged and counted as the routed path does, with the id it answered with", async () => {
    const { port, routed, logs } = await serve()
    await request(port, group)
    const count = () =>
      Number(
        new RegExp(
          `azmi_http_requests_total\\{route="${groupRoute}",method="GET",status="200"\\} (\\d+)`,
        ).exec(renderPrometheus([]))?.[1] ?? 0,
      )
    const before = count()
    const hit = await request(port, `${group}?ignored=1`, { "x-ms-client-request-id": "client-req-7" })
    expect(routed).toEqual([`GET ${group}`])
    expect(count() - before).toBe(1)
    expect(JSON.parse(logs.at(-1) ?? "{}")).toMatchObject({
      level: "info",
      msg: "request",
      requestId: requestIdOf(hit),
      clientRequestId: "client-req-7",
      method: "GET",
      path: group,
      route: groupRoute,
      status: 200,
    })
  })
})

describe("once the read is cached, what needs a decision still reaches the routed path", () => {
  it.each<[string, (port: number) => Promise<string>, number]>([
    [
      "a Host naming another server (DNS rebinding)",
      (port) => request(port, group, { Host: "rebind.attacker.example" }),
      421,
    ],
    ["a declared body", (port) => request(port, group, { "Content-Length": "3" }, "GET", "abc"), 200],
    [
      "a chunked body",
      (port) => request(port, group, { "Transfer-Encoding": "chunked" }, "GET", "0\r\n\r\n"),
      200,
    ],
    ["HEAD", (port) => request(port, group, {}, "HEAD"), 204],
    [
      "a percent-encoded name",
      (port) => request(port, `/v1/subscriptions/${sub}/resourceGroups/%44evTest`),
      200,
    ],
    ["an absolute-form target", (port) => request(port, `http://127.0.0.1:${port}${group}`), 200],
    ["a target over 2,048 characters", (port) => request(port, `${group}?pad=${"x".repeat(2_100)}`), 200],
  ])("%s", async (_name, send, status) => {
    const { port, routed, calls } = await serve()
    expect(statusOf(await request(port, group))).toBe(200)
    const response = await send(port)
    expect(statusOf(response)).toBe(status)
    expect(routed).toHaveLength(2)
    expect(calls.filter((c) => c.op === "get")).toHaveLength(1)
  })

  it("a target over 2,048 characters, right after a hit on the same path", async () => {
    const { port, routed } = await serve()
    expect(statusOf(await request(port, group))).toBe(200)
    expect(statusOf(await request(port, group))).toBe(200)
    expect(routed).toHaveLength(1)
    expect(statusOf(await request(port, `${group}?pad=${"x".repeat(2_100)}`))).toBe(200)
    expect(routed).toHaveLength(2)
  })

  it("the API key: a wrong or missing one is the route's 401, the right one a hit", async () => {
    const { port, routed } = await serve({ config: { apiKey: Redacted.make(apiKey) } })
    const good = { Authorization: `Bearer ${apiKey}` }
    expect(statusOf(await request(port, group, good))).toBe(200)
    expect(statusOf(await request(port, group, good))).toBe(200)
    expect(routed).toHaveLength(1)
    for (const headers of [{}, { Authorization: `Bearer ${apiKey}x` }]) {
      const response = await request(port, group, headers)
      expect(statusOf(response)).toBe(401)
      expect(response).toContain('\r\nwww-authenticate: Bearer realm="azmi-http"\r\n')
    }
    expect(routed).toHaveLength(3)
  })

  it("draining: the routed path answers, with Connection: close", async () => {
    const { port, routed, drain } = await serve()
    expect(statusOf(await request(port, group))).toBe(200)
    drain()
    const response = await request(port, group)
    expect(statusOf(response)).toBe(200)
    expect(response.toLowerCase()).toContain("\r\nconnection: close\r\n")
    expect(routed).toHaveLength(2)
  })

  it.each<[string, string, Record<string, string>, number]>([
    ["no Metadata header", tokenTarget, {}, 400],
    ["X-Forwarded-For", tokenTarget, { Metadata: "true", "X-Forwarded-For": "203.0.113.7" }, 400],
    ["a Host naming another server", tokenTarget, { Metadata: "true", Host: "rebind.attacker.example" }, 421],
    ["a repeated parameter", `${tokenTarget}&resource=x`, { Metadata: "true" }, 400],
  ])("IMDS's token route, %s", async (_name, target, headers, status) => {
    const { port, routed } = await serve({ config: { imds: true }, tokenProvider: cachedTokens })
    expect(statusOf(await request(port, tokenTarget, { Metadata: "true" }))).toBe(200)
    expect(statusOf(await request(port, target, headers))).toBe(status)
    expect(routed).toHaveLength(2)
  })
})
