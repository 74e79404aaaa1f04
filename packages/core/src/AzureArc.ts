/**
 * The Azure Arc token source (HIMDS, the Connected Machine agent): `GET $IDENTITY_ENDPOINT?api-version=2020-06-01&resource=…`
 * with `Metadata: true`; HIMDS answers 401 with `WWW-Authenticate: Basic realm=<key file>`, and the same
 * request is sent once more with `Authorization: Basic <the file's content>` — one challenge round per
 * attempt, and the file is read only under the rules of `internal/arcChallenge` (exactly
 * `/var/opt/azcmagent/tokens/<name>.key`, no link, a regular file of at most 4096 bytes).
 *
 * A user-assigned identity (`client_id`, `object_id`, `msi_res_id`) is accepted only when the response
 * names it back: an agent that ignores the parameter returns the system-assigned identity's token, and
 * azmi discards that (`UserAssignedIdentityNotConfirmed`) rather than hand out the wrong identity.
 * Retries follow IMDS's guidance (HIMDS mirrors IMDS), without IMDS's 410 window.
 * @module
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Effect, Either, Redacted } from "effect"
import { withoutQuery } from "./Endpoints.js"
import { ARC_KEY_DIRECTORY, ArcChallengeFailed, UserAssignedIdentityNotConfirmed } from "./Errors.js"
import { describeSelector, IdentitySelector } from "./IdentitySelector.js"
import * as Imds from "./Imds.js"
import { keyFileOf, readKeyFile } from "./internal/arcChallenge.js"
import { tokenGet, tokenSource } from "./internal/tokenSource.js"
import type { ManagedIdentitySource } from "./ManagedIdentitySource.js"
import { hostPolicy, type RetryPolicy } from "./Retry.js"
import * as TokenResponse from "./TokenResponse.js"

export const API_VERSION = "2020-06-01"
const NAME = "Azure Arc"

/** The query parameter naming a user-assigned identity on Azure Arc: IMDS's names (`msi_res_id`, not `mi_res_id`). */
export const selectorParam = Imds.selectorParam

const same = (echoed: unknown, id: string) =>
  typeof echoed === "string" && echoed.toLowerCase() === id.toLowerCase()

/** Whether a token response names the user-assigned identity asked for (always true for system-assigned). */
export const confirmsIdentity = (body: unknown, selector: IdentitySelector): boolean => {
  const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>
  return IdentitySelector.$match(selector, {
    SystemAssigned: () => true,
    ClientId: ({ clientId }) => same(b.client_id, clientId),
    ObjectId: ({ objectId }) => same(b.object_id, objectId),
    ResourceId: ({ resourceId }) => same(b.msi_res_id, resourceId) || same(b.mi_res_id, resourceId),
  })
}

/**
 * Build the Azure Arc source over the provided HttpClient.
 *
 * @example
 * ```ts
 * import { AzureArc } from "@azmi/core"
 * const source = AzureArc.make({ endpoint: "http://127.0.0.1:40342/metadata/identity/oauth2/token" })
 * ```
 */
export const make = (options: {
  /** The full token URL (`IDENTITY_ENDPOINT`, or HIMDS's own address). */
  readonly endpoint: string
  readonly policy?: RetryPolicy | undefined
  /** The option or environment variable that chose `endpoint` (absent: HIMDS's own address). */
  readonly endpointVariable?: string | undefined
  /** Where key files must be. Always the Arc directory, except in tests. */
  readonly keyDirectory?: string | undefined
}): Effect.Effect<ManagedIdentitySource["Type"], never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => {
    const endpoint = withoutQuery(options.endpoint)
    const policy = options.policy ?? hostPolicy
    const directory = options.keyDirectory ?? ARC_KEY_DIRECTORY
    return tokenSource({
      name: NAME,
      endpoint,
      span: "azmi.azureArc.requestToken",
      call: (resource, selector) => {
        const request = tokenGet(endpoint, API_VERSION, resource, selectorParam(selector), {
          metadata: "true",
        })
        return {
          client,
          request,
          policy,
          endpointVariable: options.endpointVariable,
          redactHeaders: ["authorization"],
          challenge: {
            answer: (response) =>
              Effect.gen(function* () {
                const path = yield* keyFileOf(response.headers["www-authenticate"], endpoint, directory)
                const secret = yield* readKeyFile(path, endpoint, directory)
                return {
                  request: HttpClientRequest.setHeader(
                    request,
                    "authorization",
                    `Basic ${Redacted.value(secret)}`,
                  ),
                  refused: () => new ArcChallengeFailed({ endpoint, rule: "refused", path }),
                }
              }),
          },
          decode: (text, now) => {
            let json: unknown
            try {
              json = JSON.parse(text)
            } catch {
              return TokenResponse.decodeFrom(endpoint, text, now, resource)
            }
            const decoded = TokenResponse.decodeParsedFrom(endpoint, json, now, resource)
            return Either.isRight(decoded) && !confirmsIdentity(json, selector)
              ? Either.left(
                  new UserAssignedIdentityNotConfirmed({
                    source: NAME,
                    selector: describeSelector(selector),
                  }),
                )
              : decoded
          },
        }
      },
    })
  })
