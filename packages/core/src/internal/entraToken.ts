/**
 * The one Entra client-credentials token request, for both of azmi's Entra credentials — a service
 * principal's client secret and a workload's federated token (`client_assertion`): `POST
 * {authority}/{tenant}/oauth2/v2.0/token` with `grant_type=client_credentials` and `scope={resource}/.default`,
 * through the managed-identity call (`miCall`: the one retry engine, transport classification, response
 * decoding), and Entra's refusals (AADSTS codes) as typed errors.
 * @internal
 */
import { type HttpClient, HttpClientRequest } from "@effect/platform"
import { Effect } from "effect"
import type { AccessToken } from "../AccessToken.js"
import {
  ApplicationNotFound,
  ClientAuthenticationFailed,
  type TokenError,
  TokenRequestFailed,
} from "../Errors.js"
import type { RetryPolicy } from "../Retry.js"
import * as TokenResponse from "../TokenResponse.js"
import { miCall } from "./miRequest.js"

/** The v2 scope for a resource: `https://management.azure.com/` → `https://management.azure.com/.default`. */
export const scopeFor = (resource: string): string =>
  resource.endsWith("/") ? `${resource}.default` : `${resource}/.default`

/** `client_assertion_type` of a JWT assertion (RFC 7523). */
export const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/** The application asking: where, in which tenant, under which client id. */
export interface EntraApp {
  /** `https://login.microsoftonline.com`, without a trailing slash. */
  readonly authorityHost: string
  readonly tenantId: string
  readonly clientId: string
}

/** The credential kinds, named in errors and logs. */
export type EntraCredential = "client-secret" | "workload-identity"

/** The form fields that prove the client in one attempt, and what a refusal classifier may want to know. */
export interface ClientProof<P> {
  readonly fields: Readonly<Record<string, string>>
  readonly about: P
}

/** An Entra 4xx answer, with its AADSTS code when the description carries one. */
export interface EntraRefusal {
  readonly status: number
  readonly error: string | undefined
  readonly description: string | undefined
  readonly code: number | undefined
}

/** One token request. */
export interface EntraTokenRequest<P> {
  readonly client: HttpClient.HttpClient
  readonly app: EntraApp
  readonly resource: string
  readonly policy: RetryPolicy
  readonly credential: EntraCredential
  /** The proof, run before every attempt (an assertion may have been replaced since the last one). */
  readonly proof: Effect.Effect<ClientProof<P>, TokenError>
  /**
   * Refusals only this credential can meet, as its typed errors (the proof of the attempt refused is
   * passed on); `undefined` leaves the refusal to the common rules.
   */
  readonly refusal?: ((refusal: EntraRefusal, about: P) => TokenError | undefined) | undefined
}

/** The URL a token request goes to. */
export const tokenUrl = (app: EntraApp): string =>
  `${app.authorityHost}/${encodeURIComponent(app.tenantId)}/oauth2/v2.0/token`

/** The AADSTS code an Entra error description starts with (`AADSTS70021: No matching …`). */
export const aadstsCode = (description: string | undefined): number | undefined => {
  const m = description === undefined ? null : /\bAADSTS(\d+)\b/.exec(description)
  return m === null ? undefined : Number(m[1])
}

// OAuth errors that mean "these credentials are wrong", as opposed to a transient failure.
const authErrors = new Set(["invalid_client", "unauthorized_client", "invalid_grant", "invalid_request"])

/** One token request (with retries), no cache; every failure a {@link TokenError}. */
export const requestToken = <P>(request: EntraTokenRequest<P>): Effect.Effect<AccessToken, TokenError> => {
  const { app, resource, credential } = request
  const url = tokenUrl(app)
  // The proof of the latest attempt: a refusal is about that one.
  let sent: { readonly about: P } | undefined
  const post = Effect.map(request.proof, (proof) => {
    sent = { about: proof.about }
    return HttpClientRequest.post(url).pipe(
      HttpClientRequest.bodyUrlParams({
        client_id: app.clientId,
        ...proof.fields,
        scope: scopeFor(resource),
        grant_type: "client_credentials",
      }),
      HttpClientRequest.acceptJson,
    )
  })

  const refused = (e: TokenRequestFailed): TokenError => {
    if (e.status < 400 || e.status >= 500) return e
    const refusal: EntraRefusal = {
      status: e.status,
      error: e.error,
      description: e.errorDescription,
      code: aadstsCode(e.errorDescription),
    }
    const specific = sent === undefined ? undefined : request.refusal?.(refusal, sent.about)
    if (specific !== undefined) return specific
    if (refusal.code === 700016) {
      return new ApplicationNotFound({
        authority: app.authorityHost,
        tenantId: app.tenantId,
        clientId: app.clientId,
        credential,
      })
    }
    return (e.status === 400 || e.status === 401) && e.error !== undefined && authErrors.has(e.error)
      ? new ClientAuthenticationFailed({
          authority: app.authorityHost,
          status: e.status,
          error: e.error,
          errorDescription: e.errorDescription,
          credential,
        })
      : e
  }

  return miCall({
    client: request.client,
    request: post,
    policy: request.policy,
    operation: "Entra ID token request",
    endpoint: url,
    selector: `client_id=${app.clientId}`,
    resource,
    countRequests: false,
    decode: (text, now) => TokenResponse.decodeFrom(url, text, now, resource),
  }).pipe(
    Effect.catchTags({
      // These come from the shared classifier and are named for IMDS; say what they mean here.
      ImdsUnavailable: (e) =>
        Effect.fail(
          new TokenRequestFailed({
            endpoint: url,
            status: 0,
            error: "network_error",
            errorDescription: e.detail ?? e.reason,
            attempts: 1,
          }),
        ),
      ImdsThrottled: (e) =>
        Effect.fail(
          new TokenRequestFailed({ endpoint: url, status: 429, error: "throttled", attempts: e.attempts }),
        ),
      TokenRequestFailed: (e) => Effect.fail(refused(e)),
    }),
    Effect.annotateLogs({ source: credential, selector: `client_id=${app.clientId}`, resource }),
    Effect.withSpan(
      `azmi.${credential === "client-secret" ? "clientSecret" : "workloadIdentity"}.requestToken`,
      {
        attributes: { clientId: app.clientId, resource },
      },
    ),
  )
}
