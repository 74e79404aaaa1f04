/**
 * Every service the routes use, and the one layer that builds them from the core.
 * @module
 */
import { Azmi, AzmiConfig, type IdentitySelector, InstanceDocument, InvalidConfiguration } from "@azmi/core"
import { Effect, Layer, Logger } from "effect"
import type { HttpConfig } from "../config.js"
import * as GroupReads from "./GroupReads.js"
import * as TokenBroker from "./TokenBroker.js"

/** What a route may ask for. */
export type HttpServices =
  | Azmi.AzmiServices
  | GroupReads.GroupReads
  | TokenBroker.TokenBroker
  | InstanceDocument.InstanceDocument

/**
 * No instance-metadata document (tests that do not serve IMDS's protocol): every read fails as
 * misconfigured, never silently.
 */
export const noInstanceDocument: Layer.Layer<InstanceDocument.InstanceDocument> = Layer.succeed(
  InstanceDocument.InstanceDocument,
  InstanceDocument.InstanceDocument.of({
    get: () =>
      Effect.fail(
        new InvalidConfiguration({
          variable: "AZMI_IMDS_ENDPOINT",
          reason: "no instance metadata source is configured",
        }),
      ),
  }),
)

/**
 * azmi-http's services over any core layer (the real one, or fakes in tests).
 *
 * @example
 * ```ts
 * const runtime = ManagedRuntime.make(HttpServices.layer(config, Azmi.layer(), (identity) => Azmi.layer({ identity })))
 * ```
 */
export const layer = <E, E2 = never>(
  config: HttpConfig,
  core: Layer.Layer<Azmi.AzmiServices, E>,
  providerFor: TokenBroker.TokenProviderFor,
  instanceDocument: Layer.Layer<InstanceDocument.InstanceDocument, E2> = noInstanceDocument as Layer.Layer<
    InstanceDocument.InstanceDocument,
    E2
  >,
  ownIdentity?: IdentitySelector | undefined,
): Layer.Layer<HttpServices, E | E2> =>
  Layer.mergeAll(
    GroupReads.layer(config.cacheTtlMs, config.staleIfErrorMs),
    TokenBroker.layer(providerFor, ownIdentity),
    instanceDocument,
  ).pipe(Layer.provideMerge(core))

/** The production layer: `Azmi.layer` from the configuration, one more per broker-selected identity. */
export const live = (config: HttpConfig): Layer.Layer<HttpServices, InvalidConfiguration> =>
  Layer.unwrapEffect(
    Effect.map(AzmiConfig.make(config.core), (resolved) =>
      // The core's own log lines (retries, throttling) become JSON too, one object per line like the access log.
      // A caller who names an identity asks for that managed identity, even when the process itself
      // authenticates as a service principal (AZURE_CLIENT_SECRET set).
      layer(
        config,
        Azmi.layer(config.core),
        (identity) => Azmi.layer({ ...config.core, identity, credential: "managed-identity" }),
        // Only IMDS's front end reads the whole document; without it nothing is built.
        config.imds ? InstanceDocument.layer(config.core) : noInstanceDocument,
        resolved.credential === "managed-identity" ? resolved.identity : undefined,
      ).pipe(Layer.provideMerge(Logger.json)),
    ),
  )
