/**
 * The one configured HTTP client for Azure Resource Manager.
 *
 * It owns everything every ARM call needs, once: the endpoint, the bearer token (from any
 * {@link TokenProvider}, kept `Redacted`), `x-ms-client-request-id`, retries (429 honouring
 * `Retry-After`; 5xx, timeouts and transport errors with capped exponential backoff; a 401 for an expired
 * or invalid token retried exactly once with a forcibly refreshed token; nothing else), decoding ARM's
 * error bodies into typed errors, and surfacing the request ids and remaining-reads header.
 * @module
 */
import { HttpClient } from "@effect/platform"
import {
  Chunk,
  Clock,
  Context,
  Duration,
  Effect,
  Either,
  FiberRef,
  Layer,
  LogLevel,
  Metric,
  Option,
  ParseResult,
  Random,
  Redacted,
  Schema,
  Stream,
} from "effect"
import { type ArmErrorContext, decodeArmError } from "./ArmErrorDecoder.js"
import { encodePath } from "./ArmIds.js"
import type { ArmMetadata, ArmResponse } from "./ArmResponse.js"
import * as ArmWire from "./ArmWire.js"
import { DEFAULT_ARM_AUDIENCE, DEFAULT_ARM_ENDPOINT } from "./Config.js"
import {
  type ArmError,
  ArmRequestFailed,
  ArmUnreachable,
  InvalidConfiguration,
  Timeout,
  TlsCertificateRejected,
} from "./Errors.js"
import { isGuid } from "./internal/guid.js"
import * as Metrics from "./Metrics.js"
import { parseRetryAfter } from "./Retry.js"
import { TokenProvider } from "./TokenProvider.js"

/** The api-versions azmi pins, one per ARM resource type it calls. */
export const ArmApiVersions = {
  resourceGroups: "2025-04-01",
  roleAssignments: "2022-04-01",
  roleDefinitions: "2022-04-01",
} as const

/** Public-cloud ARM. */
export const DefaultArmEndpoint = DEFAULT_ARM_ENDPOINT
/** The audience ARM accepts whatever host it is reached at (sovereign clouds override it). */
export const DefaultArmAudience = DEFAULT_ARM_AUDIENCE

/** How ARM calls are retried. */
export interface ArmRetryOptions {
  /** Retries after the first attempt for 5xx, timeouts and transport errors. Default 4. */
  readonly maxRetries: number
  /**
   * Retries after a 429, counted apart from `maxRetries`: a throttled ARM says when to come back,
   * and a call that already met a few 5xx should still wait out a throttle. Default 4.
   */
  readonly maxThrottledRetries: number
  /** First backoff delay; doubles each retry, with jitter (50–100 %). Default 500 ms. */
  readonly baseDelayMs: number
  /** Cap of one backoff delay. Default 16 s. */
  readonly maxDelayMs: number
  /** A `Retry-After` longer than this is not waited for: the call fails with `ArmThrottled`. Default 60 s. */
  readonly maxRetryAfterMs: number
}

export const defaultRetryOptions: ArmRetryOptions = {
  maxRetries: 4,
  maxThrottledRetries: 4,
  baseDelayMs: 500,
  maxDelayMs: 16_000,
  maxRetryAfterMs: 60_000,
}

/** Options of {@link make} / {@link layer}. */
export interface ArmClientOptions {
  /** ARM base URL; default {@link DefaultArmEndpoint}. Must be https unless the host is loopback. */
  readonly endpoint?: string | undefined
  /** The option or environment variable that set `endpoint`, named in errors and hints. Default `AZMI_ARM_ENDPOINT` when `endpoint` is given. */
  readonly endpointVariable?: string | undefined
  /** Token audience; default {@link DefaultArmAudience}, whatever the endpoint. */
  readonly audience?: string | undefined
  readonly retry?: Partial<ArmRetryOptions> | undefined
  /** Timeout of one HTTP attempt (a timed-out attempt is retried). Default 30 s. */
  readonly attemptTimeoutMs?: number | undefined
  /** Deadline of a whole call including retries. Default 120 s. */
  readonly deadlineMs?: number | undefined
}

