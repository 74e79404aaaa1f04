// The real server (startServer on 127.0.0.1, port 0) driven over raw sockets: what app.request()
// cannot send (a chunked GET body, a connection that never sends a request) and shutdown.
import { connect, type Socket } from "node:net"
import { Deferred, Effect, Layer } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { type RunningServer, startServer } from "../src/server.js"
import { type FakeOptions, fakeServices, groupOf, sub } from "./fixtures.js"

const started: Array<RunningServer> = []
const sockets: Array<Socket> = []
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  await Promise.all(started.splice(0).map((s) => s.close()))
})

const start = async (options: FakeOptions = {}) => {
  const fakes = fakeServices(options)
  const server = await startServer({ config: fakes.config, layer: fakes.layer, log: () => {} })
  started.push(server)
  return { server, ...fakes }
}

const open = (port: number) =>
  new Promise<Socket>((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => resolve(socket))
    socket.once("error", reject)
    sockets.push(socket)
  })

/** Everything the server sends on `socket` until it closes the connection. */
const readAll = (socket: Socket) =>
  new Promise<string>((resolve) => {
    let text = ""
    socket.setEncoding("utf8")
    socket.on("data", (chunk: string) => {
      text += chunk
    })
    socket.on("error", () => resolve(text))
    socket.on("close", () => resolve(text))
  })

const group = `/v1/subscriptions/${sub}/resourceGroups/DevTest`
const chunk = (text: string) => `${text.length.toString(16)}\r\n${text}\r\n`

describe("request bodies of unknown length (Transfer-Encoding: chunked)", () => {
  it.each(["GET", "HEAD", "POST", "DELETE"])(
    "%s: over the limit is 413 and the connection closes, before any call",
    async (method) => {
      const { server, calls, config } = await start({ config: { maxBodyBytes: 64 } })
      const socket = await open(server.port)
      const answer = readAll(socket)
      socket.write(
        `${method} ${group} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n${chunk("x".repeat(config.maxBodyBytes))}`,
      )
      // More than the limit, and no end: the server must not wait for (or read) the rest.
      socket.write(chunk("x".repeat(10)))
      const text = await answer
      expect(text).toMatch(/^HTTP\/1\.1 413 /)
      expect(text.toLowerCase()).toContain("connection: close")
      expect(calls).toEqual([])
    },
  )

  it("a small chunked body on a GET is read and ignored: the read is answered", async () => {
    const { server, calls } = await start({ config: { maxBodyBytes: 64 } })
    const socket = await open(server.port)
    const answer = readAll(socket)
    socket.end(
      `GET ${group} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n${chunk("small")}0\r\n\r\n`,
    )
    expect(await answer).toMatch(/^HTTP\/1\.1 200 /)
    expect(calls).toHaveLength(1)
  })

  it("a chunked GET of a cached group is judged too, not answered by the hot path", async () => {
    const { server } = await start({ config: { maxBodyBytes: 8 } })
    expect((await fetch(`${server.url}${group}`)).status).toBe(200)
    const socket = await open(server.port)
    const answer = readAll(socket)
    socket.write(
      `GET ${group} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n${chunk("x".repeat(20))}`,
    )
    expect(await answer).toMatch(/^HTTP\/1\.1 413 /)
  })
})

describe("shutdown", () => {
  // shutdownTimeoutMs is ten minutes: close() resolving within the test's time means it waited for
  // nothing it did not have to.
  const patient = { shutdownTimeoutMs: 600_000 }

  it("connections serving no request are closed at once: one that never sent one, an idle keep-alive one, one mid-head", async () => {
    const { server } = await start({ config: patient })
    const silent = await open(server.port)
    const keptAlive = await open(server.port)
    const kept = new Promise<string>((resolve) => {
      keptAlive.setEncoding("utf8")
      keptAlive.once("data", resolve)
    })
    keptAlive.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    expect(await kept).toMatch(/^HTTP\/1\.1 200 /)
    const partial = await open(server.port)
    partial.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    const closed = [silent, keptAlive, partial].map(
      (socket) => new Promise<void>((resolve) => socket.once("close", () => resolve())),
    )
    await server.close()
    await Promise.all(closed)
  })

  it("a request in flight is still answered (with Connection: close), and close() waits for it", async () => {
    const gate = Effect.runSync(Deferred.make<void>())
    const { server, calls } = await start({
      config: { ...patient, cacheTtlMs: 0 },
      get: (s, rg) => Effect.as(Deferred.await(gate), groupOf(s, rg)),
    })
    const idle = await open(server.port)
    const busy = await open(server.port)
    const answer = readAll(busy)
    busy.write(`GET ${group} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
    // Wait until the server holds the request: its ARM read has started and waits on the gate.
    while (calls.length === 0) await new Promise((r) => setTimeout(r, 5))
    let closed = false
    const closing = server.close().then(() => {
      closed = true
    })
    await new Promise<void>((resolve) => idle.once("close", () => resolve()))
    expect(closed).toBe(false)
    Effect.runSync(Deferred.succeed(gate, undefined))
    const text = await answer
    expect(text).toMatch(/^HTTP\/1\.1 200 /)
    expect(text.toLowerCase()).toContain("connection: close")
    await closing
  })
})

describe("shutdown and the access log", () => {
  it("waits for the log's last batch at most shutdownTimeoutMs: a reader that stopped reading does not keep it alive", async () => {
    const fakes = fakeServices({ config: { shutdownTimeoutMs: 200 } })
    let closeCalled = false
    // A log whose last batch is never written (its reader stopped reading).
    const stuck = Object.assign((_line: string) => {}, {
      close: () => {
        closeCalled = true
        return new Promise<void>(() => {})
      },
    })
    const server = await startServer({ config: fakes.config, layer: fakes.layer, log: stuck })
    const closed = await Promise.race([
      server.close().then(() => "closed"),
      new Promise((resolve) => setTimeout(() => resolve("still waiting after 5 s"), 5_000)),
    ])
    expect({ closed, closeCalled }).toEqual({ closed: "closed", closeCalled: true })
  })
})

describe("a server that cannot listen", () => {
  it("rejects, and releases the services it built (their finalizers run)", async () => {
    const fakes = fakeServices()
    let released = 0
    const tracked = Layer.merge(
      fakes.layer,
      Layer.scopedDiscard(Effect.addFinalizer(() => Effect.sync(() => void released++))),
    )
    const taken = await startServer({ config: fakes.config, layer: fakes.layer, log: () => {} })
    started.push(taken)
    await expect(
      startServer({ config: { ...fakes.config, port: taken.port }, layer: tracked, log: () => {} }),
    ).rejects.toThrow(/EADDRINUSE/)
    expect(released).toBe(1)
  })
})
