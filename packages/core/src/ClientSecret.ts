/**
 * A service principal with a client secret as a {@link TokenProvider}: `POST {authority}/{tenant}/oauth2/v2.0/token`
 * (`grant_type=client_credentials`, `scope={resource}/.default`), behind the same single-flight,
 * refresh-ahead cache and retry rules as managed identity. The secret stays `Redacted` until it is
 * written into the request body.
 * @module
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Effect, Layer, Option, Redacted, type Scope } from "effect"
import type { AccessToken } from "./AccessToken.js"
import { AzmiConfig, type ClientSecretConfig, type ConfigOptions } from "./Config.js"
import {
  ClientAuthenticationFailed,
  InvalidConfiguration,
  type TokenError,
  TokenRequestFailed,
} from "./Errors.js"
import * as HttpTransport from "./HttpTransport.js"
import { cachedProvider } from "./internal/cachedProvider.js"
import { miCall } from "./internal/miRequest.js"
import { makeResourceMemo } from "./internal/resourceMemo.js"
import { policyFromConfig } from "./ManagedIdentitySource.js"
import * as Metrics from "./Metrics.js"
import * as RefreshAheadCache from "./RefreshAheadCache.js"
import { imdsPolicy, type RetryPolicy } from "./Retry.js"
import { TokenProvider } from "./TokenProvider.js"
import * as TokenResponse from "./TokenResponse.js"

/** The v2 scope for a resource: `https://management.azure.com/` → `https://management.azure.com/.default`. */
export const scopeFor = (resource: string): string =>
  resource.endsWith("/") ? `${resource}.default` : `${resource}/.default`

// Errors that mean "these credentials are wrong", as opposed to a transient failure.
const authErrors = new Set(["invalid_client", "unauthorized_client", "invalid_grant", "invalid_request"])

/** One token request (with retries) for a resource, no cache. */
export const requestToken = (
  client: HttpClient.HttpClient,
  config: ClientSecretConfig,
  resource: string,
  policy: RetryPolicy = imdsPolicy,
): Effect.Effect<AccessToken, TokenError> => {
  const url = `${config.authorityHost}/${encodeURIComponent(config.tenantId)}/oauth2/v2.0/token`
  return miCall({
    client,
    request: HttpClientRequest.post(url).pipe(
      HttpClientRequest.bodyUrlParams({
        client_id: config.clientId,
        client_secret: Redacted.value(config.clientSecret),
        scope: scopeFor(resource),
        grant_type: "client_credentials",
      }),
      HttpClientRequest.acceptJson,
    ),
    policy,
    operation: "Entra ID token request",
    endpoint: url,
    selector: `client_id=${config.clientId}`,
    resource,
    countRequests: false,
    decode: (text, now) => TokenResponse.decodeFrom(url, text, now, resource),
  }).pipe(
    Effect.catchTags({
      // These come from the shared classifier and are named for IMDS; say what they mean here.
      ImdsUnavailable: (e) =>
        Effect.fail(
          new TokenRequestFailed({
            endpoint: url,
            status: 0,
            error: "network_error",
            errorDescription: e.detail ?? e.reason,
            attempts: 1,
          }),
        ),
      ImdsThrottled: (e) =>
        Effect.fail(
          new TokenRequestFailed({ endpoint: url, status: 429, error: "throttled", attempts: e.attempts }),
        ),
      TokenRequestFailed: (e) =>
        (e.status === 400 || e.status === 401) && e.error !== undefined && authErrors.has(e.error)
          ? Effect.fail(
              new ClientAuthenticationFailed({
                authority: config.authorityHost,
                status: e.status,
                error: e.error,
                errorDescription: e.errorDescription,
              }),
            )
          : Effect.fail(e),
    }),
    Effect.annotateLogs({ source: "client-secret", selector: `client_id=${config.clientId}`, resource }),
    Effect.withSpan("azmi.clientSecret.requestToken", {
      attributes: { clientId: config.clientId, resource },
    }),
  )
}

/**
 * The provider for a service principal, over the HttpClient in context.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { ClientSecret } from "@azmi/core"
 * const provider = ClientSecret.make({
 *   tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
 *   clientId: "…",
 *   clientSecret: Redacted.make("…"),
 *   authorityHost: "https://login.microsoftonline.com",
 * })
 * ```
 */
export const make = (
  config: ClientSecretConfig,
  options: { readonly policy?: RetryPolicy | undefined; readonly capacity?: number | undefined } = {},
): Effect.Effect<TokenProvider["Type"], never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const cache = yield* RefreshAheadCache.make<string, AccessToken, TokenError, never>({
      lookup: (resource) => requestToken(client, config, resource, options.policy),
      capacity: options.capacity,
      hits: Metrics.tokenCacheHits,
      misses: Metrics.tokenCacheMisses,
      name: "token",
    })
    const resourceOf = makeResourceMemo()
    return cachedProvider(
      `service principal ${config.clientId} in tenant ${config.tenantId} via ${config.authorityHost}`,
      cache,
      resourceOf,
    )
  })

/** The provider from {@link AzmiConfig}'s service principal; `InvalidConfiguration` if it is incomplete. */
export const layerFromConfig: Layer.Layer<
  TokenProvider,
  InvalidConfiguration,
  AzmiConfig | HttpClient.HttpClient
> = Layer.scoped(
  TokenProvider,
  Effect.gen(function* () {
    const config = yield* AzmiConfig
    if (Option.isNone(config.clientSecret)) {
      return yield* new InvalidConfiguration({
        variable: "AZURE_CLIENT_SECRET",
        reason: "a service principal needs AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET",
      })
    }
    return yield* make(config.clientSecret.value, { policy: policyFromConfig(config) })
  }),
)

/**
 * The whole service-principal credential from options and the environment.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ClientSecret, TokenProvider } from "@azmi/core"
 * const token = Effect.flatMap(TokenProvider, (tp) => tp.getToken("https://management.azure.com/"))
 * Effect.runPromise(token.pipe(Effect.provide(ClientSecret.layer())))
 * ```
 */
export const layer = (options: ConfigOptions = {}): Layer.Layer<TokenProvider, InvalidConfiguration> =>
  layerFromConfig.pipe(Layer.provide(HttpTransport.layerConfig), Layer.provide(AzmiConfig.layer(options)))
