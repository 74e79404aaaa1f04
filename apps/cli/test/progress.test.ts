import { describe, expect, it } from "vitest"
import { makeProgress, retryWaitOf } from "../src/progress.js"

const entry = (message: string, annotations: Record<string, unknown> = {}) => ({
  level: "INFO",
  message,
  annotations,
})

describe("progress line", () => {
  it("recognises the core's retry-wait log lines, by annotation or by text", () => {
    expect(
      retryWaitOf(entry("IMDS token failed (410 Gone); retrying in 10000 ms", { waitMs: 10000 }))?.waitMs,
    ).toBe(10000)
    expect(retryWaitOf(entry("ARM GET retry in 1500 ms (429)"))?.waitMs).toBe(1500)
    expect(retryWaitOf(entry("waiting 3 s for IMDS"))?.waitMs).toBe(3000)
    expect(retryWaitOf(entry("ARM GET /subscriptions/x → 200"))).toBeUndefined()
  })

  it("on a TTY writes one self-overwriting line and erases it", () => {
    let out = ""
    let now = 1_000
    const p = makeProgress({ write: (s) => (out += s), isTTY: true }, () => now)
    p.onLog(entry("IMDS token failed (410); retrying in 10000 ms", { waitMs: 10000 }))
    now += 10_000
    p.onLog(entry("IMDS token failed (410); retrying in 10000 ms", { waitMs: 10000 }))
    p.onLog(entry("unrelated"))
    p.clear()
    const frames = out.split("\r\x1b[K")
    expect(frames).toEqual([
      "",
      "… IMDS token failed (410): next attempt in 10 s, waited 0.0 s so far; IMDS says it is back within 70 s",
      "… IMDS token failed (410): next attempt in 10 s, waited 10 s so far; IMDS says it is back within 70 s",
      "",
    ])
  })

  it("the line quotes the core's message with its control characters escaped", () => {
    let out = ""
    const p = makeProgress({ write: (s) => (out += s), isTTY: true })
    p.onLog(entry("ARM said \u001b[2J\nhi; retrying in 10 s", { waitMs: 10000 }))
    expect(out).toBe("\r\u001b[K… ARM said \\u001b[2J\\nhi: next attempt in 10 s, waited 0.0 s so far")
  })

  it("prints nothing when stderr is not a TTY", () => {
    let out = ""
    const p = makeProgress({ write: (s) => (out += s), isTTY: false })
    p.onLog(entry("retrying in 10 s", { waitMs: 10000 }))
    p.clear()
    expect(out).toBe("")
  })
})
