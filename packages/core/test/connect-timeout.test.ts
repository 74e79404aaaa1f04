/**
 * The connect timeout of azmi's HTTP agent fires when it says: at a dead endpoint (SYNs dropped, as at
 * IMDS off Azure) a 1 s budget fails the request at 1 s — not on undici's ~500 ms timer ticks, which
 * made it 1.5–2 s. Fake timers stand for the clock; the socket is real (a loopback listener that never
 * accepts).
 */
import { type DeadEndpoint, startDeadEndpoint } from "@azmi/emulator"
import { request } from "undici"
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest"
import { makeAgent } from "../src/internal/agent.js"

let dead: DeadEndpoint
beforeAll(async () => {
  dead = await startDeadEndpoint()
})
afterAll(() => dead.close())
afterEach(() => {
  vi.useRealTimers()
})

/** Lets socket events and promise callbacks run (the timers are fake; I/O is not). */
const settle = async (done: () => boolean) => {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((resolve) => setImmediate(resolve))
}

describe("makeAgent's connect timeout", () => {
  it("fails a request to a dead endpoint with UND_ERR_CONNECT_TIMEOUT at 1000 ms, not before", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] })
    const agent = makeAgent({ connectTimeoutMs: 1_000 })
    let outcome: string | undefined
    request(dead.url, { dispatcher: agent }).then(
      () => {
        outcome = "answered"
      },
      (error: { code?: string }) => {
        outcome = error.code ?? "failed without a code"
      },
    )
    await vi.advanceTimersByTimeAsync(999)
    await settle(() => outcome !== undefined)
    expect(outcome).toBeUndefined()
    await vi.advanceTimersByTimeAsync(1)
    await settle(() => outcome !== undefined)
    expect(outcome).toBe("UND_ERR_CONNECT_TIMEOUT")
    vi.useRealTimers()
    await agent.destroy()
  })
})
