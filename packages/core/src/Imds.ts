/**
 * The IMDS token source: `GET {endpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=…`
 * with `Metadata: true`, user-assigned identities selected by `client_id`, `object_id` or `msi_res_id`.
 * @module
 */
import { HttpClient } from "@effect/platform"
import { Effect } from "effect"
import { IdentitySelector } from "./IdentitySelector.js"
import { tokenGet, tokenSource } from "./internal/tokenSource.js"
import type { ManagedIdentitySource } from "./ManagedIdentitySource.js"
import { imdsPolicy, type RetryPolicy } from "./Retry.js"
import * as TokenResponse from "./TokenResponse.js"

export const API_VERSION = "2018-02-01"
export const TOKEN_PATH = "/metadata/identity/oauth2/token"

/** The query parameter naming a user-assigned identity on IMDS. */
export const selectorParam = (selector: IdentitySelector): ReadonlyArray<readonly [string, string]> =>
  IdentitySelector.$match(selector, {
    SystemAssigned: () => [],
    ClientId: ({ clientId }) => [["client_id", clientId] as const],
    ObjectId: ({ objectId }) => [["object_id", objectId] as const],
    ResourceId: ({ resourceId }) => [["msi_res_id", resourceId] as const],
  })

/**
 * Build the IMDS source over the provided HttpClient.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Imds } from "@azmi/core"
 * const source = Imds.make({ endpoint: "http://127.0.0.1:8080" })
 * ```
 */
export const make = (options: {
  /** Base URL (origin), e.g. `http://169.254.169.254`. */
  readonly endpoint: string
  readonly policy?: RetryPolicy | undefined
  /** The option or environment variable that chose `endpoint`, named in hints (absent: IMDS's own address). */
  readonly endpointVariable?: string | undefined
}): Effect.Effect<ManagedIdentitySource["Type"], never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => {
    const url = `${options.endpoint.replace(/\/+$/, "")}${TOKEN_PATH}`
    const policy = options.policy ?? imdsPolicy
    return tokenSource({
      name: "IMDS",
      // The base URL: what people set (the token path is always the same).
      endpoint: options.endpoint,
      span: "azmi.imds.requestToken",
      call: (resource, selector) => ({
        client,
        request: tokenGet(url, API_VERSION, resource, selectorParam(selector), { metadata: "true" }),
        policy,
        endpoint: url,
        endpointVariable: options.endpointVariable,
        decode: (text, now) => TokenResponse.decodeFrom(url, text, now, resource),
      }),
    })
  })
