/**
 * The wire under {@link ArmClient}: send one HTTP request, get status, headers and body text back.
 *
 * Two implementations: over any `@effect/platform` `HttpClient` (what tests and custom transports
 * inject), and straight over an undici `Agent` (what `Azmi.layer` uses). Measured against the emulator,
 * the platform client's per-request machinery cost about as much CPU as the whole request through
 * undici, so ARM's hot path goes to undici directly. The bearer token is unwrapped from `Redacted` only
 * here, at the edge.
 * @module
 */
import { type HttpClient, type HttpClientError, HttpClientRequest } from "@effect/platform"
import { Duration, Effect, Redacted, type Scope } from "effect"
import type { Agent, Dispatcher } from "undici"
import { USER_AGENT } from "./HttpTransport.js"
import { makeAgent } from "./internal/agent.js"
import { classifyTransport } from "./internal/transportFailure.js"

/** One request as ARM receives it. */
export interface WireRequest {
  readonly method: "GET" | "HEAD" | "PUT" | "PATCH" | "DELETE" | "POST"
  readonly url: string
  /** Lower-case names; the token travels separately so it stays redacted until the socket. */
  readonly headers: Readonly<Record<string, string>>
  readonly bearer: Redacted.Redacted<string>
  /** JSON text. */
  readonly body?: string | undefined
  /** Budget of this attempt: no response (or a stalled body) within it is an `AttemptTimeout`. */
  readonly timeoutMs: number
}

/** What came back: lower-case header names. */
export interface WireResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly text: string
}

/**
 * Nothing usable came back: refused, reset… (`Transport`, worth retrying), a server certificate that
 * failed verification (`Certificate`, permanent), or nothing within the attempt's budget.
 */
export type WireFailure =
  | { readonly _tag: "Transport"; readonly detail: string }
  | { readonly _tag: "Certificate"; readonly code: string; readonly detail: string }
  | { readonly _tag: "AttemptTimeout" }

export type Wire = (request: WireRequest) => Effect.Effect<WireResponse, WireFailure>

const describe = (cause: unknown): string => {
  if (!(cause instanceof Error)) return String(cause)
  const inner = (cause as Error & { cause?: unknown }).cause
  const code = (cause as Error & { code?: unknown }).code
  const base = typeof code === "string" ? `${code}: ${cause.message}` : cause.message
  return inner instanceof Error ? `${base}: ${inner.message}` : base
}

/** The wire over an `@effect/platform` HttpClient. */
export const fromHttpClient =
  (client: HttpClient.HttpClient): Wire =>
  (request) => {
    let req = HttpClientRequest.make(request.method)(request.url).pipe(
      HttpClientRequest.setHeaders(request.headers),
      HttpClientRequest.bearerToken(request.bearer),
    )
    if (request.body !== undefined) req = HttpClientRequest.bodyText(req, request.body, "application/json")
    return client.execute(req).pipe(
      Effect.flatMap((res) =>
        Effect.map(
          request.method === "HEAD" ? Effect.succeed("") : res.text,
          (text): WireResponse => ({ status: res.status, headers: res.headers, text }),
        ),
      ),
      Effect.scoped,
      Effect.mapError(
        (e: HttpClientError.HttpClientError): WireFailure =>
          e.cause === undefined ? { _tag: "Transport", detail: e.reason } : transportFailure(e.cause),
      ),
      // On the Clock, so tests drive it with TestClock.
      Effect.timeoutFail({
        duration: Duration.millis(request.timeoutMs),
        onTimeout: (): WireFailure => ({ _tag: "AttemptTimeout" }),
      }),
    )
  }

/** Options of {@link undiciAgent}. */
export interface UndiciWireOptions {
  /** TCP + TLS connect budget. Default 10 s (a handshake with a remote ARM, not a link-local IMDS). */
  readonly connectTimeoutMs?: number | undefined
  /** Extra trusted CA (PEM), added to Node's roots. */
  readonly caCert?: string | undefined
  /** Keep-alive connections per origin; more concurrent requests queue on them. Default 64. */
  readonly connections?: number | undefined
}

