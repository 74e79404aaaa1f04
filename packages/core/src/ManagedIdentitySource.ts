/**
 * A raw managed-identity token client for one source (IMDS, App Service): one call, Azure's retry
 * rules, typed errors, no cache. `ManagedIdentity.layer` puts the cache on top.
 * @module
 */
import type { HttpClient } from "@effect/platform"
import { Context, Effect, Layer } from "effect"
import type { AccessToken } from "./AccessToken.js"
import * as AppService from "./AppService.js"
import { AzmiConfig } from "./Config.js"
import type { TokenError } from "./Errors.js"
import type { IdentitySelector } from "./IdentitySelector.js"
import * as Imds from "./Imds.js"
import { imdsPolicy, type RetryPolicy } from "./Retry.js"
import * as WorkloadIdentity from "./WorkloadIdentity.js"

/**
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { IdentitySelector, ManagedIdentitySource } from "@azmi/core"
 * const token = Effect.flatMap(ManagedIdentitySource, (s) =>
 *   s.requestToken("https://management.azure.com/", IdentitySelector.SystemAssigned()))
 * ```
 */
export class ManagedIdentitySource extends Context.Tag("@azmi/core/ManagedIdentitySource")<
  ManagedIdentitySource,
  {
    /** `IMDS`, `App Service` or `workload identity`. */
    readonly name: string
    /** The endpoint (no query), for logs and cache keys. */
    readonly endpoint: string
    /** One token request (with retries) for an already validated resource. */
    readonly requestToken: (
      resource: string,
      selector: IdentitySelector,
    ) => Effect.Effect<AccessToken, TokenError>
  }
>() {}

/** The policy of a configuration: IMDS defaults with its attempt timeout and deadline. */
export const policyFromConfig = (config: {
  readonly attemptTimeoutMs: number
  readonly deadlineMs: number
}): RetryPolicy => ({
  ...imdsPolicy,
  attemptTimeoutMs: config.attemptTimeoutMs,
  deadlineMs: config.deadlineMs,
})

/** The source named by {@link AzmiConfig} (IMDS, App Service or workload identity), over the provided HttpClient. */
export const layer: Layer.Layer<ManagedIdentitySource, never, AzmiConfig | HttpClient.HttpClient> =
  Layer.effect(
    ManagedIdentitySource,
    Effect.gen(function* () {
      const config = yield* AzmiConfig
      const policy = policyFromConfig(config)
      const source = config.source
      switch (source._tag) {
        case "Imds":
          return yield* Imds.make({
            endpoint: source.endpoint,
            policy,
            endpointVariable: config.setBy.imdsEndpoint,
          })
        case "AppService":
          return yield* AppService.make({
            endpoint: source.endpoint,
            header: source.header,
            policy,
            endpointVariable: config.setBy.identityEndpoint,
            headerVariable: config.setBy.identityHeader,
          })
        case "WorkloadIdentity":
          return yield* WorkloadIdentity.makeSource(source, { policy })
      }
    }),
  )
