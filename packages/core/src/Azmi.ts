/**
 * One call that wires everything a shell needs from configuration: the credential (managed identity
 * or service principal), instance metadata, resource groups and role assignments.
 * Every option defaults from the environment (see the README's environment table).
 * @module
 */
import type { HttpClient } from "@effect/platform"
import { Effect, Layer, Option } from "effect"
import * as ArmClient from "./ArmClient.js"
import * as ArmWire from "./ArmWire.js"
import { type AzureHost, layer as azureHostLayer } from "./AzureHost.js"
import * as ClientSecret from "./ClientSecret.js"
import { AzmiConfig, type ConfigOptions } from "./Config.js"
import type { InvalidConfiguration } from "./Errors.js"
import * as HttpTransport from "./HttpTransport.js"
import type { InstanceMetadata } from "./InstanceMetadata.js"
import * as InstanceMetadataLive from "./InstanceMetadataLive.js"
import * as ManagedIdentity from "./ManagedIdentity.js"
import type { ResourceGroups } from "./ResourceGroups.js"
import * as ResourceGroupsLive from "./ResourceGroupsLive.js"
import type { RoleAssignments } from "./RoleAssignments.js"
import * as RoleAssignmentsLive from "./RoleAssignmentsLive.js"
import type { TokenProvider } from "./TokenProvider.js"

/**
 * Options of {@link layer}: every {@link ConfigOptions} field (endpoints, identity, credential, time
 * budgets, service principal, extra CA); anything left out comes from the environment, then from
 * Azure's defaults.
 */
export interface AzmiOptions extends ConfigOptions {
  /**
   * Wraps the credential's `TokenProvider` for every consumer, ARM calls included — e.g.
   * `FileTokenCache.layer(…)` (a layer that takes a TokenProvider and gives back a cached one).
   */
  readonly wrapTokenProvider?: Layer.Layer<TokenProvider, never, TokenProvider> | undefined
  /**
   * How ARM requests go out (see {@link ArmWire.Transport}): `"undici"` (the default, azmi's own
   * dispatch on an undici pool), `"http-client"` (`@effect/platform`'s HttpClient over such a pool), or a
   * layer of any `HttpClient`. Tokens still come from the credential's own transport.
   */
  readonly armTransport?: ArmWire.Transport | undefined
}

/** The services every shell uses (and fakes in tests provide). */
export type AzmiServices = TokenProvider | InstanceMetadata | ResourceGroups | RoleAssignments

/** Everything {@link layer} provides: {@link AzmiServices} and the {@link AzureHost} detected (for `doctor`). */
export type AzmiServicesWithHost = AzmiServices | AzureHost

/** The credential {@link AzmiConfig} selected, over the HttpClient in context. */
const credentialLayer: Layer.Layer<TokenProvider, InvalidConfiguration, AzmiConfig | HttpClient.HttpClient> =
  Layer.unwrapEffect(
    Effect.map(AzmiConfig, (config) =>
      config.credential === "client-secret" ? ClientSecret.layerFromConfig : ManagedIdentity.layerFromConfig,
    ),
  )

/**
 * The ARM client for {@link AzmiConfig}'s endpoint, audience and time budgets, over `transport` on a
 * connection pool of its own (IMDS keeps the short connect timeout that tells "not on Azure" apart quickly).
 */
const armLayer = (
  transport: ArmWire.Transport,
): Layer.Layer<ArmClient.ArmClient, InvalidConfiguration, AzmiConfig | TokenProvider> =>
  Layer.unwrapEffect(
    Effect.map(AzmiConfig, (config) =>
      ArmClient.layerTransport(transport, {
        // Only an endpoint the user set is named in errors ("check AZMI_ARM_ENDPOINT").
        ...(config.setBy.armEndpoint === undefined
          ? {}
          : { endpoint: config.armEndpoint, endpointVariable: config.setBy.armEndpoint }),
        audience: config.armAudience,
        attemptTimeoutMs: config.attemptTimeoutMs,
        deadlineMs: config.deadlineMs,
        connectTimeoutMs: Math.max(config.connectTimeoutMs, ArmWire.armPool.connectTimeoutMs),
        caCert: Option.getOrUndefined(config.caCert),
      }),
    ),
  )

/**
 * The whole of azmi as one layer.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Azmi, ResourceGroups } from "@azmi/core"
 *
 * const program = Effect.flatMap(ResourceGroups, (rg) => rg.get("98f51385-2edc-4b79-bed9-7718de4cb861", "DevTest"))
 * Effect.runPromise(program.pipe(Effect.provide(Azmi.layer({ armEndpoint: "https://127.0.0.1:8443" }))))
 * ```
 */
export const layer = (options: AzmiOptions = {}): Layer.Layer<AzmiServicesWithHost, InvalidConfiguration> => {
  const arm = Layer.mergeAll(ResourceGroupsLive.layer, RoleAssignmentsLive.layer).pipe(
    Layer.provide(armLayer(options.armTransport ?? "undici")),
  )
  return Layer.mergeAll(arm, InstanceMetadataLive.layer, azureHostLayer).pipe(
    Layer.provideMerge(
      options.wrapTokenProvider === undefined
        ? credentialLayer
        : options.wrapTokenProvider.pipe(Layer.provide(credentialLayer)),
    ),
    Layer.provide(HttpTransport.layerConfig),
    Layer.provide(AzmiConfig.layer(options)),
  )
}
