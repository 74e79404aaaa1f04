/**
 * The App Service / Functions token source (api-version 2019-08-01): `GET $IDENTITY_ENDPOINT?resource=…`
 * with `X-IDENTITY-HEADER: $IDENTITY_HEADER`; user-assigned identities by `client_id`, `object_id`
 * or `mi_res_id`.
 * @module
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Effect, Redacted } from "effect"
import { describeSelector, IdentitySelector } from "./IdentitySelector.js"
import { miCall } from "./internal/miRequest.js"
import type { ManagedIdentitySource } from "./ManagedIdentitySource.js"
import { imdsPolicy, type RetryPolicy } from "./Retry.js"
import * as TokenResponse from "./TokenResponse.js"

export const API_VERSION = "2019-08-01"

/** The query parameter naming a user-assigned identity on App Service. */
export const selectorParam = (selector: IdentitySelector): ReadonlyArray<readonly [string, string]> =>
  IdentitySelector.$match(selector, {
    SystemAssigned: () => [],
    ClientId: ({ clientId }) => [["client_id", clientId] as const],
    ObjectId: ({ objectId }) => [["object_id", objectId] as const],
    ResourceId: ({ resourceId }) => [["mi_res_id", resourceId] as const],
  })

/**
 * Build the App Service source over the provided HttpClient.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { AppService } from "@azmi/core"
 * const source = AppService.make({ endpoint: "http://127.0.0.1:41741/msi/token", header: Redacted.make("…") })
 * ```
 */
export const make = (options: {
  /** The full token URL (`IDENTITY_ENDPOINT`). */
  readonly endpoint: string
  /** `IDENTITY_HEADER`. */
  readonly header: Redacted.Redacted<string>
  readonly policy?: RetryPolicy | undefined
  /** The option or environment variable that set `endpoint`, named in hints. Default `IDENTITY_ENDPOINT`. */
  readonly endpointVariable?: string | undefined
  /** The option or environment variable that set `header`, named in hints. Default `IDENTITY_HEADER`. */
  readonly headerVariable?: string | undefined
}): Effect.Effect<ManagedIdentitySource["Type"], never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => {
    const url = new URL(options.endpoint)
    url.search = ""
    const endpoint = url.href
    const policy = options.policy ?? imdsPolicy
    return {
      name: "App Service",
      endpoint,
      requestToken: (resource, selector) => {
        const selectorText = describeSelector(selector)
        return miCall({
          client,
          request: HttpClientRequest.get(endpoint).pipe(
            HttpClientRequest.setUrlParams([
              ["api-version", API_VERSION],
              ["resource", resource],
              ...selectorParam(selector),
            ]),
            HttpClientRequest.setHeader("x-identity-header", Redacted.value(options.header)),
            HttpClientRequest.acceptJson,
          ),
          policy,
          operation: "App Service token request",
          endpoint,
          endpointVariable: options.endpointVariable ?? "IDENTITY_ENDPOINT",
          secretVariable: options.headerVariable ?? "IDENTITY_HEADER",
          selector: selectorText,
          resource,
          redactHeaders: ["x-identity-header"],
          decode: (text, now) => TokenResponse.decodeFrom(endpoint, text, now, resource),
        }).pipe(
          Effect.annotateLogs({ source: "App Service", selector: selectorText, resource }),
          Effect.withSpan("azmi.appService.requestToken", {
            attributes: { source: "App Service", selector: selectorText, resource },
          }),
        )
      },
    }
  })
