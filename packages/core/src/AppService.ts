/**
 * The App Service / Functions token source (api-version 2019-08-01): `GET $IDENTITY_ENDPOINT?resource=…`
 * with `X-IDENTITY-HEADER: $IDENTITY_HEADER`; user-assigned identities by `client_id`, `object_id`
 * or `mi_res_id`.
 * @module
 */
import { HttpClient } from "@effect/platform"
import { Effect, Redacted } from "effect"
import { withoutQuery } from "./Endpoints.js"
import { IdentitySelector } from "./IdentitySelector.js"
import { tokenGet, tokenSource } from "./internal/tokenSource.js"
import type { ManagedIdentitySource } from "./ManagedIdentitySource.js"
import { imdsPolicy, type RetryPolicy } from "./Retry.js"

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
    const endpoint = withoutQuery(options.endpoint)
    const policy = options.policy ?? imdsPolicy
    return tokenSource({
      name: "App Service",
      endpoint,
      span: "azmi.appService.requestToken",
      call: (resource, selector) => ({
        client,
        request: tokenGet(endpoint, API_VERSION, resource, selectorParam(selector), {
          "x-identity-header": Redacted.value(options.header),
        }),
        policy,
        endpointVariable: options.endpointVariable ?? "IDENTITY_ENDPOINT",
        secretVariable: options.headerVariable ?? "IDENTITY_HEADER",
        redactHeaders: ["x-identity-header"],
      }),
    })
  })
