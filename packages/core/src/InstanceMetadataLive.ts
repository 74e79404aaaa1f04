/**
 * The live {@link InstanceMetadata}: `GET {imds}/metadata/instance?api-version=2021-02-01` with
 * `Metadata: true`, retried and classified like token requests (so off Azure it fails fast with
 * `ImdsUnavailable`), decoded with `Schema`, and kept once fetched (it does not change while the
 * process runs; failures are not kept).
 * @module
 */
import { HttpClient } from "@effect/platform"
import { Effect, Either, Layer, ParseResult, Schema } from "effect"
import { AzmiConfig, hasImds } from "./Config.js"
import { MalformedTokenResponse, NoInstanceMetadata } from "./Errors.js"
import { ComputeMetadata, InstanceMetadata } from "./InstanceMetadata.js"
import { INSTANCE_PATH, readInstanceDocument } from "./internal/instanceRequest.js"
import { policyFromConfig } from "./ManagedIdentitySource.js"
import * as RefreshAheadCache from "./RefreshAheadCache.js"
import { imdsPolicy, type RetryPolicy } from "./Retry.js"
import { displayName } from "./SourceDetection.js"

export const API_VERSION = "2021-02-01"
export { INSTANCE_PATH }

const InstanceBody = Schema.Struct({ compute: ComputeMetadata })

/**
 * Build the service over the HttpClient in context.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { InstanceMetadataLive } from "@azmi/core"
 * const service = InstanceMetadataLive.make({ endpoint: "http://127.0.0.1:8080" })
 * ```
 */
export const make = (options: {
  readonly endpoint: string
  readonly policy?: RetryPolicy | undefined
  /** The option or environment variable that chose `endpoint`, named in hints (absent: IMDS's own address). */
  readonly endpointVariable?: string | undefined
}) =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const fetch = readInstanceDocument({
      client,
      endpoint: options.endpoint,
      apiVersion: API_VERSION,
      policy: options.policy ?? imdsPolicy,
      endpointVariable: options.endpointVariable,
      decode: (json, _now, url) =>
        Either.mapBoth(Schema.decodeUnknownEither(InstanceBody)(json, { errors: "first" }), {
          onLeft: (error) => {
            const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
            const field = issue?.path.map(String).join(".")
            return new MalformedTokenResponse({
              endpoint: url,
              field,
              detail:
                issue?._tag === "Missing" ? `${field} is missing` : `${field ?? "body"} has an invalid value`,
            })
          },
          onRight: (body) => ({
            compute: body.compute,
            expiresOn: Number.POSITIVE_INFINITY,
            refreshOn: Number.POSITIVE_INFINITY,
          }),
        }),
    }).pipe(Effect.withSpan("azmi.imds.instanceMetadata"))
    const cache = yield* RefreshAheadCache.make({
      lookup: (_: "compute") => fetch,
      name: "instance metadata",
    })
    return InstanceMetadata.of({ compute: Effect.map(cache.get("compute"), (v) => v.compute) })
  })

/**
 * The service from {@link AzmiConfig}'s IMDS endpoint, over the HttpClient in context. On a host without
 * IMDS (App Service, Cloud Shell, Azure Arc) and no IMDS endpoint set, it says so at once
 * (`NoInstanceMetadata`) instead of waiting for 169.254.169.254 to time out.
 */
export const layer: Layer.Layer<InstanceMetadata, never, AzmiConfig | HttpClient.HttpClient> = Layer.scoped(
  InstanceMetadata,
  Effect.flatMap(AzmiConfig, (config) =>
    !hasImds(config)
      ? Effect.succeed(
          InstanceMetadata.of({
            compute: Effect.fail(new NoInstanceMetadata({ source: displayName(config.detection.name) })),
          }),
        )
      : make({
          endpoint: config.imdsEndpoint,
          policy: policyFromConfig(config),
          endpointVariable: config.setBy.imdsEndpoint,
        }),
  ),
)