/** One ARM call. Paths are given as unencoded segments; each is percent-encoded here. */
export interface ArmRequest {
  readonly method: "GET" | "HEAD" | "PUT" | "PATCH" | "DELETE" | "POST"
  /** Unencoded path segments, or a `nextLink` ARM returned (followed verbatim, only on the ARM endpoint). */
  readonly path: ReadonlyArray<string> | { readonly nextLink: string }
  /** Required with segment paths; a `nextLink` carries its own. */
  readonly apiVersion?: string | undefined
  readonly query?: Readonly<Record<string, string | undefined>> | undefined
  readonly body?: unknown
  /** Non-2xx statuses the caller handles itself (e.g. 404 for HEAD). */
  readonly accept?: ReadonlyArray<number> | undefined
  /** Names the request was about, for errors whose body does not repeat them. */
  readonly context?: ArmErrorContext | undefined
}

/** A successful (or accepted) raw ARM response: status, parsed JSON body (if any) and metadata. */
export interface ArmRawResponse {
  readonly status: number
  readonly body: unknown
  readonly metadata: ArmMetadata
}

/**
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { ArmClient } from "@azmi/core"
 *
 * const program = Effect.flatMap(ArmClient.ArmClient, (arm) =>
 *   arm.json({ method: "GET", path: ["subscriptions", sub], apiVersion: "2022-12-01" }, Schema.Unknown))
 * ```
 */
export class ArmClient extends Context.Tag("@azmi/core/ArmClient")<
  ArmClient,
  {
    /** The ARM base URL in use (no trailing slash). */
    readonly endpoint: string
    /** The audience tokens are requested for. */
    readonly audience: string
    readonly send: (request: ArmRequest) => Effect.Effect<ArmRawResponse, ArmError>
    /** {@link send}, then decode the body with `schema`. */
    readonly json: <A, I>(
      request: ArmRequest,
      schema: Schema.Schema<A, I>,
    ) => Effect.Effect<ArmResponse<A>, ArmError>
    /** Every item of a pageable list, following `nextLink` until ARM sends none (empty pages included). */
    readonly pages: <A, I>(request: ArmRequest, item: Schema.Schema<A, I>) => Stream.Stream<A, ArmError>
  }
>() {}

const isLoopback = (hostname: string) =>
  hostname === "localhost" || hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)

/** The endpoint as a URL without trailing slash, or `InvalidConfiguration`. */
export const parseEndpoint = (
  value: string,
  variable = "AZMI_ARM_ENDPOINT",
): Either.Either<string, InvalidConfiguration> => {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return Either.left(new InvalidConfiguration({ variable, reason: `not a URL: ${JSON.stringify(value)}` }))
  }
  if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    return Either.left(
      new InvalidConfiguration({ variable, reason: "must not contain a query, fragment or credentials" }),
    )
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopback(url.hostname))) {
    // A bearer token must never cross the network in clear text.
    return Either.left(
      new InvalidConfiguration({ variable, reason: "must be https (http only for loopback hosts)" }),
    )
  }
  return Either.right(`${url.origin}${url.pathname.replace(/\/+$/, "")}`)
}

const retryableStatus = (status: number) =>
  status === 408 || status === 500 || status === 502 || status === 503 || status === 504

/**
 * The object id (`oid`) in a bearer token, read without verifying it: it only names who was refused
 * when ARM's 403 names no one (the answer to a HEAD has no body). Only a GUID is taken, as it ends up
 * in a printed command.
 */
const principalOf = (bearer: Redacted.Redacted<string> | undefined): string | undefined => {
  const payload = bearer === undefined ? undefined : Redacted.value(bearer).split(".")[1]
  if (payload === undefined) return undefined
  try {
    const oid: unknown = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"))?.oid
    return typeof oid === "string" && isGuid(oid) ? oid : undefined
  } catch {
    return undefined
  }
}

/** Retry-After as milliseconds: `retry-after-ms`, delta-seconds or an HTTP-date. */
const retryAfterMillis = (headers: Record<string, string | undefined>, now: number): number | undefined => {
  const ms = headers["retry-after-ms"] ?? headers["x-ms-retry-after-ms"]
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms.trim())) return Number(ms)
  return parseRetryAfter(headers["retry-after"], now)
}

const BLANK = /^\s*$/

const intHeader = (v: string | undefined) =>
  v !== undefined && /^\d+$/.test(v.trim()) ? Number.parseInt(v, 10) : undefined

