/**
 * The Cloud Shell token source: `POST $MSI_ENDPOINT` with `Metadata: true` and the form body
 * `resource=…`. Cloud Shell has one identity — the signed-in user's — so a named identity is refused
 * before any request.
 * @module
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Effect } from "effect"
import { tokenSource } from "./internal/tokenSource.js"
import type { ManagedIdentitySource } from "./ManagedIdentitySource.js"
import { hostPolicy, type RetryPolicy } from "./Retry.js"

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
    const policy = options.policy ?? hostPolicy
    return tokenSource({
      name: NAME,
      // The whole URL: Cloud Shell POSTs to it as it is.
      endpoint: options.endpoint,
      span: "azmi.cloudShell.requestToken",
      refuse: (selector) => (selector._tag === "SystemAssigned" ? undefined : "system-assigned"),
      call: (resource) => ({
        client,
        request: HttpClientRequest.post(options.endpoint).pipe(
          HttpClientRequest.setHeader("metadata", "true"),
          HttpClientRequest.bodyUrlParams({ resource }),
          HttpClientRequest.acceptJson,
        ),
        policy,
        endpointVariable: "MSI_ENDPOINT",
      }),
    })
  })
