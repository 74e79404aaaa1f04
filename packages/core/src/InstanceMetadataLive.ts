/**
 * The live {@link InstanceMetadata}: `GET {imds}/metadata/instance?api-version=2021-02-01` with
 * `Metadata: true`, retried and classified like token requests (so off Azure it fails fast with
 * `ImdsUnavailable`), decoded with `Schema`, and kept once fetched (it does not change while the
 * process runs; failures are not kept).
 * @module
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Effect, Either, Layer, ParseResult, Schema } from "effect"
import { AzmiConfig } from "./Config.js"
import { MalformedTokenResponse, NoInstanceMetadata } from "./Errors.js"
import { ComputeMetadata, InstanceMetadata } from "./InstanceMetadata.js"
import { miCall } from "./internal/miRequest.js"
import { policyFromConfig } from "./ManagedIdentitySource.js"
import * as RefreshAheadCache from "./RefreshAheadCache.js"
import { imdsPolicy, type RetryPolicy } from "./Retry.js"
import { displayName, hostHasImds } from "./SourceDetection.js"

export const API_VERSION = "2021-02-01"
export const INSTANCE_PATH = "/metadata/instance"

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
    const url = `${options.endpoint.replace(/\/+$/, "")}${INSTANCE_PATH}`
    const fetch = miCall({
      client,
      request: HttpClientRequest.get(url).pipe(
        HttpClientRequest.setUrlParams({ "api-version": API_VERSION }),
        HttpClientRequest.setHeader("metadata", "true"),
        HttpClientRequest.acceptJson,
      ),
      policy: options.policy ?? imdsPolicy,
      operation: "IMDS instance metadata request",
      endpoint: url,
      endpointVariable: options.endpointVariable,
      selector: "instance",
      resource: "instance metadata",
      decode: (text) => {
        let json: unknown
        try {
          json = JSON.parse(text)
        } catch {
          return Either.left(
            new MalformedTokenResponse({ endpoint: url, detail: "the body is not valid JSON" }),
          )
        }
        return Either.mapBoth(Schema.decodeUnknownEither(InstanceBody)(json, { errors: "first" }), {
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
        })
      },
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
    !hostHasImds(config.detection.name) && config.setBy.imdsEndpoint === undefined
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
