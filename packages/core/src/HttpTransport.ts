/**
 * The HTTP client every azmi request goes through: undici with azmi's own `Agent` (a short TCP
 * connect timeout that tells "nothing listens" apart from "slow", optional extra trusted CAs, no
 * proxy), no tracing headers, `User-Agent: azmi/<version>` and a fresh `x-ms-client-request-id`
 * on every request.
 * @module
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Option, type Scope } from "effect"
import type { Agent } from "undici"
import { AzmiConfig } from "./Config.js"
import { makeAgent } from "./internal/agent.js"
import { VERSION } from "./internal/version.js"

/** The `User-Agent` azmi sends. */
export const USER_AGENT = `azmi/${VERSION}`

/** Options of {@link layer}. */
export interface HttpTransportOptions {
  /** No TCP (and TLS) connection within this many ms fails the request with `UND_ERR_CONNECT_TIMEOUT`. Default 1000. */
  readonly connectTimeoutMs?: number | undefined
  /** Extra trusted CA certificate(s), PEM, added to Node's default roots. */
  readonly caCert?: string | undefined
  /** Most connections per origin (further requests queue on open ones). Default: unlimited. */
  readonly connections?: number | undefined
}

/**
 * Add azmi's headers to every request of a client (used by {@link layer}; exposed for clients
 * built on another transport).
 */
export const withAzmiHeaders = <E, R>(
  client: HttpClient.HttpClient.With<E, R>,
): HttpClient.HttpClient.With<E, R> =>
  client.pipe(
    HttpClient.mapRequest((request) =>
      request.pipe(
        HttpClientRequest.setHeader("user-agent", USER_AGENT),
        // Keep an id the caller chose (ArmClient reuses one across the retries of a call and reports it).
        HttpClientRequest.setHeader(
          "x-ms-client-request-id",
          request.headers["x-ms-client-request-id"] ?? crypto.randomUUID(),
        ),
      ),
    ),
    HttpClient.withTracerPropagation(false),
  )

/**
 * An undici `Agent` with azmi's settings (`internal/agent.ts`: a connect timeout that fires when it
 * says), destroyed with the scope: the one agent factory, used by {@link layer} (IMDS, App Service, the
 * login) and by ARM's own pool (`ArmWire.armPool` sets its longer connect budget and connection cap).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { HttpTransport } from "@azmi/core"
 * const agent = HttpTransport.undiciAgent({ connectTimeoutMs: 10_000, connections: 64 }) // Effect<Agent, never, Scope>
 * ```
 */
export const undiciAgent = (options: HttpTransportOptions = {}): Effect.Effect<Agent, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() =>
      makeAgent({
        connectTimeoutMs: options.connectTimeoutMs ?? 1_000,
        caCert: options.caCert,
        connections: options.connections,
      }),
    ),
    (agent) => Effect.promise(() => agent.destroy()),
  )

/**
 * The HTTP client layer.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { HttpClient } from "@effect/platform"
 * import { HttpTransport } from "@azmi/core"
 *
 * const status = Effect.flatMap(HttpClient.HttpClient, (c) => c.get("http://127.0.0.1:8080/"))
 * Effect.runPromise(Effect.scoped(status.pipe(Effect.provide(HttpTransport.layer({ connectTimeoutMs: 500 })))))
 * ```
 */
export const layer = (options: HttpTransportOptions = {}): Layer.Layer<HttpClient.HttpClient> =>
  Layer.scoped(
    HttpClient.HttpClient,
    Effect.map(undiciAgent(options), (agent) => withAzmiHeaders(NodeHttpClient.makeUndici(agent))),
  )

/** {@link layer} configured from {@link AzmiConfig} (connect timeout, extra CA). */
export const layerConfig: Layer.Layer<HttpClient.HttpClient, never, AzmiConfig> = Layer.unwrapEffect(
  Effect.map(AzmiConfig, (config) =>
    layer({ connectTimeoutMs: config.connectTimeoutMs, caCert: Option.getOrUndefined(config.caCert) }),
  ),
)