/**
 * The `x-ms-client-request-id` to send to ARM from this fiber; a fresh GUID per call when empty.
 * Shells set it (`Effect.locally`) to pass their own caller's id on, so one id follows a request
 * from the caller through azmi to ARM.
 *
 * @example
 * ```ts
 * Effect.locally(groups.get(sub, "DevTest"), ArmClient.currentClientRequestId, Option.some("my-id"))
 * ```
 */
export const currentClientRequestId: FiberRef.FiberRef<Option.Option<string>> = FiberRef.unsafeMake<
  Option.Option<string>
>(Option.none())

const metadataOf = (headers: Record<string, string | undefined>, clientRequestId: string): ArmMetadata => ({
  requestId: headers["x-ms-request-id"],
  correlationId: headers["x-ms-correlation-request-id"],
  remainingReads: intHeader(headers["x-ms-ratelimit-remaining-subscription-reads"]),
  remainingWrites: intHeader(headers["x-ms-ratelimit-remaining-subscription-writes"]),
  clientRequestId,
})

type Outcome = ({ readonly _tag: "Response" } & ArmWire.WireResponse) | ArmWire.WireFailure

type SyncDecoder = (u: unknown) => Either.Either<unknown, ParseResult.ParseError>
// One synchronous decoder per schema, built on first use instead of on every response.
const decoders = new WeakMap<object, SyncDecoder>()
const decoderOf = <A, I>(
  schema: Schema.Schema<A, I>,
): ((u: unknown) => Either.Either<A, ParseResult.ParseError>) => {
  let decoder = decoders.get(schema)
  if (decoder === undefined) {
    decoder = Schema.decodeUnknownEither(schema) as SyncDecoder
    decoders.set(schema, decoder)
  }
  return decoder as (u: unknown) => Either.Either<A, ParseResult.ParseError>
}

/**
 * Builds the client over a {@link ArmWire.Wire} and a token provider.
 */
