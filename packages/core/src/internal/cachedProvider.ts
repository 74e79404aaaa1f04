/**
 * A {@link TokenProvider} over a token cache keyed by resource: what the managed-identity and the
 * service-principal providers share (resource validation memoised, `getToken` and `peekToken`).
 * @internal
 */
import { Effect } from "effect"
import type { AccessToken } from "../AccessToken.js"
import type { TokenError } from "../Errors.js"
import type * as RefreshAheadCache from "../RefreshAheadCache.js"
import { TokenProvider } from "../TokenProvider.js"
import type { ResourceMemo } from "./resourceMemo.js"

export const cachedProvider = (
  description: string,
  cache: RefreshAheadCache.RefreshAheadCache<string, AccessToken, TokenError>,
  resourceOf: ResourceMemo,
): TokenProvider["Type"] =>
  TokenProvider.of({
    description,
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
