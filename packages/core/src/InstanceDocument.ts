/**
 * IMDS's whole instance-metadata document (`GET {imds}/metadata/instance?api-version=…`) per
 * api-version, as IMDS returned it, from a short-TTL single-flight cache: what a stand-in for IMDS
 * serves `/metadata/instance` and its sub-paths from (see `ImdsProtocol.instanceAnswer`). Requested,
 * retried and classified like every managed-identity call; failures are never cached.
 * @module
 */
import { HttpClient } from "@effect/platform"
import { Context, Effect, Either, Layer } from "effect"
import { AzmiConfig, type ConfigOptions } from "./Config.js"
import { type InvalidConfiguration, MalformedTokenResponse, type TokenError } from "./Errors.js"
import * as HttpTransport from "./HttpTransport.js"
import { INSTANCE_PATH, readInstanceDocument } from "./internal/instanceRequest.js"
import { policyFromConfig } from "./ManagedIdentitySource.js"
import * as RefreshAheadCache from "./RefreshAheadCache.js"
import { imdsPolicy, type RetryPolicy } from "./Retry.js"

/** IMDS's instance-metadata path. */
export { INSTANCE_PATH }

/** How long a document is served before it is read again. */
export const DEFAULT_TTL_MS = 10_000

/**
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { InstanceDocument } from "@azmi/core"
 * const location = Effect.flatMap(InstanceDocument.InstanceDocument, (d) => d.get("2021-02-01"))
 * ```
 */
export class InstanceDocument extends Context.Tag("@azmi/core/InstanceDocument")<
  InstanceDocument,
  {
    /** The document IMDS returns for `apiVersion` (a JSON object), cached for the TTL. */
    readonly get: (apiVersion: string) => Effect.Effect<Readonly<Record<string, unknown>>, TokenError>
  }
>() {}

interface Cached {
  readonly document: Readonly<Record<string, unknown>>
  readonly expiresOn: number
  readonly refreshOn: number
}

/**
 * The service over the HttpClient in context.
 *
 * @example
 * ```ts
 * const service = InstanceDocument.make({ endpoint: "http://127.0.0.1:8080", ttlMs: 10_000 })
 * ```
 */
export const make = (options: {
  /** IMDS base URL (origin). */
  readonly endpoint: string
  readonly ttlMs?: number | undefined
  readonly policy?: RetryPolicy | undefined
  /** The option or environment variable that chose `endpoint`, named in hints. */
  readonly endpointVariable?: string | undefined
}) =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const ttlMs = Math.max(1, options.ttlMs ?? DEFAULT_TTL_MS)
    const fetch = (apiVersion: string): Effect.Effect<Cached, TokenError> =>
      readInstanceDocument({
        client,
        endpoint: options.endpoint,
        apiVersion,
        policy: options.policy ?? imdsPolicy,
        endpointVariable: options.endpointVariable,
        decode: (json, now, url) =>
          typeof json !== "object" || json === null || Array.isArray(json)
            ? Either.left(
                new MalformedTokenResponse({ endpoint: url, detail: "the body is not a JSON object" }),
              )
            : Either.right({
                document: json as Readonly<Record<string, unknown>>,
                expiresOn: now + ttlMs,
                refreshOn: now + Math.ceil(ttlMs * 0.8),
              }),
      }).pipe(Effect.withSpan("azmi.imds.instanceDocument", { attributes: { apiVersion } }))
    const cache = yield* RefreshAheadCache.make({
      lookup: fetch,
      // One entry per api-version; the shell accepts only IMDS's known versions.
      capacity: 64,
      name: "instance metadata document",
    })
    return InstanceDocument.of({
      get: (apiVersion) => Effect.map(cache.get(apiVersion), (cached) => cached.document),
    })
  })

/** The service from {@link AzmiConfig}'s IMDS endpoint and time budgets, over the HttpClient in context. */
export const layerFromConfig = (
  ttlMs: number = DEFAULT_TTL_MS,
): Layer.Layer<InstanceDocument, never, AzmiConfig | HttpClient.HttpClient> =>
  Layer.scoped(
    InstanceDocument,
    Effect.flatMap(AzmiConfig, (config) =>
      make({
        endpoint: config.imdsEndpoint,
        ttlMs,
        policy: policyFromConfig(config),
        endpointVariable: config.setBy.imdsEndpoint,
      }),
    ),
  )

/**
 * The service from options and the environment, on a transport of its own.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { InstanceDocument } from "@azmi/core"
 * const doc = Effect.flatMap(InstanceDocument.InstanceDocument, (d) => d.get("2021-02-01"))
 * Effect.runPromise(doc.pipe(Effect.provide(InstanceDocument.layer({ imdsEndpoint: "http://127.0.0.1:8080" }))))
 * ```
 */
export const layer = (
  options: ConfigOptions = {},
  ttlMs: number = DEFAULT_TTL_MS,
): Layer.Layer<InstanceDocument, InvalidConfiguration> =>
  layerFromConfig(ttlMs).pipe(
    Layer.provide(HttpTransport.layerConfig),
    Layer.provide(AzmiConfig.layer(options)),
  )
