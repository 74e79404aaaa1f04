/**
 * The Azure Machine Learning token source (the 2017 API): `GET $MSI_ENDPOINT?api-version=2017-09-01&resource=…`
 * with `secret: $MSI_SECRET` and `Metadata: true`. A user-assigned identity is named by `clientid` (the
 * 2017 spelling) and only by client id; the system-assigned case sends the compute's own
 * `DEFAULT_IDENTITY_CLIENT_ID` when it is set (as MSAL Node does). `expires_on` comes as epoch seconds
 * (number or string) or a date (`TokenResponse.parseExpiresOn` reads them all).
 * @module
 */
import { HttpClient } from "@effect/platform"
import { Effect, Redacted } from "effect"
import { withoutQuery } from "./Endpoints.js"
import type { IdentitySelector } from "./IdentitySelector.js"
import { tokenGet, tokenSource } from "./internal/tokenSource.js"
import type { ManagedIdentitySource } from "./ManagedIdentitySource.js"
import { hostPolicy, type RetryPolicy } from "./Retry.js"

export const API_VERSION = "2017-09-01"
const NAME = "Azure ML"

/** The `clientid` to send, or `undefined` for a selector Azure ML cannot express. */
export const clientIdParam = (
  selector: IdentitySelector,
  defaultClientId: string | undefined,
): ReadonlyArray<readonly [string, string]> | undefined => {
  switch (selector._tag) {
    case "SystemAssigned":
      return defaultClientId === undefined ? [] : [["clientid", defaultClientId]]
    case "ClientId":
      return [["clientid", selector.clientId]]
    default:
      return undefined
  }
}

/**
 * Build the Azure ML source over the provided HttpClient.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { AzureMl } from "@azmi/core"
 * const source = AzureMl.make({ endpoint: "http://127.0.0.1:46808/msi/token", secret: Redacted.make("…") })
 * ```
 */
export const make = (options: {
  /** `MSI_ENDPOINT`: the full token URL. */
  readonly endpoint: string
  /** `MSI_SECRET`. */
  readonly secret: Redacted.Redacted<string>
  /** `DEFAULT_IDENTITY_CLIENT_ID`. */
  readonly defaultClientId?: string | undefined
  readonly policy?: RetryPolicy | undefined
}): Effect.Effect<ManagedIdentitySource["Type"], never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => {
    const endpoint = withoutQuery(options.endpoint)
    const policy = options.policy ?? hostPolicy
    return tokenSource({
      name: NAME,
      endpoint,
      span: "azmi.azureMl.requestToken",
      refuse: (selector) => (clientIdParam(selector, undefined) === undefined ? "client-id" : undefined),
      call: (resource, selector) => ({
        client,
        request: tokenGet(
          endpoint,
          API_VERSION,
          resource,
          clientIdParam(selector, options.defaultClientId) ?? [],
          {
            secret: Redacted.value(options.secret),
            metadata: "true",
          },
        ),
        policy,
        endpointVariable: "MSI_ENDPOINT",
        secretVariable: "MSI_SECRET",
        secretHeader: "secret",
        redactHeaders: ["secret"],
      }),
    })
  })
