import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { type AccessLogRecord, accessLogLine } from "../src/app.js"

describe("accessLogLine", () => {
  it("is exactly JSON.stringify of the record, whatever the strings contain", () => {
    fc.assert(
      fc.property(
        fc.record({
          time: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          level: fc.constantFrom("info" as const, "error" as const),
          msg: fc.constant("request" as const),
          requestId: fc.oneof(fc.uuid(), fc.string()),
          clientRequestId: fc.option(fc.string({ unit: "binary" }), { nil: undefined }),
          method: fc.string(),
          path: fc.string({ unit: "binary" }),
          route: fc.string(),
          status: fc.integer({ min: 100, max: 599 }),
          durationMs: fc.double({ min: 0, max: 1e6, noNaN: true }),
        }),
        (record: AccessLogRecord) => {
          expect(accessLogLine(record)).toBe(JSON.stringify(record))
        },
      ),
    )
  })
})
