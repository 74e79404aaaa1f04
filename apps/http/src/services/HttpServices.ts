/**
 * Every service the routes use, and the one layer that builds them from the core.
 * @module
 */
import { Azmi, type InvalidConfiguration } from "@azmi/core"
import { Layer, Logger } from "effect"
import type { HttpConfig } from "../config.js"
import * as GroupReads from "./GroupReads.js"
import * as TokenBroker from "./TokenBroker.js"

/** What a route may ask for. */
export type HttpServices = Azmi.AzmiServices | GroupReads.GroupReads | TokenBroker.TokenBroker

/**
 * azmi-http's services over any core layer (the real one, or fakes in tests).
 *
 * @example
 * ```ts
 * const runtime = ManagedRuntime.make(HttpServices.layer(config, Azmi.layer(), (identity) => Azmi.layer({ identity })))
 * ```
 */
export const layer = <E>(
  config: HttpConfig,
  core: Layer.Layer<Azmi.AzmiServices, E>,
  providerFor: TokenBroker.TokenProviderFor,
): Layer.Layer<HttpServices, E> =>
  Layer.mergeAll(GroupReads.layer(config.cacheTtlMs), TokenBroker.layer(providerFor)).pipe(
    Layer.provideMerge(core),
  )

/** The production layer: `Azmi.layer` from the configuration, one more per broker-selected identity. */
export const live = (config: HttpConfig): Layer.Layer<HttpServices, InvalidConfiguration> =>
  // The core's own log lines (retries, throttling) become JSON too, one object per line like the access log.
  // A caller who names an identity asks for that managed identity, even when the process itself
  // authenticates as a service principal (AZURE_CLIENT_SECRET set).
  layer(config, Azmi.layer(config.core), (identity) =>
    Azmi.layer({ ...config.core, identity, credential: "managed-identity" }),
  ).pipe(Layer.provideMerge(Logger.json))
