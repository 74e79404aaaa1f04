/**
 * azmi's managed identity for code that does not use Effect: an object with the shape of
 * `@azure/core-auth`'s `TokenCredential`, so any `@azure/*` client can use it. It is backed by one
 * `ManagedRuntime` per credential (its own HTTP agent and token cache); `close()` releases them.
 * @module
 */
import { Cause, Context, Effect, Layer, Logger, LogLevel, ManagedRuntime, Option, Redacted } from "effect"
import type { AccessToken } from "./AccessToken.js"
import { AzmiConfig, type ConfigOptions } from "./Config.js"
import { type AzmiError, errorCategory, isAzmiError } from "./Errors.js"
import * as HttpTransport from "./HttpTransport.js"
import * as ManagedIdentity from "./ManagedIdentity.js"
import * as ManagedIdentitySource from "./ManagedIdentitySource.js"

/** Options of {@link createManagedIdentityCredential}; every one defaults from the environment. */
export interface ManagedIdentityCredentialOptions extends ConfigOptions {
  /**
   * Lowest level of azmi's log lines printed (retries are `info`, background refresh failures
   * `warning`). Env `AZMI_LOG_LEVEL`; default `warning`. Tokens are never logged.
   */
  readonly logLevel?: "none" | "error" | "warning" | "info" | "debug" | undefined
}

const logLevels = {
  none: LogLevel.None,
  error: LogLevel.Error,
  warning: LogLevel.Warning,
  info: LogLevel.Info,
  debug: LogLevel.Debug,
} as const

const chooseLogLevel = (given: ManagedIdentityCredentialOptions["logLevel"]): LogLevel.LogLevel => {
  const name = given ?? process.env.AZMI_LOG_LEVEL?.toLowerCase()
  return name !== undefined && name in logLevels
    ? logLevels[name as keyof typeof logLevels]
    : LogLevel.Warning
}

/** The token shape `@azure/core-auth` expects. */
export interface AzureAccessToken {
  readonly token: string
  readonly expiresOnTimestamp: number
  readonly refreshAfterTimestamp: number
  readonly tokenType: "Bearer"
}

/** `@azure/abort-controller`'s `AbortSignalLike` (a DOM `AbortSignal` is one). */
export interface AbortSignalLike {
  readonly aborted: boolean
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void
  removeEventListener(type: "abort", listener: () => void): void
}

/** The subset of `@azure/core-auth` `GetTokenOptions` azmi honours (other fields are accepted and ignored). */
export interface CredentialGetTokenOptions {
  readonly abortSignal?: AbortSignalLike | undefined
}

/** A `TokenCredential`-compatible managed-identity credential. */
export interface ManagedIdentityCredential {
  /** A token for exactly one scope (or resource); rejects with an {@link AzmiCredentialError}. */
  getToken(
    scopes: string | ReadonlyArray<string>,
    options?: CredentialGetTokenOptions,
  ): Promise<AzureAccessToken>
  /** Release the HTTP agent and stop background refreshes. Idempotent. */
  close(): Promise<void>
}

/**
 * The rejection of {@link ManagedIdentityCredential.getToken}: the typed error's message (never a
 * token). Its `name` is `CredentialUnavailableError` when no managed identity is available, so
 * `ChainedTokenCredential` moves on to the next credential, as it does for the SDK's own.
 */
export class AzmiCredentialError extends Error {
  /** The azmi error tag, e.g. `ImdsUnavailable`. */
  readonly code: string
  /** The error's category (see `errorCategory`). */
  readonly category: string
  /** What to do about it, when azmi knows. */
  readonly hint: string | undefined
  constructor(error: AzmiError) {
    super(error.message)
    const category = errorCategory(error)
    this.name = category === "CredentialUnavailable" ? "CredentialUnavailableError" : "AuthenticationError"
    this.code = error._tag
    this.category = category
    this.hint = error.hint
  }
}

