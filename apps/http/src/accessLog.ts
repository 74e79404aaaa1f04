/**
 * The access log's lines: one JSON object per answered request, never headers, never the query. Both
 * the routed path (the app's edge middleware) and the hot paths (`hotPath.ts`) write them, so what a
 * line says and how it is escaped live here once.
 * @module
 */
import { groupRoute } from "./routes/resourceGroups.js"

/** One access-log record: what was asked, what was answered. Never headers, never the query. */
export interface AccessLogRecord {
  readonly time: string
  readonly level: "info" | "error"
  readonly msg: "request"
  readonly requestId: string
  readonly clientRequestId?: string | undefined
  readonly method: string
  readonly path: string
  readonly route: string
  readonly status: number
  readonly durationMs: number
}

/**
 * The JSON line of an access-log record: exactly `JSON.stringify(record)`, in a fraction of its time
 * (it runs on every request). Every string a client influenced goes through `JSON.stringify`.
 */
export const accessLogLine = (r: AccessLogRecord): string =>
  `{"time":"${r.time}","level":"${r.level}","msg":"request","requestId":${JSON.stringify(r.requestId)}${
    r.clientRequestId === undefined ? "" : `,"clientRequestId":${JSON.stringify(r.clientRequestId)}`
  },"method":${JSON.stringify(r.method)},"path":${JSON.stringify(r.path)},"route":${JSON.stringify(r.route)},"status":${r.status},"durationMs":${JSON.stringify(r.durationMs)}}`

/**
 * The access-log line of a hit answered by a hot path (a cached group read, IMDS's token route):
 * {@link accessLogLine} of `{ method: "GET", route, status: 200, level: "info" }` with the constant
 * parts written once. `requestId` comes from `nextRequestId` (hex and dashes) and `clientRequestId`
 * passed `clientRequestIdOf`, so neither needs escaping; `pathJson` is `JSON.stringify` of the
 * (truncated) path.
 * @internal
 */
export const hitLogLine = (route: string) => {
  const tail = `"route":${JSON.stringify(route)},"status":200,"durationMs":`
  return (
    time: string,
    requestId: string,
    clientRequestId: string | undefined,
    pathJson: string,
    durationMs: number,
  ): string =>
    `{"time":"${time}","level":"info","msg":"request","requestId":"${requestId}"${
      clientRequestId === undefined ? "" : `,"clientRequestId":"${clientRequestId}"`
    },"method":"GET","path":${pathJson},${tail}${durationMs}}`
}

/** {@link hitLogLine} of a cached group read. @internal */
export const groupHitLogLine = hitLogLine(groupRoute)

/** A path as logged: at most 512 characters, so one request cannot make a huge line. */
export const logPath = (path: string): string => (path.length > 512 ? `${path.slice(0, 512)}…` : path)

/** A duration in seconds as the line's `durationMs` (microsecond precision). */
export const durationMsOf = (seconds: number): number => Math.round(seconds * 1e6) / 1e3

// `new Date().toISOString()` once per millisecond, not once per line.
let isoMs = Number.NaN
let isoText = ""
/** The line's `time` of `now` (epoch ms). */
export const isoAt = (now: number): string => {
  if (now !== isoMs) {
    isoMs = now
    isoText = new Date(now).toISOString()
  }
  return isoText
}

/**
 * The caller's `x-ms-client-request-id`, when it is a short, plain token: it is echoed and logged, so
 * anything else is dropped.
 */
export const clientRequestIdOf = (header: string | undefined): string | undefined =>
  header !== undefined && /^[A-Za-z0-9._-]{1,128}$/.test(header) ? header : undefined
