/**
 * Tokens for the broker route, for the identity a neighbour asks for. Without a selector the
 * process's own token provider answers; each explicit selector gets a token provider of its own
 * (built on first use from the core's layer, shared while in use, released after an idle hour), so
 * every identity keeps the core's single-flight cache.
 * @module
 */

import type { InvalidConfiguration } from "@azmi/core"
import {
  type AccessToken,
  type IdentitySelector,
  InvalidInput,
  sameIdentity,
  type TokenError,
  TokenProvider,
} from "@azmi/core"
import { Context, Effect, Layer, RcMap } from "effect"

/**
 * @example
 * ```ts
 * const token = Effect.flatMap(TokenBroker, (b) => b.getToken("https://management.azure.com/", undefined))
 * ```
 */
export class TokenBroker extends Context.Tag("@azmi/http/TokenBroker")<
  TokenBroker,
  {
    readonly getToken: (
      resource: string,
      selector: IdentitySelector | undefined,
    ) => Effect.Effect<AccessToken, TokenError>
    /**
     * The default identity's cached token for `resource` if one is valid now, synchronously (a cache
     * hit of `getToken(resource, undefined)`), else `undefined`: for the IMDS route's hot path.
     */
    readonly peekDefault: (resource: string) => AccessToken | undefined
  }
>() {}

/** Builds a token provider for one explicitly selected identity. */
export type TokenProviderFor = (
  selector: IdentitySelector,
) => Layer.Layer<TokenProvider, InvalidConfiguration>

/** At most this many distinct selected identities are held at once. */
export const selectedIdentityCapacity = 64

/**
 * The live broker: the default identity from the context's `TokenProvider`, others from `providerFor`.
 * `ownIdentity` is the managed identity the default provider authenticates as, when it is one: a
 * caller who names that very identity (an SDK sending the `AZURE_CLIENT_ID` it was given) shares the
 * default's cache instead of building a second one.
 */
export const layer = (
  providerFor: TokenProviderFor,
  ownIdentity?: IdentitySelector | undefined,
): Layer.Layer<TokenBroker, never, TokenProvider> =>
  Layer.scoped(
    TokenBroker,
    Effect.gen(function* () {
      const own = yield* TokenProvider
      // Selectors are Data values: equal selectors share one entry.
      const providers = yield* RcMap.make({
        lookup: (selector: IdentitySelector) =>
          Effect.map(Layer.build(providerFor(selector)), Context.get(TokenProvider)),
        idleTimeToLive: "1 hour",
        capacity: selectedIdentityCapacity,
      })
      const peek = own.peekToken
      return TokenBroker.of({
        peekDefault: peek === undefined ? () => undefined : (resource) => peek(resource),
        getToken: (resource, selector) =>
          selector === undefined || (ownIdentity !== undefined && sameIdentity(selector, ownIdentity))
            ? own.getToken(resource)
            : Effect.scoped(
                Effect.flatMap(RcMap.get(providers, selector), (provider) => provider.getToken(resource)),
              ).pipe(
                // The selector came from the caller: an id the core refuses is their input error, not ours.
                Effect.catchTag("InvalidConfiguration", (e) =>
                  Effect.fail(new InvalidInput({ field: e.variable, rule: e.reason })),
                ),
                Effect.catchTag("ExceededCapacityException", () =>
                  Effect.fail(
                    new InvalidInput({
                      field: "identity",
                      rule: `at most ${selectedIdentityCapacity} distinct identities can be in use at once`,
                    }),
                  ),
                ),
              ),
      })
    }),
  )
