/**
 * A {@link TokenProvider} over a token request: the single-flight, refresh-ahead {@link RefreshAheadCache}
 * keyed by resource, and memoised resource validation — the same for every credential (managed identity,
 * client secret, workload identity).
 * @internal
 */
import { Effect, type Scope } from "effect"
import type { AccessToken } from "../AccessToken.js"
import type { TokenError } from "../Errors.js"
import * as Metrics from "../Metrics.js"
import * as RefreshAheadCache from "../RefreshAheadCache.js"
import { TokenProvider } from "../TokenProvider.js"
import { makeResourceMemo } from "./resourceMemo.js"

/** A token provider with its cache exposed (for the Promise facade's fast path and tests). */
export interface CachedProvider {
  readonly provider: TokenProvider["Type"]
  readonly cache: RefreshAheadCache.RefreshAheadCache<string, AccessToken, TokenError>
  readonly resourceOf: (resourceOrScope: string) => Effect.Effect<string, TokenError>
}

export interface CachedProviderOptions {
  /** Who the provider authenticates as (`TokenProvider.description`). */
  readonly description: string
  /** One token request (with its retries) for a validated resource. */
  readonly lookup: (resource: string) => Effect.Effect<AccessToken, TokenError>
  /** Maximum number of resources cached. Default 1000. */
  readonly capacity?: number | undefined
  /** Cap of the delay between failed background refreshes. Default 60000. */
  readonly refreshMaxDelayMs?: number | undefined
}

/** The provider; the cache's background refreshes live in the current scope. */
export const makeCachedProvider = (
  options: CachedProviderOptions,
): Effect.Effect<CachedProvider, never, Scope.Scope> =>
  Effect.map(
    RefreshAheadCache.make<string, AccessToken, TokenError, never>({
      lookup: options.lookup,
      capacity: options.capacity,
      refreshMaxDelayMs: options.refreshMaxDelayMs,
      hits: Metrics.tokenCacheHits,
      misses: Metrics.tokenCacheMisses,
      name: "token",
    }),
    (cache) => {
      const resourceOf = makeResourceMemo()
      const provider = TokenProvider.of({
        description: options.description,
        getToken: (resourceOrScope, getOptions) => {
          const known = resourceOf.known(resourceOrScope)
          return known !== undefined
            ? cache.get(known, getOptions)
            : Effect.flatMap(resourceOf(resourceOrScope), (resource) => cache.get(resource, getOptions))
        },
        // A resource never validated yet has no cached token: getToken validates (and remembers) it.
        peekToken: (resourceOrScope) => {
          const known = resourceOf.known(resourceOrScope)
          return known === undefined ? undefined : cache.peek(known)
        },
      })
      return { provider, cache, resourceOf }
    },
  )
