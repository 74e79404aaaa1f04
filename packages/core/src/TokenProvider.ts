/**
 * The one thing ARM calls need: a token for a resource. Implemented by managed identity
 * (`ManagedIdentity.layer`) and by a service principal with a client secret (`ClientSecret.layer`),
 * both behind the same cache, single-flight and retry machinery.
 * @module
 */
import { Context, type Effect } from "effect"
import type { AccessToken } from "./AccessToken.js"
import type { TokenError } from "./Errors.js"

/** Options of {@link TokenProvider} `getToken`. */
export interface GetTokenOptions {
  /** Skip the cache and fetch a new token (e.g. after ARM answered 401). */
  readonly forceRefresh?: boolean | undefined
}

/**
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TokenProvider } from "@azmi/core"
 *
 * const token = Effect.flatMap(TokenProvider, (tp) => tp.getToken("https://management.azure.com/"))
 * ```
 */
export class TokenProvider extends Context.Tag("@azmi/core/TokenProvider")<
  TokenProvider,
  {
    /**
     * A token for `resourceOrScope` (a resource such as `https://management.azure.com/` or a scope
     * ending in `/.default`). Served from the cache while valid.
     */
    readonly getToken: (
      resourceOrScope: string,
      options?: GetTokenOptions,
    ) => Effect.Effect<AccessToken, TokenError>
    /** Who this provider authenticates as, for logs and `doctor`, e.g. `managed identity (system-assigned) via IMDS`. */
    readonly description: string
    /**
     * The cached token for `resourceOrScope` if one is valid now — synchronously, with no effect run and
     * nothing sent — else `undefined` (then call `getToken`). Exactly a cache hit of `getToken`: it
     * counts as one, and starts the background refresh of a token that is due. For a hot path (azmi-http
     * answering IMDS's token route); providers without a synchronous cache leave it out.
     */
    readonly peekToken?: ((resourceOrScope: string) => AccessToken | undefined) | undefined
  }
>() {}
