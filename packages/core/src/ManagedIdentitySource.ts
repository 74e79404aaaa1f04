/**
 * A raw managed-identity token client for one host (IMDS, App Service, Service Fabric, Azure ML, Cloud
 * Shell, Azure Arc): one call, the host's retry rules, typed errors, no cache. `ManagedIdentity.layer`
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
import { InvalidConfiguration, type TokenError } from "./Errors.js"
import type { IdentitySelector } from "./IdentitySelector.js"
import * as Imds from "./Imds.js"
import { hostPolicy, imdsPolicy, type RetryPolicy } from "./Retry.js"
import * as ServiceFabric from "./ServiceFabric.js"

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
    /** The host: `IMDS`, `App Service`, `Service Fabric`, `Azure ML`, `Cloud Shell`, `Azure Arc`. */
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
          // HOOK(workload identity): the Entra assertion flow lives in WorkloadIdentity*.ts (another
          // change). Until it is wired here — `return yield* WorkloadIdentity.make(source, …)`, a source
          // like the others, so the cache, single-flight and refresh-ahead apply — detection works and
          // every token request fails with this typed error (nothing is sent).
          return {
            name: "workload identity",
            endpoint: source.authorityHost,
            requestToken: () =>
              Effect.fail(
                new InvalidConfiguration({
                  variable: "AZURE_FEDERATED_TOKEN_FILE",
                  reason:
                    "workload identity (AKS) was detected, and this build of azmi does not support it yet; set AZMI_MI_SOURCE to another host to use that one",
                }),
              ),
          }
      }
    }),
  )