/** An undici Agent for ARM, closed with the scope. */
export const undiciAgent = (options: UndiciWireOptions = {}): Effect.Effect<Agent, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() =>
      makeAgent({
        connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
        caCert: options.caCert,
        connections: options.connections ?? 64,
      }),
    ),
    (agent) => Effect.promise(() => agent.destroy()),
  )

/**
 * undici's parsed headers as one record, repeated headers joined with ", ". The object is the one undici
 * parsed for this response alone, so it is reused rather than copied.
 */
const flatten = (
  headers: Record<string, string | Array<string> | undefined>,
): Record<string, string | undefined> => {
  for (const key in headers) {
    const v = headers[key]
    if (Array.isArray(v)) headers[key] = v.join(", ")
  }
  return headers as Record<string, string | undefined>
}

/** UTF-8 text of the body chunks, a leading BOM skipped (as undici's `body.text()` does). */
const textOf = (chunks: ReadonlyArray<Buffer>, length: number): string => {
  if (length === 0) return ""
  const buffer = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length)
  const start = buffer.length > 2 && buffer[0] === 0xef && buffer[1] === 0xbb && buffer[2] === 0xbf ? 3 : 0
  return buffer.toString("utf8", start)
}

/** `origin` and `path` (with query) of an absolute URL, as undici's dispatch wants them. */
const splitUrl = (href: string): { readonly origin: string; readonly path: string } => {
  const url = new URL(href)
  return { origin: url.origin, path: url.pathname + url.search }
}

/** A failure with no response, classified like every other transport's (certificates are permanent). */
const transportFailure = (cause: unknown): WireFailure => {
  const failure = classifyTransport(cause)
  return failure._tag === "Certificate"
    ? { _tag: "Certificate", code: failure.code, detail: failure.detail }
    : { _tag: "Transport", detail: describe(cause) }
}

const failureOf = (cause: unknown): WireFailure => {
  const code = (cause as { code?: unknown } | null)?.code
  return code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT"
    ? { _tag: "AttemptTimeout" }
    : transportFailure(cause)
}

/**
 * The wire straight over an undici Agent (interruption aborts the request).
 *
 * It uses undici's `dispatch` with a handler of its own rather than `request()`: no AbortController and
 * signal listener, response stream or promise per request — on a hot ARM path those cost more client
 * CPU than the HTTP exchange itself.
 */
export const fromUndici =
  (agent: Agent): Wire =>
  (request) =>
    Effect.async<WireResponse, WireFailure>((resume) => {
      const { origin, path } = splitUrl(request.url)
      const headers: Record<string, string> = {}
      for (const key in request.headers) headers[key] = request.headers[key] as string
      headers["user-agent"] = USER_AGENT
      headers.authorization = `Bearer ${Redacted.value(request.bearer)}`
      if (request.body !== undefined) headers["content-type"] = "application/json"

      let controller: Dispatcher.DispatchController | undefined
      let interrupted = false
      let status = 0
      let responseHeaders: Record<string, string | undefined> = {}
      let chunks: Array<Buffer> = []
      let length = 0
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart: (c) => {
          // Interrupted while queued for a connection: abort as soon as undici lets us.
          if (interrupted) c.abort(new Error("interrupted"))
          controller = c
          chunks = []
          length = 0
        },
        onResponseStart: (_, statusCode, headers) => {
          // 1xx informational responses are not the answer.
          if (statusCode < 200) return
          status = statusCode
          responseHeaders = flatten(headers)
        },
        onResponseData: (_, chunk) => {
          chunks.push(chunk)
          length += chunk.length
        },
        onResponseEnd: () => {
          resume(Effect.succeed({ status, headers: responseHeaders, text: textOf(chunks, length) }))
        },
        onResponseError: (_, cause) => {
          resume(Effect.fail(failureOf(cause)))
        },
      }
      agent.dispatch(
        {
          origin,
          path,
          method: request.method,
          headers,
          body: request.body ?? null,
          // undici's own timers bound the attempt: cheaper than racing a timer fiber on every request.
          headersTimeout: request.timeoutMs,
          bodyTimeout: request.timeoutMs,
        },
        handler,
      )
      return Effect.sync(() => {
        interrupted = true
        controller?.abort(new Error("interrupted"))
      })
    })
