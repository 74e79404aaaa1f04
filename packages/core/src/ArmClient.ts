/**
 * The one configured HTTP client for Azure Resource Manager.
 *
 * It owns everything every ARM call needs, once: the endpoint, the bearer token (from any
 * {@link TokenProvider}, kept `Redacted`), `x-ms-client-request-id`, retries (429 honouring
 * `Retry-After`; 5xx, timeouts and transport errors with capped exponential backoff; a 401 for an expired
 * or invalid token retried exactly once with a forcibly refreshed token; nothing else), decoding ARM's
 * error bodies into typed errors, and surfacing the request ids and remaining-reads header.
 *
 * This module is the service and its wiring; each job lives in its own internal module: where a request
 * goes (`armUrl`), one call through the retry engine (`armSend`, `Retry.run`), ARM's retry rules and
 * error decoding of an outcome (`armOutcome`), and bodies and paging (`armBody`).
 * @module
 */
import { HttpClient } from "@effect/platform"
import { Context, Effect, FiberRef, Layer, Option, type Schema, type Stream } from "effect"
import type { ArmErrorContext } from "./ArmErrorDecoder.js"
import type { ArmMetadata, ArmResponse } from "./ArmResponse.js"
import * as ArmWire from "./ArmWire.js"
import { DEFAULT_ARM_AUDIENCE, DEFAULT_ARM_ENDPOINT } from "./Config.js"
import type { ArmError, InvalidConfiguration } from "./Errors.js"
import type * as HttpTransport from "./HttpTransport.js"
import { makeJson, makePages } from "./internal/armBody.js"
import { armPlan } from "./internal/armOutcome.js"
import { makeSend } from "./internal/armSend.js"
import { parseEndpoint } from "./internal/armUrl.js"
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

/** The ARM endpoint as a URL without trailing slash (https, or http to loopback), or `InvalidConfiguration`. */
export { parseEndpoint }

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
    const send = makeSend({
      endpoint,
      endpointVariable,
      audience,
      plan: armPlan(retry, attemptTimeoutMs, deadlineMs),
      tokens: yield* TokenProvider,
      wire,
      clientRequestId: currentClientRequestId,
    })

    const json = makeJson(send)
    return ArmClient.of({ endpoint, audience, send, json, pages: makePages(json) })
  })

/** Builds the client from a token provider and the `HttpClient` in context (the transport is injected). */
export const make = (
  options: ArmClientOptions = {},
): Effect.Effect<ArmClient["Type"], InvalidConfiguration, HttpClient.HttpClient | TokenProvider> =>
  Effect.flatMap(HttpClient.HttpClient, (http) => makeWith(options, ArmWire.fromHttpClient(http)))

/** {@link make} as a layer. */
export const layer = (
  options: ArmClientOptions = {},
): Layer.Layer<ArmClient, InvalidConfiguration, HttpClient.HttpClient | TokenProvider> =>
  Layer.effect(ArmClient, make(options))

/**
 * The client over an {@link ArmWire.Transport} (what `Azmi.layer` uses): its own undici pool by default,
 * `@effect/platform`'s HttpClient over such a pool, or any HttpClient layer. The pool options
 * (connect budget, extra CA, connections) default to {@link ArmWire.armPool}.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { FetchHttpClient } from "@effect/platform"
 * import { ArmClient, ManagedIdentity } from "@azmi/core"
 * const arm = ArmClient.layerTransport(FetchHttpClient.layer, { endpoint: "https://127.0.0.1:8443" }).pipe(
 *   Layer.provide(ManagedIdentity.layer()))
 * ```
 */
export const layerTransport = (
  transport: ArmWire.Transport,
  options: ArmClientOptions & HttpTransport.HttpTransportOptions = {},
): Layer.Layer<ArmClient, InvalidConfiguration, TokenProvider> =>
  Layer.scoped(
    ArmClient,
    Effect.flatMap(
      ArmWire.make(transport, {
        connectTimeoutMs: options.connectTimeoutMs ?? ArmWire.armPool.connectTimeoutMs,
        connections: options.connections ?? ArmWire.armPool.connections,
        caCert: options.caCert,
      }),
      (wire) => makeWith(options, wire),
    ),
  )

/**
 * The client on its own undici connection pool: {@link layerTransport} with `"undici"`.
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
  options: ArmClientOptions & HttpTransport.HttpTransportOptions = {},
): Layer.Layer<ArmClient, InvalidConfiguration, TokenProvider> => layerTransport("undici", options)