export const makeWith = (
  options: ArmClientOptions,
  wire: ArmWire.Wire,
): Effect.Effect<ArmClient["Type"], InvalidConfiguration, TokenProvider> =>
  Effect.gen(function* () {
    const endpointVariable =
      options.endpoint === undefined ? undefined : (options.endpointVariable ?? "AZMI_ARM_ENDPOINT")
    const endpoint = yield* parseEndpoint(options.endpoint ?? DefaultArmEndpoint, endpointVariable)
    const audience = options.audience ?? DefaultArmAudience
    const retry: ArmRetryOptions = { ...defaultRetryOptions, ...options.retry }
    const attemptTimeoutMs = options.attemptTimeoutMs ?? 30_000
    const deadlineMs = options.deadlineMs ?? 120_000
    const tokens = yield* TokenProvider
    const endpointUrl = new URL(endpoint)

    const urlOf = (request: ArmRequest): Either.Either<string, ArmRequestFailed> => {
      if ("nextLink" in request.path) {
        const link = request.path.nextLink
        let url: URL | undefined
        try {
          url = new URL(link)
        } catch {
          url = undefined
        }
        // The bearer token goes wherever the link points: only ever follow links back to the ARM endpoint.
        if (
          url === undefined ||
          url.origin !== endpointUrl.origin ||
          !url.pathname.startsWith(endpointUrl.pathname === "/" ? "/" : `${endpointUrl.pathname}/`)
        ) {
          return Either.left(
            new ArmRequestFailed({
              status: 200,
              code: "UntrustedNextLink",
              armMessage: `ARM returned a nextLink outside ${endpoint}; not followed`,
              attempts: 1,
            }),
          )
        }
        return Either.right(link)
      }
      const params = new URLSearchParams()
      if (request.apiVersion !== undefined) params.set("api-version", request.apiVersion)
      for (const [k, v] of Object.entries(request.query ?? {})) if (v !== undefined) params.set(k, v)
      const qs = params.toString()
      return Either.right(`${endpoint}${encodePath(request.path)}${qs === "" ? "" : `?${qs}`}`)
    }

    const backoff = (retryIndex: number) =>
      Effect.map(Random.next, (r) => {
        const exp = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** retryIndex)
        return Math.round(exp * (0.5 + r / 2))
      })

    // Per-request work on the hot path is plain code: one fiber-runtime read for the request id, log
    // level and clock, then token → wire → response without generators. Only the rare paths (retries,
    // error bodies, debug and warning logs) run as Effect.gen below.
    const send = (request: ArmRequest): Effect.Effect<ArmRawResponse, ArmError> =>
      Effect.withFiberRuntime<ArmRawResponse, ArmError>((fiber) => {
        const built = urlOf(request)
        if (Either.isLeft(built)) return Effect.fail(built.left)
        const url = built.right
        const clientRequestId = Option.getOrElse(fiber.getFiberRef(currentClientRequestId), () =>
          crypto.randomUUID(),
        )
        const headers = { accept: "application/json", "x-ms-client-request-id": clientRequestId }
        const body = request.body === undefined ? undefined : JSON.stringify(request.body)
        const accepted = (status: number) =>
          (status >= 200 && status < 300) || (request.accept?.includes(status) ?? false)
        const pathForLogs = () => new URL(url).pathname
        // The fiber's clock (TestClock in tests), read without an effect per look.
        const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
        const deadlineAt = clock.unsafeCurrentTimeMillis() + deadlineMs
        // The token of the latest attempt, to name the principal of a 403 that names no one.
        let bearer: Redacted.Redacted<string> | undefined
        // Debug lines are built only when someone listens: this is the hot path of every ARM call.
        const debug = LogLevel.lessThanEqual(
          fiber.getFiberRef(FiberRef.currentMinimumLogLevel),
          LogLevel.Debug,
        )
        const deadlineExceeded = () =>
          Effect.fail(
            new Timeout({ operation: `ARM ${request.method} ${pathForLogs()}`, millis: deadlineMs }),
          )

        /** A 2xx (or accepted) answer: its JSON body, or `MalformedResponse`. */
        const success = (
          status: number,
          text: string,
          metadata: ArmMetadata,
          attempt: number,
        ): Effect.Effect<ArmRawResponse, ArmRequestFailed> => {
          let parsed: unknown
          // Same test as `text.trim() !== ""` (\s is exactly what trim strips) without copying the body.
          if (!BLANK.test(text)) {
            try {
              parsed = JSON.parse(text)
            } catch {
              return Effect.fail(
                new ArmRequestFailed({
                  status,
                  code: "MalformedResponse",
                  armMessage: "ARM answered with a body that is not JSON",
                  attempts: attempt,
                  requestId: metadata.requestId,
                  correlationId: metadata.correlationId,
                }),
              )
            }
          }
          return Effect.succeed({ status, body: parsed, metadata })
        }

        const loop = (
          attempt: number,
          retriesUsed: number,
          throttlesUsed: number,
          forceRefresh: boolean,
          refreshedOnce: boolean,
        ): Effect.Effect<ArmRawResponse, ArmError> => {
          const remaining = deadlineAt - clock.unsafeCurrentTimeMillis()
          if (remaining <= 0) return deadlineExceeded()
          const cutByDeadline = remaining < attemptTimeoutMs
          return Effect.flatMap(
            tokens.getToken(audience, forceRefresh ? { forceRefresh: true } : undefined),
            (token) => {
              Metrics.armRequests.unsafeUpdate(1, [])
              bearer = token.token
              return Effect.matchEffect(
                wire({
                  method: request.method,
                  url,
                  headers,
                  bearer: token.token,
                  body,
                  timeoutMs: cutByDeadline ? remaining : attemptTimeoutMs,
                }),
                {
                  onFailure: (failure) =>
                    handle(failure, attempt, retriesUsed, throttlesUsed, refreshedOnce, cutByDeadline),
                  onSuccess: (res) => {
                    const metadata = metadataOf(res.headers, clientRequestId)
                    const lowReads = metadata.remainingReads !== undefined && metadata.remainingReads < 25
                    return !debug && !lowReads && accepted(res.status)
                      ? success(res.status, res.text, metadata, attempt)
                      : handle(
                          { _tag: "Response", ...res },
                          attempt,
                          retriesUsed,
                          throttlesUsed,
                          refreshedOnce,
                          cutByDeadline,
                          metadata,
                        )
                  },
                },
              )
            },
          )
        }

        /** Everything but a quiet success: logs, retries and typed errors. */
        const handle = (
          outcome: Outcome,
          attempt: number,
          retriesUsed: number,
          throttlesUsed: number,
          refreshedOnce: boolean,
          cutByDeadline: boolean,
          responseMetadata?: ArmMetadata,
        ): Effect.Effect<ArmRawResponse, ArmError> =>
          Effect.gen(function* () {
            const canRetry = retriesUsed < retry.maxRetries
            const again = (delayMs: number, reason: string, throttled = false) =>
              Effect.gen(function* () {
                // Waiting past the deadline is pointless: fail now rather than after the sleep.
                if (clock.unsafeCurrentTimeMillis() + delayMs >= deadlineAt) return yield* deadlineExceeded()
                if (debug) yield* Effect.logDebug(`ARM ${request.method} retry in ${delayMs} ms (${reason})`)
                yield* Metric.increment(Metrics.retries)
                yield* Effect.sleep(Duration.millis(delayMs))
                return yield* throttled
                  ? loop(attempt + 1, retriesUsed, throttlesUsed + 1, false, refreshedOnce)
                  : loop(attempt + 1, retriesUsed + 1, throttlesUsed, false, refreshedOnce)
              })
            if (outcome._tag === "Certificate") {
              return yield* new TlsCertificateRejected({
                endpoint,
                code: outcome.code,
                detail: outcome.detail,
              })
            }
            if (outcome._tag === "Transport" || outcome._tag === "AttemptTimeout") {
              if (outcome._tag === "AttemptTimeout" && cutByDeadline) return yield* deadlineExceeded()
              if (canRetry) return yield* again(yield* backoff(retriesUsed), outcome._tag)
              return yield* outcome._tag === "Transport"
                ? Effect.fail(
                    new ArmUnreachable({
                      endpoint,
                      detail: outcome.detail,
                      attempts: attempt,
                      endpointVariable,
                    }),
                  )
                : Effect.fail(
                    new Timeout({
                      operation: `ARM ${request.method} ${pathForLogs()}`,
                      millis: attemptTimeoutMs,
                      budget: "attempt",
                    }),
                  )
            }
            const { status, headers, text } = outcome
            const metadata = responseMetadata ?? metadataOf(headers, clientRequestId)
            if (debug) {
              yield* Effect.logDebug(`ARM ${request.method} ${pathForLogs()} → ${status}`).pipe(
                Effect.annotateLogs({
                  requestId: metadata.requestId ?? "",
                  remainingReads: metadata.remainingReads ?? "",
                }),
              )
            }
            if (metadata.remainingReads !== undefined && metadata.remainingReads < 25) {
              yield* Effect.logWarning(
                `ARM read budget nearly spent: ${metadata.remainingReads} reads remaining for this subscription`,
              )
            }
            if (accepted(status)) return yield* success(status, text, metadata, attempt)
            const now = clock.unsafeCurrentTimeMillis()
            const retryAfterMs = retryAfterMillis(headers, now)
            const decoded = decodeArmError(
              {
                status,
                bodyText: text,
                requestId: metadata.requestId,
                correlationId: metadata.correlationId,
                wwwAuthenticate: headers["www-authenticate"],
                retryAfterSeconds: retryAfterMs === undefined ? undefined : Math.ceil(retryAfterMs / 1000),
                attempts: attempt,
              },
              status === 403 && request.context?.authorization !== undefined
                ? { ...request.context, principalId: principalOf(bearer) }
                : request.context,
            )
            if (status === 429) {
              const canWait = retryAfterMs === undefined || retryAfterMs <= retry.maxRetryAfterMs
              if (throttlesUsed < retry.maxThrottledRetries && canWait) {
                return yield* again(retryAfterMs ?? (yield* backoff(throttlesUsed)), "429", true)
              }
              return yield* Effect.fail(decoded)
            }
            if (retryableStatus(status) && canRetry) {
              const delay =
                retryAfterMs !== undefined && retryAfterMs <= retry.maxRetryAfterMs
                  ? retryAfterMs
                  : yield* backoff(retriesUsed)
              return yield* again(delay, String(status))
            }
            if (
              decoded._tag === "InvalidAuthenticationToken" &&
              !refreshedOnce &&
              (decoded.reason === "Expired" || decoded.reason === "Invalid")
            ) {
              // A new token can only help when the old one expired or was revoked; audience or tenant
              // mismatches would fail the same way again.
              if (debug) yield* Effect.logDebug(`ARM 401 ${decoded.code}: retrying once with a fresh token`)
              return yield* loop(attempt + 1, retriesUsed, throttlesUsed, true, true)
            }
            return yield* Effect.fail(decoded)
          })

        return loop(1, 0, 0, false, false)
      })

    const malformed = (status: number, metadata: ArmMetadata, error: ParseResult.ParseError) =>
      new ArmRequestFailed({
        status,
        code: "MalformedResponse",
        armMessage: `ARM's response did not have the expected shape: ${ParseResult.TreeFormatter.formatErrorSync(error).slice(0, 500)}`,
        attempts: 1,
        requestId: metadata.requestId,
        correlationId: metadata.correlationId,
      })

    const json = <A, I>(request: ArmRequest, schema: Schema.Schema<A, I>) =>
      Effect.flatMap(send(request), (raw) => {
        const decoded = decoderOf(schema)(raw.body)
        if (Either.isRight(decoded))
          return Effect.succeed<ArmResponse<A>>({ value: decoded.right, metadata: raw.metadata })
        if (decoded.left.issue._tag !== "Forbidden")
          return Effect.fail(malformed(raw.status, raw.metadata, decoded.left))
        // A schema with asynchronous parts cannot decode synchronously: decode it as an effect.
        return Schema.decodeUnknown(schema)(raw.body).pipe(
          Effect.map((value): ArmResponse<A> => ({ value, metadata: raw.metadata })),
          Effect.mapError((e) => malformed(raw.status, raw.metadata, e)),
        )
      })

    const pages = <A, I>(request: ArmRequest, item: Schema.Schema<A, I>): Stream.Stream<A, ArmError> => {
      const Page = Schema.Struct({
        value: Schema.optionalWith(Schema.Array(item), { default: () => [] }),
        nextLink: Schema.optional(Schema.NullOr(Schema.String)),
      })
      // Suspended so each run of the stream starts with its own set of seen links.
      return Stream.suspend(() =>
        Stream.paginateChunkEffect({ request, seen: new Set<string>() }, ({ request, seen }) =>
          Effect.flatMap(json(request, Page), ({ value }) => {
            const next = value.nextLink ?? undefined
            if (next === undefined || next === "")
              return Effect.succeed([Chunk.fromIterable(value.value), Option.none()] as const)
            if (seen.has(next)) {
              return Effect.fail(
                new ArmRequestFailed({
                  status: 200,
                  code: "NextLinkLoop",
                  armMessage: "ARM returned a nextLink it had already returned; paging stopped",
                  attempts: 1,
                }),
              )
            }
            seen.add(next)
            return Effect.succeed([
              Chunk.fromIterable(value.value),
              Option.some({ request: { ...request, path: { nextLink: next } }, seen }),
            ] as const)
          }),
        ),
      )
    }

    return ArmClient.of({ endpoint, audience, send, json, pages })
  })

