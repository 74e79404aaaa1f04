/**
 * The managed-identity {@link TokenProvider}: a {@link ManagedIdentitySource} (IMDS or App Service)
 * behind a single-flight, refresh-ahead {@link RefreshAheadCache} keyed by resource (one provider has one
 * source and one identity, so the key is (source, identity, resource)).
 * @module
 */
import type { HttpClient } from "@effect/platform"
import { Effect, Layer, type Scope } from "effect"
import { AzmiConfig, type ConfigOptions } from "./Config.js"
import type { InvalidConfiguration } from "./Errors.js"
import * as HttpTransport from "./HttpTransport.js"
import { describeSelector, type IdentitySelector } from "./IdentitySelector.js"
import { type CachedProvider, makeCachedProvider } from "./internal/cachedProvider.js"
import * as ManagedIdentitySource from "./ManagedIdentitySource.js"
import { TokenProvider } from "./TokenProvider.js"

/** Options of {@link make}. */
export interface ManagedIdentityOptions {
  /** The identity to request tokens for. */
  readonly identity: IdentitySelector
  /** Maximum number of resources cached. Default 1000. */
  readonly capacity?: number | undefined
  /** Cap of the delay between failed background refreshes. Default 60000. */
  readonly refreshMaxDelayMs?: number | undefined
}

/** A token provider with its cache exposed (for the Promise facade's fast path and tests). */
export type ManagedIdentityProvider = CachedProvider

/**
 * Build the provider over the {@link ManagedIdentitySource.ManagedIdentitySource} in context.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { IdentitySelector, ManagedIdentity } from "@azmi/core"
 * const provider = ManagedIdentity.make({ identity: IdentitySelector.SystemAssigned() })
 * ```
 */
export const makeWithCache = (
  options: ManagedIdentityOptions,
): Effect.Effect<ManagedIdentityProvider, never, ManagedIdentitySource.ManagedIdentitySource | Scope.Scope> =>
  Effect.gen(function* () {
    const source = yield* ManagedIdentitySource.ManagedIdentitySource
    const selector = options.identity
    const description = `managed identity (${describeSelector(selector)}) via ${source.name} at ${source.endpoint}`
    yield* Effect.logDebug(`using ${description}`).pipe(
      Effect.annotateLogs({ source: source.name, selector: describeSelector(selector) }),
    )
    return yield* makeCachedProvider({
      description,
      lookup: (resource) => source.requestToken(resource, selector),
      capacity: options.capacity,
      refreshMaxDelayMs: options.refreshMaxDelayMs,
    })
  })

/** {@link makeWithCache}, the provider only. */
export const make = (
  options: ManagedIdentityOptions,
): Effect.Effect<TokenProvider["Type"], never, ManagedIdentitySource.ManagedIdentitySource | Scope.Scope> =>
  Effect.map(makeWithCache(options), (p) => p.provider)

/** The provider for {@link AzmiConfig}'s identity and source, over the HttpClient in context. */
export const layerFromConfig: Layer.Layer<TokenProvider, never, AzmiConfig | HttpClient.HttpClient> =
  Layer.scoped(
    TokenProvider,
    Effect.flatMap(AzmiConfig, (config) => make({ identity: config.identity })),
  ).pipe(Layer.provide(ManagedIdentitySource.layer))

/**
 * The whole managed-identity credential from options and the environment: configuration, HTTP
 * transport, source and cache.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ManagedIdentity, TokenProvider } from "@azmi/core"
 *
 * const token = Effect.flatMap(TokenProvider, (tp) => tp.getToken("https://management.azure.com/"))
 * Effect.runPromise(token.pipe(Effect.provide(ManagedIdentity.layer({ imdsEndpoint: "http://127.0.0.1:8080" }))))
 * ```
 */
export const layer = (options: ConfigOptions = {}): Layer.Layer<TokenProvider, InvalidConfiguration> =>
  layerFromConfig.pipe(Layer.provide(HttpTransport.layerConfig), Layer.provide(AzmiConfig.layer(options)))
