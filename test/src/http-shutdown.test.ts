/**
 * End to end: SIGTERM while azmi-http is serving loses no in-flight request — it stops accepting,
 * finishes what it has, then exits 0.
 */
import { Agent, get } from "node:http"
import { connect, type Socket } from "node:net"
import { type Emulator, startEmulator } from "@azmi/emulator"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { grantReader, type HttpChild, startHttp } from "./http-support.js"

const getJson = (url: string, agent: Agent) =>
  new Promise<{ status: number; body: { name?: string }; at: number }>((resolve) => {
    const req = get(url, { agent }, (res) => {
      let text = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => {
        text += chunk
      })
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), at: Date.now() }))
    })
    req.once("error", (error) => resolve({ status: -1, body: { name: String(error) }, at: Date.now() }))
  })

const getText = async (url: string) => (await fetch(url)).text()

const waitFor = async (predicate: () => Promise<boolean>) => {
  for (let i = 0; i < 200; i++) {
    if (await predicate()) return
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error("timed out waiting for 60 requests in flight")
}

let emu: Emulator
let http: HttpChild | undefined

beforeAll(async () => {
  emu = await startEmulator({
    limits: { imdsRequestsPerSecond: Infinity, imdsConcurrency: Infinity, armReadBucket: Infinity },
  })
  await grantReader(emu, emu.vm.systemAssigned?.principalId ?? "", `/subscriptions/${emu.subscriptionId}`)
})

afterAll(async () => {
  await http?.stop()
  await emu?.close()
})

describe("graceful shutdown", () => {
  it("SIGTERM during load: every accepted request is answered, then exit 0", async () => {
    // No cache, and ARM slowed down, so many requests are truly in flight when the signal arrives.
    http = await startHttp(emu, { AZMI_HTTP_CACHE_TTL_MS: "0" })
    const url = `${http.url}/v1/subscriptions/${emu.subscriptionId}/resourceGroups/DevTest`
    expect((await fetch(url)).status).toBe(200)
    emu.faults.inject({ target: "arm", latencyMs: 1_500, count: Infinity })
    // A keep-alive client like a real neighbour's; each request gets its own connection.
    const agent = new Agent({ keepAlive: true, maxSockets: 100 })
    const inFlight = Array.from({ length: 60 }, () => getJson(url, agent))
    // Wait until azmi-http holds all 60 (its in-flight gauge; this scrape is the 61st): the signal
    // then lands while every one of them is waiting on ARM.
    const metrics = `${http.url}/metrics`
    await waitFor(async () => /azmi_http_requests_in_flight (\d+)/.exec(await getText(metrics))?.[1] === "61")
    const killedAt = Date.now()
    http.child.kill("SIGTERM")
    const results = await Promise.all(inFlight)
    expect(results.filter((r) => r.status !== 200)).toEqual([])
    expect(results.every((r) => r.body.name === "DevTest")).toBe(true)
    // Every one of them was answered after the signal, i.e. was in flight when it arrived.
    expect(results.every((r) => r.at > killedAt)).toBe(true)
    expect(await http.exited).toBe(0)
    agent.destroy()
    // It no longer accepts connections.
    await expect(fetch(url)).rejects.toThrow()
    emu.faults.clear()
  })

  it("SIGTERM while idle, with open connections serving no request: exit 0 at once, not after the drain limit", async () => {
    // Ten minutes to drain: the exit must not wait for connections that have nothing in flight.
    const idle = await startHttp(emu, { AZMI_HTTP_SHUTDOWN_TIMEOUT_MS: "600000" })
    const { port } = new URL(idle.url)
    const sockets: Array<Socket> = []
    const open = () =>
      new Promise<Socket>((resolve, reject) => {
        const socket = connect(Number(port), "127.0.0.1", () => resolve(socket))
        socket.once("error", reject)
        socket.resume()
        sockets.push(socket)
      })
    await open() // connected, never sends a request (a preconnecting client)
    ;(await open()).write("GET /healthz HTTP/1.1\r\nHost: x\r\n") // half a request head
    const agent = new Agent({ keepAlive: true })
    await getJson(`${idle.url}/healthz`, agent) // an idle keep-alive connection
    idle.child.kill("SIGTERM")
    expect(await idle.exited).toBe(0)
    agent.destroy()
    for (const socket of sockets) socket.destroy()
  })
})
