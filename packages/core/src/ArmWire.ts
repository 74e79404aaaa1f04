/**
 * The wire under {@link ArmClient}: send one HTTP request, get status, headers and body text back.
 *
 * Two implementations: straight over an undici `Agent` with a dispatch handler of its own (the default
 * of `Azmi.layer`), and over any `@effect/platform` `HttpClient` (a proxy, `fetch`, a recording test
 * client — injected with `Azmi.layer({ armTransport })`). `npm run bench -- arm` runs both side by side:
 * the platform client's per-request machinery costs more client CPU per read than the undici bypass, so
 * the bypass stays the default. Both send the same headers ({@link outgoingHeaders}); the bearer token is
 * unwrapped from `Redacted` only there, at the edge.
 * @module
 */
import { HttpClient, type HttpClientError, HttpClientRequest } from "@effect/platform"
import { Context, Duration, Effect, type Fiber, Layer, Redacted, type Scope } from "effect"
import type { Agent, Dispatcher } from "undici"
import * as HttpTransport from "./HttpTransport.js"
import { classifyTransport } from "./internal/transportFailure.js"

/** One request as ARM receives it. */
export interface WireRequest {
  readonly method: "GET" | "HEAD" | "PUT" | "PATCH" | "DELETE" | "POST"
  /** Scheme, host and port, e.g. `https://management.azure.com`. */
  readonly origin: string
  /** Path (percent-encoded) and query, e.g. `/subscriptions/…?api-version=2025-04-01`. */
  readonly path: string
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

/**
 * The headers of `request` as they go on the wire, whichever transport sends them: the caller's, azmi's
 * `User-Agent`, the bearer token (unwrapped here, at the edge) and a JSON content type with a body.
 */
export const outgoingHeaders = (request: WireRequest): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (const key in request.headers) headers[key] = request.headers[key] as string
  headers["user-agent"] = HttpTransport.USER_AGENT
  headers.authorization = `Bearer ${Redacted.value(request.bearer)}`
  if (request.body !== undefined) headers["content-type"] = "application/json"
  return headers
}

/**
 * The wire over an `@effect/platform` HttpClient. No spans or trace headers per request: ARM calls are
 * hot and the span is the caller's to open.
 */
