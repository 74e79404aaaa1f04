/**
 * One read of IMDS's instance-metadata document (`GET {imds}/metadata/instance?api-version=…` with
 * `Metadata: true`), retried and classified like every managed-identity call; the JSON body handed to
 * `decode`. Shared by `InstanceMetadataLive` (the compute fields azmi uses) and `InstanceDocument` (the
 * whole document, for IMDS's front end).
 * @internal
 */
import { type HttpClient, HttpClientRequest } from "@effect/platform"
import { type Effect, Either } from "effect"
import { MalformedTokenResponse, type TokenError } from "../Errors.js"
import type { RetryPolicy } from "../Retry.js"
import { miCall } from "./miRequest.js"

/** IMDS's instance-metadata path. */
export const INSTANCE_PATH = "/metadata/instance"

export const readInstanceDocument = <A>(options: {
  readonly client: HttpClient.HttpClient
  /** IMDS base URL (origin). */
  readonly endpoint: string
  readonly apiVersion: string
  readonly policy: RetryPolicy
  readonly endpointVariable?: string | undefined
  /** Decodes the parsed JSON body (`url` is the endpoint, for errors). */
  readonly decode: (json: unknown, nowMs: number, url: string) => Either.Either<A, TokenError>
}): Effect.Effect<A, TokenError> => {
  const url = `${options.endpoint.replace(/\/+$/, "")}${INSTANCE_PATH}`
  return miCall({
    client: options.client,
    request: HttpClientRequest.get(url).pipe(
      HttpClientRequest.setUrlParams({ "api-version": options.apiVersion }),
      HttpClientRequest.setHeader("metadata", "true"),
      HttpClientRequest.acceptJson,
    ),
    policy: options.policy,
    operation: "IMDS instance metadata request",
    endpoint: url,
    endpointVariable: options.endpointVariable,
    selector: "instance",
    resource: "instance metadata",
    decode: (text, now) => {
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        return Either.left(
          new MalformedTokenResponse({ endpoint: url, detail: "the body is not valid JSON" }),
        )
      }
      return options.decode(json, now, url)
    },
  })
}
