/**
 * The Cloud Shell token source: `POST $MSI_ENDPOINT` with `Metadata: true` and the form body
 * `resource=…`. Cloud Shell has one identity — the signed-in user's — so a named identity is refused
 * before any request.
 * @module
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Effect } from "effect"
import { IdentitySelectionUnsupported } from "./Errors.js"
import { describeSelector } from "./IdentitySelector.js"
import { miCall } from "./internal/miRequest.js"
import type { ManagedIdentitySource } from "./ManagedIdentitySource.js"
import { hostPolicy, type RetryPolicy } from "./Retry.js"
import * as TokenResponse from "./TokenResponse.js"

const NAME = "Cloud Shell"

/**
 * Build the Cloud Shell source over the provided HttpClient.
 *
 * @example
 * ```ts
 * import { CloudShell } from "@azmi/core"
 * const source = CloudShell.make({ endpoint: "http://localhost:50342/oauth2/token" })
 * ```
 */
export const make = (options: {
  /** `MSI_ENDPOINT`: the full token URL. */
  readonly endpoint: string
  readonly policy?: RetryPolicy | undefined
}): Effect.Effect<ManagedIdentitySource["Type"], never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => {
    const endpoint = options.endpoint
    const policy = options.policy ?? hostPolicy
    return {
      name: NAME,
      endpoint,
      requestToken: (resource, selector) => {
        const selectorText = describeSelector(selector)
        if (selector._tag !== "SystemAssigned") {
          return Effect.fail(
            new IdentitySelectionUnsupported({
              source: NAME,
              selector: selectorText,
              supported: "system-assigned",
            }),
          )
        }
        return miCall({
          client,
          request: HttpClientRequest.post(endpoint).pipe(
            HttpClientRequest.setHeader("metadata", "true"),
            HttpClientRequest.bodyUrlParams({ resource }),
            HttpClientRequest.acceptJson,
          ),
          policy,
          operation: "Cloud Shell token request",
          endpoint,
          endpointVariable: "MSI_ENDPOINT",
          source: NAME,
          selector: selectorText,
          resource,
          decode: (text, now) => TokenResponse.decodeFrom(endpoint, text, now, resource),
        }).pipe(
          Effect.annotateLogs({ source: NAME, selector: selectorText, resource }),
          Effect.withSpan("azmi.cloudShell.requestToken", {
            attributes: { source: NAME, selector: selectorText, resource },
          }),
        )
      },
    }
  })
