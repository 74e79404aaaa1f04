/**
 * A raw managed-identity token client for one host (IMDS, App Service, Service Fabric, Azure ML, Cloud
 * Shell, Azure Arc, workload identity): one call, the host's retry rules, typed errors, no cache. `ManagedIdentity.layer`
 * puts the cache on top, so single-flight and refresh-ahead hold on every host alike.
 * @module
 */
import type { HttpClient } from "@effect/platform"
import { Context, Effect, Layer } from "effect"
import type { AccessToken } from "./AccessToken.js"
import * as AppService from "./AppService.js"
import * as AzureArc from "./AzureArc.js"
import * as AzureMl from "./AzureMl.js"
import * as CloudShell from "./CloudShell.js"
import { AzmiConfig } from "./Config.js"
import type { TokenError } from "./Errors.js"
import type { IdentitySelector } from "./IdentitySelector.js"
import * as Imds from "./Imds.js"
import { hostPolicy, imdsPolicy, type RetryPolicy } from "./Retry.js"
import * as ServiceFabric from "./ServiceFabric.js"
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
    /** The host: `IMDS`, `App Service`, `Service Fabric`, `Azure ML`, `Cloud Shell`, `Azure Arc`, `workload identity`. */
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

/** The policy of a configuration: the host's defaults (IMDS's by default) with its attempt timeout and deadline. */
export const policyFromConfig = (
  config: {
    readonly attemptTimeoutMs: number
    readonly deadlineMs: number
  },
  base: RetryPolicy = imdsPolicy,
): RetryPolicy => ({
  ...base,
  attemptTimeoutMs: config.attemptTimeoutMs,
  deadlineMs: config.deadlineMs,
})

/** The source of the host {@link AzmiConfig} detected, over the provided HttpClient. */
export const layer: Layer.Layer<ManagedIdentitySource, never, AzmiConfig | HttpClient.HttpClient> =
  Layer.scoped(
    ManagedIdentitySource,
    Effect.gen(function* () {
      const config = yield* AzmiConfig
      const source = config.source
      const variables = config.detection
      switch (source._tag) {
        case "Imds":
          return yield* Imds.make({
            endpoint: source.endpoint,
            policy: policyFromConfig(config),
            endpointVariable: config.setBy.imdsEndpoint,
          })
        case "AppService":
          return yield* AppService.make({
            endpoint: source.endpoint,
            header: source.header,
            policy: policyFromConfig(config),
            endpointVariable: config.setBy.identityEndpoint,
            headerVariable: config.setBy.identityHeader,
          })
        case "ServiceFabric":
          return yield* ServiceFabric.make({
            endpoint: source.endpoint,
            header: source.header,
            thumbprint: source.thumbprint,
            policy: policyFromConfig(config, hostPolicy),
            connectTimeoutMs: config.connectTimeoutMs,
            headerVariable: variables.setBy.secret,
          })
        case "AzureMl":
          return yield* AzureMl.make({
            endpoint: source.endpoint,
            secret: source.secret,
            defaultClientId: source.defaultClientId,
            policy: policyFromConfig(config, hostPolicy),
          })
        case "CloudShell":
          return yield* CloudShell.make({
            endpoint: source.endpoint,
            policy: policyFromConfig(config, hostPolicy),
          })
        case "AzureArc":
          return yield* AzureArc.make({
            endpoint: source.endpoint,
            policy: policyFromConfig(config, hostPolicy),
            endpointVariable: variables.setBy.endpoint,
          })
        case "WorkloadIdentity":
          // Entra's token endpoint, with the pod's federated token as the assertion (the one cache on top).
          return yield* WorkloadIdentity.makeSource(source, { policy: policyFromConfig(config) })
      }
    }),
  )
