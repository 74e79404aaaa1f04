import { Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { parseTop, parseWholeNumber, topRange, topRule } from "../src/ResourceGroups.js"

describe("parseTop: the one parse of a user's `top` (CLI --top, azmi-http ?top=)", () => {
  it.each(["1", "25", "1000", "0007"])("%j is accepted", (raw) => {
    expect(parseTop(raw)).toEqual(Either.right(Number(raw)))
  })

  // Each of these is a number to `Number()` (and to Schema.NumberFromString), but not digits.
  it.each(["1 ", " 1", "1e2", "0x10", "+5", "-1", "1.0", "1_0", "", "٣", "Infinity", "0", "1001"])(
    "%j is refused as InvalidInput naming the field and the rule",
    (raw) => {
      const result = parseTop(raw, "top")
      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) {
        expect(result.left).toMatchObject({ _tag: "InvalidInput", field: "top", rule: topRule, value: raw })
      }
    },
  )

  it("accepts exactly the ASCII digit strings whose value is within topRange", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 6 }), fc.integer({ min: -5, max: 2_000 }).map(String)),
        (raw) => {
          const expected = /^[0-9]+$/.test(raw) && Number(raw) >= topRange.min && Number(raw) <= topRange.max
          expect(Either.isRight(parseTop(raw))).toBe(expected)
        },
      ),
    )
  })
})

describe("parseWholeNumber", () => {
  it("takes ASCII digit strings up to Number.MAX_SAFE_INTEGER, and nothing else", () => {
    expect(parseWholeNumber("0")).toBe(0)
    expect(parseWholeNumber("0042")).toBe(42)
    expect(parseWholeNumber(String(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER)
    for (const raw of ["", " 1", "1 ", "1e2", "0x10", "+1", "-1", "1.5", "١", String(2 ** 53)])
      expect(parseWholeNumber(raw)).toBeUndefined()
  })
})
