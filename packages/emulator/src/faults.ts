/**
 * Fault injection: scripted misbehaviour for the emulator's Azure-facing routes (status codes, Retry-After,
 * latency, connection resets, malformed bodies), for the next N matching requests or with a probability.
 *
 * Routes answer through {@link respondWithFaults}, which consults a {@link FaultController}:
 *
 * @example
 * ```ts
 * const faults = new FaultController()
 * faults.inject({ target: "imds-token", status: 503, count: 2 })
 * // in a route handler:
 * const status = await respondWithFaults({
 *   faults, target: "imds-token", path: url.pathname, req, res,
 *   produce: () => ({ status: 200, headers: { "content-type": "application/json; charset=utf-8" }, body }),
 * })
 * requests.record({ at: Date.now(), target: "imds-token", method: req.method ?? "GET", path: url.pathname, query, status })
 * ```
 * @module
 */
import { randomUUID } from "node:crypto"
import type { IncomingMessage, ServerResponse } from "node:http"
import { HOST_FAULT_BODIES, type HostFaultTarget } from "./hosts/errors.js"

/** Which family of routes a fault applies to (a host's managed-identity endpoint: `<source>-token`). */
export type FaultTarget = "imds-token" | "imds-instance" | "arm" | "login" | HostFaultTarget

export const faultTargets: ReadonlyArray<FaultTarget> = [
  "imds-token",
  "imds-instance",
  "arm",
  "login",
  ...(Object.keys(HOST_FAULT_BODIES) as HostFaultTarget[]),
]

export type MalformedKind = "invalid-json" | "truncated" | "missing-expires-on" | "missing-access-token"

export const malformedKinds: ReadonlyArray<MalformedKind> = [
  "invalid-json",
  "truncated",
  "missing-expires-on",
  "missing-access-token",
]

/** A scripted fault (the public contract; see the package README). */
export interface FaultSpec {
  readonly target: FaultTarget
  /** Answer with this status instead of running the route, with an Azure-shaped error body unless `body` is given. */
  readonly status?: number
  /** Raw body to send: the whole answer with `status`, else it replaces the route's own body. */
  readonly body?: string
  /** Extra response headers (override the route's own). */
  readonly headers?: Readonly<Record<string, string>>
  /** Sets `Retry-After` (delta seconds or an HTTP-date). */
  readonly retryAfter?: number | string
  /** Delay before answering; then answer normally unless another field says otherwise. */
  readonly latencyMs?: number
  /** Destroy the socket without answering (after `latencyMs`, if any). */
  readonly reset?: boolean
  /** Mangle the route's normal 2xx body (non-2xx answers pass through untouched). */
  readonly malformed?: MalformedKind
  /** Apply to the next N matching requests (default 1); `Infinity` = until cleared. */
  readonly count?: number
  /** 0..1: apply to each matching request with this probability; lasts until cleared unless `count` is also given. */
  readonly probability?: number
  /** Only requests whose path contains this (case-insensitive). */
  readonly pathIncludes?: string
}

/** A fault as the controller holds it: `remaining` counts down (Infinity = until cleared). */
export interface ActiveFault {
  readonly id: string
  readonly spec: FaultSpec
  readonly remaining: number
  /** How many requests it has been applied to so far. */
  readonly applied: number
}

/** Thrown by {@link parseFaultSpec} (and `FaultController.inject`) with the offending field and rule. */
export class FaultSpecError extends Error {
  override readonly name = "FaultSpecError"
}

const MAX_LATENCY_MS = 10 * 60_000
// RFC 7230 token for header names; values must not carry CR/LF (Node would throw at write time).
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const fail = (field: string, rule: string): never => {
  throw new FaultSpecError(`faultSpec.${field}: ${rule}`)
}

const knownFields = new Set([
  "target",
  "status",
  "body",
  "headers",
  "retryAfter",
  "latencyMs",
  "reset",
  "malformed",
  "count",
  "probability",
  "pathIncludes",
])

/**
 * Validate untrusted input (e.g. the control API's JSON body) into a {@link FaultSpec}.
 * `count` may be the string `"Infinity"` (JSON has no Infinity); unknown fields are rejected so typos do not
 * silently inject a no-op fault.
 *
 * @throws FaultSpecError naming the field and the rule, e.g. `faultSpec.status: must be an integer 100..599`
 */
