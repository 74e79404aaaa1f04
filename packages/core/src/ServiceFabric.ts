/**
 * The Service Fabric token source: `GET $IDENTITY_ENDPOINT?api-version=2019-07-01-preview&resource=…` over
 * https with header `secret: $IDENTITY_HEADER` (no `Metadata`). The connection is pinned: the server's
 * certificate must have the SHA-1 thumbprint `IDENTITY_SERVER_THUMBPRINT` names — checked on the handshake,
 * before the secret is written — and need not chain to a trusted CA (clusters use their own). MSAL Node
 * does not pin at all.
 *
 * The application's identity is configured in the cluster, so only the system-assigned case is accepted:
 * a named identity is refused before any request. Errors come as `{"error":{"code","message"}}`; per
 * Azure's guidance for Service Fabric, 429 (with `Retry-After`) and 5xx are retried with backoff, and other
 * 4xx — `ManagedIdentityNotFound`, `SecretHeaderInvalid`, … — are not.
 * @module
 */
import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Redacted, type Scope } from "effect"
import { Agent } from "undici"
import { withoutQuery } from "./Endpoints.js"
import { withAzmiHeaders } from "./HttpTransport.js"
import { pinnedConnector } from "./internal/pinnedTls.js"
import { normaliseThumbprint } from "./internal/thumbprint.js"
import { tokenGet, tokenSource } from "./internal/tokenSource.js"
import type { ManagedIdentitySource } from "./ManagedIdentitySource.js"
import { hostPolicy, type RetryPolicy } from "./Retry.js"

export const API_VERSION = "2019-07-01-preview"
const NAME = "Service Fabric"

/** Service Fabric's retryable statuses (besides 429): the 5xx. A 404 means "no identity", not "try again". */
export const retryable = (status: number): boolean => status >= 500 && status <= 599

/**
 * An HttpClient whose every connection is pinned to `thumbprint` (azmi's headers, no proxy, its own
 * keep-alive pool, closed with the scope).
 */
export const pinnedClient = (options: {
  /** Normalised (40 upper-case hex digits). */
  readonly thumbprint: string
  readonly connectTimeoutMs?: number | undefined
}): Effect.Effect<HttpClient.HttpClient, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(
        () =>
          new Agent({
            connect: pinnedConnector({
              thumbprint: options.thumbprint,
              variable: "IDENTITY_SERVER_THUMBPRINT",
              connectTimeoutMs: options.connectTimeoutMs ?? 1_000,
            }),
            headersTimeout: 0,
            bodyTimeout: 0,
          }),
      ),
      (agent) => Effect.promise(() => agent.destroy()),
    ),
    (agent) => withAzmiHeaders(NodeHttpClient.makeUndici(agent)),
  )

/**
 * Build the Service Fabric source. Over its own pinned client, unless `client` is given (tests with a
 * fake transport).
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { ServiceFabric } from "@azmi/core"
 * const source = ServiceFabric.make({
 *   endpoint: "https://127.0.0.1:2377/metadata/identity/oauth2/token",
 *   header: Redacted.make("…"),
 *   thumbprint: "9F2C…",
 * }) // needs a Scope: the pinned connection pool closes with it
 * ```
 */
export const make = (options: {
  /** `IDENTITY_ENDPOINT`: the full token URL (https). */
  readonly endpoint: string
  /** `IDENTITY_HEADER`. */
  readonly header: Redacted.Redacted<string>
  /** `IDENTITY_SERVER_THUMBPRINT`: any case, with or without colons and spaces between the bytes. */
  readonly thumbprint: string
  readonly policy?: RetryPolicy | undefined
  readonly connectTimeoutMs?: number | undefined
  /** The transport to use instead of the pinned one (tests). */
  readonly client?: HttpClient.HttpClient | undefined
  /** Where the secret came from, named in hints. Default `IDENTITY_HEADER`. */
  readonly headerVariable?: string | undefined
}): Effect.Effect<ManagedIdentitySource["Type"], never, Scope.Scope> =>
  Effect.map(
    options.client === undefined
      ? // Written as Windows shows it or not; what is no thumbprint at all stays as given and matches no
        // certificate, so the pin still fails closed.
        pinnedClient({
          ...options,
          thumbprint: normaliseThumbprint(options.thumbprint) ?? options.thumbprint,
        })
      : Effect.succeed(options.client),
    (client) => {
      const endpoint = withoutQuery(options.endpoint)
      const policy = options.policy ?? hostPolicy
      return tokenSource({
        name: NAME,
        endpoint,
        span: "azmi.serviceFabric.requestToken",
        refuse: (selector) => (selector._tag === "SystemAssigned" ? undefined : "system-assigned"),
        call: (resource) => ({
          client,
          request: tokenGet(endpoint, API_VERSION, resource, [], { secret: Redacted.value(options.header) }),
          policy,
          endpointVariable: "IDENTITY_ENDPOINT",
          secretVariable: options.headerVariable ?? "IDENTITY_HEADER",
          secretHeader: "secret",
          retryOn: retryable,
          redactHeaders: ["secret"],
        }),
      })
    },
  )
