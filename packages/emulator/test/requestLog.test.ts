import { describe, expect, it } from "vitest"
import { RequestLog } from "../src/requestLog.js"

const rec = (over: Partial<Parameters<RequestLog["record"]>[0]> = {}) => ({
  at: 1,
  target: "imds-token" as const,
  method: "GET",
  path: "/metadata/identity/oauth2/token",
  query: "api-version=2018-02-01",
  status: 200,
  ...over,
})

describe("RequestLog", () => {
  it("counts by target, method (case-insensitive), path substring (case-insensitive) and status", () => {
    const log = new RequestLog()
    log.record(rec())
    log.record(rec({ status: 429 }))
    log.record(rec({ target: "arm", method: "head", path: "/subscriptions/s/resourcegroups/DevTest" }))
    log.record(rec({ target: "arm", path: "/subscriptions/s/resourceGroups/Other" }))
    expect(log.count()).toBe(4)
    expect(log.count({ target: "imds-token" })).toBe(2)
    expect(log.count({ target: "imds-token", status: 429 })).toBe(1)
    expect(log.count({ method: "HEAD" })).toBe(1)
    expect(log.count({ pathIncludes: "RESOURCEGROUPS" })).toBe(2)
    expect(log.count({ target: "arm", pathIncludes: "devtest" })).toBe(1)
    expect(log.count({ target: "login" })).toBe(0)
  })

  it("lists records oldest first with the method upper-cased, as a snapshot", () => {
    const log = new RequestLog()
    log.record(rec({ method: "get", at: 1 }))
    const snapshot = log.list()
    log.record(rec({ at: 2, target: "arm" }))
    expect(snapshot).toHaveLength(1)
    expect(snapshot[0]?.method).toBe("GET")
    expect(log.list().map((r) => r.at)).toEqual([1, 2])
    expect(log.list({ target: "arm" }).map((r) => r.at)).toEqual([2])
  })

  it("keeps counts exact when the list is capped", () => {
    const log = new RequestLog({ maxRecords: 10 })
    for (let i = 0; i < 1000; i++) log.record(rec({ at: i }))
    expect(log.count()).toBe(1000)
    const list = log.list()
    expect(list).toHaveLength(10)
    expect(list[0]?.at).toBe(990)
    expect(list[9]?.at).toBe(999)
  })

  it("reset forgets records and counts", () => {
    const log = new RequestLog()
    log.record(rec())
    log.reset()
    expect(log.count()).toBe(0)
    expect(log.list()).toEqual([])
    log.record(rec())
    expect(log.count()).toBe(1)
  })
})
