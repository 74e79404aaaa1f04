/**
 * The one thing ARM calls need: a token for a resource. Implemented by managed identity
 * (`ManagedIdentity.layer`) and by a service principal with a client secret (`ClientSecret.layer`),
 * both behind the same cache, single-flight and retry machinery; {@link TokenProvider.layerTest} stands in
 * for them in tests.
 * @module
 */
import { Context, Effect, Layer, Redacted } from "effect"
import type { AccessToken } from "./AccessToken.js"
import type { TokenError } from "./Errors.js"

/** Options of {@link TokenProvider} `getToken`. */
export interface GetTokenOptions {
  /** Skip the cache and fetch a new token (e.g. after ARM answered 401). */
  readonly forceRefresh?: boolean | undefined
}

/** One `getToken` call, as {@link TokenProviderTestOptions} `onCall` is told of it. */
export interface GetTokenCall {
  readonly resource: string
  readonly forceRefresh: boolean
}

/** Options of {@link TokenProvider.layerTest}. */
export interface TokenProviderTestOptions {
  /** Answers every call (a failure, a delay on the TestClock, numbered tokens…). Default: {@link testToken}. */
  readonly getToken?:
    | ((resourceOrScope: string, options?: GetTokenOptions) => Effect.Effect<AccessToken, TokenError>)
    | undefined
  /** Default `test token provider`. */
  readonly description?: string | undefined
  /** Told of every call before it is answered: what would have reached IMDS or Entra ID. */
  readonly onCall?: ((call: GetTokenCall) => void) | undefined
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
>() {
  /**
   * A provider for tests, with no cache, source or network: every call is told to `onCall`, then
   * answered by `getToken` (default: {@link testToken} for the resource asked for).
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { TokenProvider } from "@azmi/core"
   *
   * const asked: Array<string> = []
   * const tokens = TokenProvider.layerTest({ onCall: (call) => asked.push(call.resource) })
   * const token = Effect.flatMap(TokenProvider, (tp) => tp.getToken("https://vault.azure.net"))
   * await Effect.runPromise(Effect.provide(token, tokens)) // asked: ["https://vault.azure.net"]
   * ```
   */
  static readonly layerTest = (options: TokenProviderTestOptions = {}): Layer.Layer<TokenProvider> =>
    Layer.succeed(TokenProvider, makeTest(options))
}

/**
 * The token {@link TokenProvider.layerTest} hands out by default: `test-token-for-<resource>`, valid until
 * 2100; `overrides` replace any field (a JWT-shaped `token`, a `clientId`…).
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { testToken } from "@azmi/core"
 * testToken("https://management.azure.com/", { token: Redacted.make("eyJ…") })
 * ```
 */
export const testToken = (resource: string, overrides: Partial<AccessToken> = {}): AccessToken => ({
  token: Redacted.make(`test-token-for-${resource}`),
  tokenType: "Bearer",
  resource,
  expiresOn: Date.UTC(2100, 0, 1),
  refreshOn: Date.UTC(2099, 11, 31),
  ...overrides,
})

const makeTest = (options: TokenProviderTestOptions): TokenProvider["Type"] =>
  TokenProvider.of({
    description: options.description ?? "test token provider",
    getToken: (resource, getOptions) =>
      Effect.suspend(() => {
        options.onCall?.({ resource, forceRefresh: getOptions?.forceRefresh === true })
        return options.getToken?.(resource, getOptions) ?? Effect.succeed(testToken(resource))
      }),
  })