export const parseFaultSpec = (input: unknown): FaultSpec => {
  if (!isRecord(input)) return fail("(root)", "must be a JSON object")
  for (const key of Object.keys(input)) if (!knownFields.has(key)) fail(key, "unknown field")
  const spec: {
    -readonly [K in keyof FaultSpec]: FaultSpec[K]
  } = { target: "imds-token" }

  const target = input.target
  if (typeof target !== "string" || !faultTargets.includes(target as FaultTarget)) {
    fail("target", `must be one of ${faultTargets.map((t) => `"${t}"`).join(", ")}`)
  }
  spec.target = target as FaultTarget

  if (input.status !== undefined) {
    const s = input.status
    if (typeof s !== "number" || !Number.isInteger(s) || s < 100 || s > 599)
      fail("status", "must be an integer 100..599")
    spec.status = s as number
  }
  if (input.body !== undefined) {
    if (typeof input.body !== "string") fail("body", "must be a string")
    spec.body = input.body as string
  }
  if (input.headers !== undefined) {
    const h = input.headers
    if (!isRecord(h)) return fail("headers", "must be an object of header name to string value")
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(h)) {
      if (!HEADER_NAME.test(name)) fail(`headers["${name}"]`, "is not a valid HTTP header name")
      if (typeof value !== "string" || !HEADER_VALUE.test(value)) {
        fail(`headers["${name}"]`, "must be a string without control characters")
      }
      headers[name] = value as string
    }
    spec.headers = headers
  }
  if (input.retryAfter !== undefined) {
    const r = input.retryAfter
    if (typeof r === "number") {
      if (!Number.isInteger(r) || r < 0)
        fail("retryAfter", "must be a non-negative integer (seconds) or an HTTP-date")
    } else if (typeof r !== "string" || r.length === 0 || !HEADER_VALUE.test(r)) {
      fail("retryAfter", "must be a non-negative integer (seconds) or an HTTP-date")
    }
    spec.retryAfter = r as number | string
  }
  if (input.latencyMs !== undefined) {
    const l = input.latencyMs
    if (typeof l !== "number" || !Number.isFinite(l) || l < 0 || l > MAX_LATENCY_MS) {
      fail("latencyMs", `must be a number of milliseconds 0..${MAX_LATENCY_MS}`)
    }
    spec.latencyMs = l as number
  }
  if (input.reset !== undefined) {
    if (typeof input.reset !== "boolean") fail("reset", "must be a boolean")
    spec.reset = input.reset as boolean
  }
  if (input.malformed !== undefined) {
    if (typeof input.malformed !== "string" || !malformedKinds.includes(input.malformed as MalformedKind)) {
      fail("malformed", `must be one of ${malformedKinds.map((k) => `"${k}"`).join(", ")}`)
    }
    spec.malformed = input.malformed as MalformedKind
  }
  if (input.count !== undefined) {
    const c = input.count === "Infinity" ? Number.POSITIVE_INFINITY : input.count
    if (typeof c !== "number" || !(c === Number.POSITIVE_INFINITY || (Number.isInteger(c) && c >= 1))) {
      fail("count", 'must be a positive integer or Infinity (the string "Infinity" in JSON)')
    }
    spec.count = c as number
  }
  if (input.probability !== undefined) {
    const p = input.probability
    if (typeof p !== "number" || !(p >= 0 && p <= 1)) fail("probability", "must be a number 0..1")
    spec.probability = p as number
  }
  if (input.pathIncludes !== undefined) {
    if (typeof input.pathIncludes !== "string" || input.pathIncludes.length === 0) {
      fail("pathIncludes", "must be a non-empty string")
    }
    spec.pathIncludes = input.pathIncludes as string
  }

  if (
    spec.reset === true &&
    (spec.status !== undefined || spec.body !== undefined || spec.malformed !== undefined)
  ) {
    fail("reset", "cannot be combined with status, body or malformed (a reset sends nothing)")
  }
  if (spec.malformed !== undefined && (spec.status !== undefined || spec.body !== undefined)) {
    fail("malformed", "cannot be combined with status or body (it mangles the route's own success body)")
  }
  const effective =
    spec.status !== undefined ||
    spec.body !== undefined ||
    spec.headers !== undefined ||
    spec.retryAfter !== undefined ||
    spec.latencyMs !== undefined ||
    spec.reset === true ||
    spec.malformed !== undefined
  if (!effective)
    fail("(root)", "must set at least one of status, body, headers, retryAfter, latencyMs, reset, malformed")
  return spec
}