const ProviderTag = Context.GenericTag<ManagedIdentity.ManagedIdentityProvider>(
  "@azmi/core/Credential/ManagedIdentityProvider",
)

const toAbortSignal = (like: AbortSignalLike): AbortSignal => {
  if (like instanceof AbortSignal) return like
  const controller = new AbortController()
  if (like.aborted) controller.abort()
  else like.addEventListener("abort", () => controller.abort(), { once: true })
  return controller.signal
}

const toAzure = (t: AccessToken): AzureAccessToken => ({
  token: Redacted.value(t.token),
  expiresOnTimestamp: t.expiresOn,
  refreshAfterTimestamp: t.refreshOn,
  tokenType: "Bearer",
})

/**
 * Create a managed-identity credential for `@azure/*` SDK clients.
 *
 * @example
 * ```ts
 * import { ResourceManagementClient } from "@azure/arm-resources"
 * import { createManagedIdentityCredential } from "@azmi/core"
 *
 * const credential = createManagedIdentityCredential()
 * const client = new ResourceManagementClient(credential, "98f51385-2edc-4b79-bed9-7718de4cb861")
 * const group = await client.resourceGroups.get("DevTest")
 * await credential.close()
 * ```
 */
export const createManagedIdentityCredential = (
  options: ManagedIdentityCredentialOptions = {},
): ManagedIdentityCredential => {
  const providerLayer = Layer.scoped(
    ProviderTag,
    Effect.flatMap(AzmiConfig, (config) => ManagedIdentity.makeWithCache({ identity: config.identity })),
  ).pipe(
    Layer.provide(ManagedIdentitySource.layer),
    Layer.provide(HttpTransport.layerConfig),
    Layer.provide(AzmiConfig.layer(options)),
    Layer.provide(Logger.minimumLogLevel(chooseLogLevel(options.logLevel))),
  )
  const runtime = ManagedRuntime.make(providerLayer)
  let provider: ManagedIdentity.ManagedIdentityProvider | undefined
  // Scopes already validated, so the fast path below needs no parsing.
  const resources = new Map<string, string>()
  let closed = false

  const slow = (scope: string, options?: CredentialGetTokenOptions) =>
    runtime
      .runPromiseExit(
        Effect.gen(function* () {
          const p = yield* ProviderTag
          provider = p
          const resource = yield* p.resourceOf(scope)
          if (resources.size > 256) resources.clear()
          resources.set(scope, resource)
          return yield* p.cache.get(resource)
        }),
        options?.abortSignal === undefined ? undefined : { signal: toAbortSignal(options.abortSignal) },
      )
      .then((exit) => {
        if (exit._tag === "Success") return toAzure(exit.value)
        const failure = Option.getOrUndefined(Cause.failureOption(exit.cause))
        if (isAzmiError(failure)) throw new AzmiCredentialError(failure)
        throw new Error(
          Cause.isInterruptedOnly(exit.cause) || options?.abortSignal?.aborted === true
            ? "getToken was aborted"
            : "azmi: unexpected failure while getting a token",
        )
      })

  return {
    getToken(scopes, getOptions) {
      if (closed) return Promise.reject(new Error("azmi: the credential is closed"))
      const list = typeof scopes === "string" ? [scopes] : scopes
      if (list.length !== 1) {
        return Promise.reject(
          new Error(`azmi: managed identity takes exactly one scope (got ${list.length})`),
        )
      }
      const scope = list[0]!
      // Fast path: a valid cached token needs no fiber at all (`peek` starts the background refresh
      // of one that is due, so callers keep this path while it runs).
      const resource = resources.get(scope)
      if (provider !== undefined && resource !== undefined) {
        const cached = provider.cache.peek(resource)
        if (cached !== undefined) return Promise.resolve(toAzure(cached))
      }
      return slow(scope, getOptions)
    },
    close() {
      closed = true
      return runtime.dispose()
    },
  }
}
