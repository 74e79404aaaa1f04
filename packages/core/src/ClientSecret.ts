/**
 * A service principal with a client secret as a {@link TokenProvider}: `POST {authority}/{tenant}/oauth2/v2.0/token`
 * (`grant_type=client_credentials`, `scope={resource}/.default`), behind the same single-flight,
 * refresh-ahead cache and retry rules as managed identity. The secret stays `Redacted` until it is
 * written into the request body.
 * @module
 */
import { HttpClient } from "@effect/platform"
import { Effect, Layer, Option, Redacted, type Scope } from "effect"
import type { AccessToken } from "./AccessToken.js"
import { AzmiConfig, type ClientSecretConfig, type ConfigOptions } from "./Config.js"
import { InvalidConfiguration, type TokenError } from "./Errors.js"
import * as HttpTransport from "./HttpTransport.js"
import { makeCachedProvider } from "./internal/cachedProvider.js"
import * as EntraToken from "./internal/entraToken.js"
import { policyFromConfig } from "./ManagedIdentitySource.js"
import { imdsPolicy, type RetryPolicy } from "./Retry.js"
import { TokenProvider } from "./TokenProvider.js"

/** The v2 scope for a resource: `https://management.azure.com/` → `https://management.azure.com/.default`. */
export const scopeFor = EntraToken.scopeFor

/** One token request (with retries) for a resource, no cache. */
export const requestToken = (
  client: HttpClient.HttpClient,
  config: ClientSecretConfig,
  resource: string,
  policy: RetryPolicy = imdsPolicy,
): Effect.Effect<AccessToken, TokenError> =>
  EntraToken.requestToken({
    client,
    app: config,
    resource,
    policy,
    credential: "client-secret",
    proof: Effect.sync(() => ({
      fields: { client_secret: Redacted.value(config.clientSecret) },
      about: undefined,
    })),
  })

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
  Effect.flatMap(HttpClient.HttpClient, (client) =>
    Effect.map(
      makeCachedProvider({
        description: `service principal ${config.clientId} in tenant ${config.tenantId} via ${config.authorityHost}`,
        lookup: (resource) => requestToken(client, config, resource, options.policy),
        capacity: options.capacity,
      }),
      (p) => p.provider,
    ),
  )

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