export interface FaultControllerOptions {
  /** Source of randomness for `probability` (default `Math.random`); inject one for deterministic tests. */
  readonly random?: () => number
}

interface MutableFault {
  readonly id: string
  readonly spec: FaultSpec
  remaining: number
  applied: number
}

/**
 * Holds the active faults. Faults are matched in injection order; the first one whose `target` and
 * `pathIncludes` match (and whose probability roll succeeds) is applied and its count decremented.
 */
export class FaultController {
  readonly #random: () => number
  #faults: Array<MutableFault> = []

  constructor(options: FaultControllerOptions = {}) {
    this.#random = options.random ?? Math.random
  }

  /**
   * Add a fault. The spec is validated like untrusted input ({@link parseFaultSpec}).
   * @throws FaultSpecError when the spec is invalid
   */
  inject(spec: FaultSpec): { id: string } {
    const parsed = parseFaultSpec(spec)
    const id = randomUUID()
    const remaining = parsed.count ?? (parsed.probability !== undefined ? Number.POSITIVE_INFINITY : 1)
    this.#faults.push({ id, spec: parsed, remaining, applied: 0 })
    return { id }
  }

  /** Remove every fault. */
  clear(): void {
    this.#faults = []
  }

  /** Remove one fault; false if it was not active (already used up, cleared or never existed). */
  remove(id: string): boolean {
    const before = this.#faults.length
    this.#faults = this.#faults.filter((f) => f.id !== id)
    return this.#faults.length !== before
  }

  /** The active faults, in matching order (snapshots). */
  list(): ReadonlyArray<ActiveFault> {
    return this.#faults.map((f) => ({ id: f.id, spec: f.spec, remaining: f.remaining, applied: f.applied }))
  }