/** Builds the client from a token provider and the `HttpClient` in context (the transport is injected). */
export const make = (
  options: ArmClientOptions = {},
): Effect.Effect<ArmClient["Type"], InvalidConfiguration, HttpClient.HttpClient | TokenProvider> =>
  Effect.flatMap(HttpClient.HttpClient, (http) =>
    // No spans or trace headers per request: ARM calls are hot and the span is the caller's to open.
    makeWith(
      options,
      ArmWire.fromHttpClient(
        http.pipe(
          HttpClient.withTracerPropagation(false),
          HttpClient.withTracerDisabledWhen(() => true),
        ),
      ),
    ),
  )

/** {@link make} as a layer. */
export const layer = (
  options: ArmClientOptions = {},
): Layer.Layer<ArmClient, InvalidConfiguration, HttpClient.HttpClient | TokenProvider> =>
  Layer.effect(ArmClient, make(options))

/**
 * The client on its own undici connection pool (what `Azmi.layer` uses).
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { ArmClient, ManagedIdentity } from "@azmi/core"
 * const arm = ArmClient.layerUndici({ endpoint: "https://127.0.0.1:8443", caCert: pem }).pipe(
 *   Layer.provide(ManagedIdentity.layer()))
 * ```
 */
export const layerUndici = (
  options: ArmClientOptions & ArmWire.UndiciWireOptions = {},
): Layer.Layer<ArmClient, InvalidConfiguration, TokenProvider> =>
  Layer.scoped(
    ArmClient,
    Effect.flatMap(ArmWire.undiciAgent(options), (agent) => makeWith(options, ArmWire.fromUndici(agent))),
  )
