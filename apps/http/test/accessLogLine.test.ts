import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  type AccessLogRecord,
  accessLogLine,
  clientRequestIdOf,
  groupHitLogLine,
  hitLogLine,
} from "../src/app.js"
import { getImdsToken } from "../src/routes/imds.js"
import { groupRoute } from "../src/routes/resourceGroups.js"

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

  it("groupHitLogLine is accessLogLine of a cached group read", () => {
    fc.assert(
      fc.property(
        fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        fc.uuid(),
        fc.option(fc.string({ unit: "binary" }), { nil: undefined }),
        fc.string({ unit: "binary" }),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        (time, requestId, clientHeader, path, durationMs) => {
          const clientRequestId = clientRequestIdOf(clientHeader)
          const record: AccessLogRecord = {
            time,
            level: "info",
            msg: "request",
            requestId,
            clientRequestId,
            method: "GET",
            path,
            route: groupRoute,
            status: 200,
            durationMs,
          }
          expect(groupHitLogLine(time, requestId, clientRequestId, JSON.stringify(path), durationMs)).toBe(
            accessLogLine(record),
          )
        },
      ),
    )
  })

  it("hitLogLine of IMDS's token route is accessLogLine of a hit there", () => {
    const line = hitLogLine(getImdsToken.path)
    fc.assert(
      fc.property(
        fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        fc.uuid(),
        fc.option(fc.string({ unit: "binary" }), { nil: undefined }),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        (time, requestId, clientHeader, durationMs) => {
          const clientRequestId = clientRequestIdOf(clientHeader)
          const path = getImdsToken.path
          expect(line(time, requestId, clientRequestId, JSON.stringify(path), durationMs)).toBe(
            accessLogLine({
              time,
              level: "info",
              msg: "request",
              requestId,
              clientRequestId,
              method: "GET",
              path,
              route: path,
              status: 200,
              durationMs,
            }),
          )
        },
      ),
    )
  })
})