  /**
   * Claim the fault for one request, if any: called once per request by {@link respondWithFaults}.
   * Consumes one use of the matched fault (removing it when used up).
   */
  take(target: FaultTarget, path: string): FaultSpec | undefined {
    const lowerPath = path.toLowerCase()
    for (const f of this.#faults) {
      if (f.spec.target !== target) continue
      if (f.spec.pathIncludes !== undefined && !lowerPath.includes(f.spec.pathIncludes.toLowerCase()))
        continue
      if (f.spec.probability !== undefined && !(this.#random() < f.spec.probability)) continue
      f.applied++
      f.remaining--
      if (f.remaining <= 0) this.#faults = this.#faults.filter((g) => g !== f)
      return f.spec
    }
    return undefined
  }
}

/** What a route would answer without faults. */
export interface Reply {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

export interface RespondOptions {
  readonly faults: FaultController
  readonly target: FaultTarget
  /** The request path (no query); matched against `pathIncludes`. */
  readonly path: string
  readonly req: IncomingMessage
  readonly res: ServerResponse
  /**
   * Runs the route. Not called when the fault answers by itself (`status`, `reset`), so a faulted IMDS token
   * request does not fill the token cache and a faulted ARM write changes nothing.
   */
  readonly produce: () => Promise<Reply> | Reply
}

const imdsTokenErrors: Record<number, readonly [string, string]> = {
  400: ["invalid_request", "Bad request"],
  401: ["unauthorized_client", "The client is not authorized"],
  403: ["forbidden", "Forbidden"],
  404: [
    "not_found",
    "IMDS is updating; the identity endpoint is not available yet. Retry with exponential back-off.",
  ],
  405: ["method_not_allowed", "The requested method is not allowed"],
  410: ["service_unavailable", "IMDS is going through updates; IMDS will be available within 70 seconds"],
  429: ["too_many_requests", "Too many requests. Retry after some time."],
  500: [
    "unknown",
    "Failed to retrieve token from the Active directory. For details see logs in /var/log/azure/imds.log",
  ],
  503: ["service_unavailable", "The service is temporarily unavailable. Retry after some time."],
}

const imdsInstanceErrors: Record<number, string> = {
  400: "Bad request",
  404: "Not found",
  405: "Method not allowed",
  410: "IMDS is going through updates. Retry after some time for a max of 70 seconds.",
  429: "Too many requests",
  500: "Internal server error",
  503: "Service unavailable",
}

const loginErrors: Record<number, readonly [string, string]> = {
  400: [
    "invalid_request",
    "AADSTS900144: The request body must contain the following parameter: 'grant_type'.",
  ],
  401: ["invalid_client", "AADSTS7000215: Invalid client secret provided."],
  429: [
    "temporarily_unavailable",
    "AADSTS50196: The server terminated an operation because it encountered a loop.",
  ],
  500: [
    "server_error",
    "AADSTS50000: There was an error issuing a token or an issue with our sign-in service.",
  ],
  503: ["temporarily_unavailable", "AADSTS90033: A transient error has occurred. Please try again."],
}

const retryAfterSeconds = (retryAfter: number | string | undefined): string =>
  typeof retryAfter === "number" ? String(retryAfter) : "10"

const armError = (
  status: number,
  path: string,
  retryAfter: number | string | undefined,
): [string, string] => {
  const sub = /\/subscriptions\/([^/?]+)/i.exec(path)?.[1] ?? "00000000-0000-0000-0000-000000000000"
  switch (status) {
    case 400:
      return ["BadRequest", "The request is invalid."]
    case 401:
      return ["AuthenticationFailed", "Authentication failed."]
    case 403:
      return ["AuthorizationFailed", "The client does not have authorization to perform this action."]
    case 404:
      return ["NotFound", `The resource at '${path}' could not be found.`]
    case 409:
      return ["Conflict", "The request conflicts with the current state of the resource."]
    case 429:
      return [
        "SubscriptionRequestsThrottled",
        `Number of 'read' requests for subscription '${sub}' exceeded. Please try again after '${retryAfterSeconds(retryAfter)}' seconds.`,
      ]
    case 500:
      return [
        "InternalServerError",
        `Encountered internal server error. Diagnostic information: timestamp '${new Date().toISOString()}', subscription id '${sub}', tracking id '${randomUUID()}', request correlation id '${randomUUID()}'.`,
      ]
    case 502:
      return ["BadGateway", "The gateway received an invalid response from the upstream server."]
    case 503:
      return ["ServiceUnavailable", "The server (leader) is currently unable to handle the request."]
    case 504:
      return [
        "GatewayTimeout",
        "The gateway did not receive a response from 'Microsoft.Resources' within the specified time period.",
      ]
    default:
      return status >= 500
        ? ["InternalServerError", "Encountered internal server error."]
        : ["BadRequest", `The request failed with status ${status}.`]
  }
}

/**
 * The error body a real Azure endpoint of this target sends with `status`:
 * - `imds-token`: `{"error":"<oauth code>","error_description":"<text>"}` (e.g. 429 → `too_many_requests`)
 * - `imds-instance`: `{"error":"<text>"}` (the IMDS spec's `ErrorResponse` for non-identity endpoints)
 * - `arm`: `{"error":{"code":"<PascalCase>","message":"<text>"}}` (e.g. 429 → `SubscriptionRequestsThrottled`)
 * - `login`: Entra's `{"error","error_description","error_codes","timestamp","trace_id","correlation_id"}`
 * - a host's target (`app-service-token`, `service-fabric-token`, …): that host's error shape (hosts/errors.ts)
 */
export const azureErrorBody = (
  target: FaultTarget,
  status: number,
  path = "/",
  retryAfter?: number | string,
): string => {
  switch (target) {
    case "imds-token": {
      const [error, description] =
        imdsTokenErrors[status] ??
        (status >= 500
          ? ["server_error", "Internal server error"]
          : ["bad_request", `Request failed (${status})`])
      return JSON.stringify({ error, error_description: description })
    }
    case "imds-instance":
      return JSON.stringify({ error: imdsInstanceErrors[status] ?? `Request failed (${status})` })
    case "arm": {
      const [code, message] = armError(status, path, retryAfter)
      return JSON.stringify({ error: { code, message } })
    }
    case "login": {
      const [error, description] =
        loginErrors[status] ??
        (status >= 500
          ? ["server_error", "AADSTS50000: Server error."]
          : ["invalid_request", "AADSTS90000: Bad request."])
      const traceId = randomUUID()
      const correlationId = randomUUID()
      const timestamp = new Date()
        .toISOString()
        .replace("T", " ")
        .replace(/\.\d+Z$/, "Z")
      const code = Number(/AADSTS(\d+)/.exec(description)?.[1] ?? 0)
      return JSON.stringify({
        error,
        error_description: `${description}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
        error_codes: [code],
        timestamp,
        trace_id: traceId,
        correlation_id: correlationId,
      })
    }
    default:
      return HOST_FAULT_BODIES[target](status)
  }
}

/**
 * Mangle a success body:
 * - `invalid-json`: the JSON with a trailing comma before its closing brace (`{…,}`), which `JSON.parse` rejects
 * - `truncated`: the first half of the body; `Content-Length` matches, so the HTTP exchange itself is complete
 * - `missing-expires-on` / `missing-access-token`: that field deleted from the JSON object (body unchanged if the
 *   body is not a JSON object)
 */
export const mangleBody = (body: string, kind: MalformedKind): string => {
  switch (kind) {
    case "invalid-json": {
      const trimmed = body.trimEnd()
      return trimmed.endsWith("}") ? `${trimmed.slice(0, -1)},}` : `${trimmed}{`
    }
    case "truncated":
      return body.slice(0, Math.floor(body.length / 2))
    case "missing-expires-on":
    case "missing-access-token": {
      const field = kind === "missing-expires-on" ? "expires_on" : "access_token"
      try {
        const parsed: unknown = JSON.parse(body)
        if (!isRecord(parsed)) return body
        const { [field]: _dropped, ...rest } = parsed
        return JSON.stringify(rest)
      } catch {
        return body
      }
    }
  }
}

/** Wait `ms`, or less if the client connection closes meanwhile (so `emu.close()` is never held up). */
const delay = (ms: number, res: ServerResponse): Promise<void> =>
  new Promise((resolve) => {
    if (ms <= 0 || res.destroyed) return resolve()
    const done = () => {
      clearTimeout(timer)
      res.off("close", done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    res.once("close", done)
  })

const send = (
  res: ServerResponse,
  status: number,
  headers: Readonly<Record<string, string>>,
  body: string,
) => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = v
  // 204 and 304 carry no body by definition; HEAD keeps the would-be length (Node drops the body itself).
  if (status === 204 || status === 304) {
    delete out["content-length"]
    res.writeHead(status, out)
    res.end()
    return
  }
  out["content-length"] = String(Buffer.byteLength(body))
  res.writeHead(status, out)
  res.end(body)
}

const jsonContentType = "application/json; charset=utf-8"

const errorHeaders = (target: FaultTarget): Record<string, string> => {
  const headers: Record<string, string> = { "content-type": jsonContentType }
  if (target === "arm") {
    const id = randomUUID()
    headers["x-ms-request-id"] = id
    headers["x-ms-correlation-request-id"] = id
    headers["cache-control"] = "no-cache"
  }
  return headers
}

/**
 * Answer one request, applying the fault `faults.take(target, path)` returns (if any). Resolves to the status
 * sent, or 0 when the socket was reset (or the client went away during the latency) — record that in the
 * {@link RequestLog}.
 *
 * Order: `latencyMs` first; then `reset` destroys the socket; else `status` answers with `body` (or the
 * target's Azure-shaped error body, see {@link azureErrorBody}) without calling `produce`; else `produce()`
 * runs and its answer is sent, with `malformed` applied to a 2xx body and `body` replacing it. `headers` and
 * `retryAfter` are added last in every case. If `produce` throws, the client gets a 500 Azure-shaped error.
 */
export const respondWithFaults = async (opts: RespondOptions): Promise<number> => {
  const { faults, target, path, req, res } = opts
  const fault = faults.take(target, path)
  if (fault?.latencyMs !== undefined) {
    await delay(fault.latencyMs, res)
    if (res.destroyed || req.socket.destroyed) return 0
  }
  if (fault?.reset === true) {
    req.socket.destroy()
    return 0
  }

  let reply: Reply
  if (fault?.status !== undefined) {
    reply = {
      status: fault.status,
      headers: errorHeaders(target),
      body: fault.body ?? azureErrorBody(target, fault.status, path, fault.retryAfter),
    }
  } else {
    try {
      reply = await opts.produce()
    } catch {
      reply = { status: 500, headers: errorHeaders(target), body: azureErrorBody(target, 500, path) }
    }
    if (fault?.malformed !== undefined && reply.status >= 200 && reply.status < 300) {
      reply = { ...reply, body: mangleBody(reply.body, fault.malformed) }
    }
    if (fault?.body !== undefined) reply = { ...reply, body: fault.body }
  }

  let headers: Record<string, string> = { ...reply.headers }
  if (fault?.retryAfter !== undefined) headers["retry-after"] = String(fault.retryAfter)
  if (fault?.headers !== undefined) headers = { ...headers, ...fault.headers }
  if (res.destroyed || req.socket.destroyed) return 0
  send(res, reply.status, headers, reply.body)
  return reply.status
}