export const fromHttpClient = (http: HttpClient.HttpClient): Wire => {
  const client = http.pipe(
    HttpClient.withTracerPropagation(false),
    HttpClient.withTracerDisabledWhen(() => true),
  )
  return (request) => {
    let req = HttpClientRequest.make(request.method)(request.origin + request.path, {
      headers: outgoingHeaders(request),
    })
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
}

/**
 * ARM's connection pool: its connect budget includes a TLS handshake to a remote host (IMDS's 1 s would
 * cut healthy connections), and concurrent callers share up to 64 keep-alive connections instead of
 * one handshake each.
 */
export const armPool = { connectTimeoutMs: 10_000, connections: 64 } as const

/**
 * How ARM requests go out:
 * - `"undici"` (the default): {@link fromUndici} on a pool of ARM's own;
 * - `"http-client"`: {@link fromHttpClient} over `HttpTransport.layer` with the same pool settings —
 *   `@effect/platform`'s client, what `npm run bench -- arm` compares the bypass with;
 * - a layer of any `HttpClient` (a proxy, `FetchHttpClient`, a recording test client), through
 *   {@link fromHttpClient}: the pool settings are then the layer's business.
 */
export type Transport = "undici" | "http-client" | Layer.Layer<HttpClient.HttpClient>

/**
 * The wire of a {@link Transport}; `pool` configures the undici pool of the two built-in ones. Lives
 * (pool and connections) as long as the scope.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ArmWire } from "@azmi/core"
 * const wire = ArmWire.make("http-client", { ...ArmWire.armPool, caCert: pem }) // Effect<Wire, never, Scope>
 * ```
 */
export const make = (
  transport: Transport,
  pool: HttpTransport.HttpTransportOptions = armPool,
): Effect.Effect<Wire, never, Scope.Scope> => {
  if (transport === "undici") return Effect.map(HttpTransport.undiciAgent(pool), fromUndici)
  if (transport !== "http-client" && !Layer.isLayer(transport)) {
    return Effect.dieMessage(
      `the ARM transport must be "undici", "http-client" or an HttpClient layer (got ${JSON.stringify(transport)})`,
    )
  }
  const layer = transport === "http-client" ? HttpTransport.layer(pool) : transport
  return Effect.map(Layer.build(layer), (context) =>
    fromHttpClient(Context.get(context, HttpClient.HttpClient)),
  )
}

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
 * One exchange on undici's dispatch: the handler undici calls back, holding what the response has
 * brought so far (one object per request instead of a closure per callback).
 */
class Exchange implements Dispatcher.DispatchHandler {
  controller: Dispatcher.DispatchController | undefined = undefined
  interrupted = false
  done = false
  status = 0
  headers: Record<string, string | undefined> = {}
  chunks: Array<Buffer> = []
  length = 0
  constructor(
    readonly resume: (effect: Effect.Effect<WireResponse, WireFailure>) => void,
    readonly fiber: Fiber.RuntimeFiber<WireResponse, WireFailure>,
  ) {}

  /** The fiber ended before the answer came (it was interrupted): abort the request. */
  readonly onFiberExit = (): void => {
    if (this.done) return
    this.interrupted = true
    this.controller?.abort(new Error("interrupted"))
  }

  finish(effect: Effect.Effect<WireResponse, WireFailure>): void {
    this.done = true
    this.fiber.removeObserver(this.onFiberExit)
    this.resume(effect)
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    // Interrupted while queued for a connection: abort as soon as undici lets us.
    if (this.interrupted) controller.abort(new Error("interrupted"))
    this.controller = controller
    this.chunks = []
    this.length = 0
  }
  onResponseStart(
    _: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | Array<string> | undefined>,
  ): void {
    // 1xx informational responses are not the answer.
    if (statusCode < 200) return
    this.status = statusCode
    this.headers = flatten(headers)
  }
  onResponseData(_: Dispatcher.DispatchController, chunk: Buffer): void {
    this.chunks.push(chunk)
    this.length += chunk.length
  }
  onResponseEnd(): void {
    this.finish(
      Effect.succeed({ status: this.status, headers: this.headers, text: textOf(this.chunks, this.length) }),
    )
  }
  onResponseError(_: Dispatcher.DispatchController, cause: Error): void {
    this.finish(Effect.fail(failureOf(cause)))
  }
}

/**
 * The wire straight over an undici Agent (interruption aborts the request).
 *
 * It uses undici's `dispatch` with a handler of its own rather than `request()`: no AbortController and
 * signal listener, response stream or promise per request — on a hot ARM path those cost more client
 * CPU than the HTTP exchange itself. For the same reason an interrupted call is aborted by an observer of
 * its fiber (when the interrupted fiber ends) rather than by a canceller returned to `Effect.async`,
 * whose interruption machinery (a mask, a match and two runtime-flag changes per call) cost as much
 * client CPU per read as the rest of azmi's work together.
 */
export const fromUndici =
  (agent: Agent): Wire =>
  (request) =>
    Effect.withFiberRuntime<WireResponse, WireFailure>((fiber) =>
      Effect.async<WireResponse, WireFailure>((resume) => {
        const exchange = new Exchange(resume, fiber)
        fiber.addObserver(exchange.onFiberExit)
        agent.dispatch(
          {
            origin: request.origin,
            path: request.path,
            method: request.method,
            headers: outgoingHeaders(request),
            body: request.body ?? null,
            // undici's own timers bound the attempt: cheaper than racing a timer fiber on every request.
            headersTimeout: request.timeoutMs,
            bodyTimeout: request.timeoutMs,
          },
          exchange,
        )
      }),
    )
