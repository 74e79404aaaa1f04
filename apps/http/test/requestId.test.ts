import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { nextRequestId, requestIdSource } from "../src/requestId.js"

const uuidV4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe("request ids", () => {
  it("are UUID-shaped (version 4 layout) and unique", () => {
    const ids = Array.from({ length: 10_000 }, () => nextRequestId())
    for (const id of ids) expect(id).toMatch(uuidV4)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it("two processes (sources) do not share ids", () => {
    const a = requestIdSource()
    const b = requestIdSource()
    const ids = new Set<string>()
    for (let i = 0; i < 1_000; i++) {
      ids.add(a())
      ids.add(b())
    }
    expect(ids.size).toBe(2_000)
  })

  it("the 48-bit counter carries from its low 32 bits into the high 16 and wraps at 2^48", () => {
    const prefix = "00000000-0000-4000-8000-"
    const carry = requestIdSource(prefix, 2 ** 32 - 1)
    expect(carry()).toBe(`${prefix}0000ffffffff`)
    expect(carry()).toBe(`${prefix}000100000000`)
    const wrap = requestIdSource(prefix, 2 ** 48 - 1)
    expect(wrap()).toBe(`${prefix}ffffffffffff`)
    expect(wrap()).toBe(`${prefix}000000000000`)
  })

  it("the counter part is the start value in hex, for any start", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), (start) => {
        const next = requestIdSource("00000000-0000-4000-8000-", start)
        expect(next().slice(24)).toBe(start.toString(16).padStart(12, "0"))
        expect(next().slice(24)).toBe(((start + 1) % 2 ** 48).toString(16).padStart(12, "0"))
      }),
    )
  })
})
