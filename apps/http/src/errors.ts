/**
 * The one table from azmi's typed errors to HTTP: status, ARM-style body, headers.
 * Client mistakes are 4xx, upstream trouble 502/503/504, and nothing a client sends is ever a 500
 * (500 is reserved for defects, rendered by `app.onError`).
 * @module
 */
import { type AzmiError, errorCategory } from "@azmi/core"
import { Schema } from "effect"

/** ARM's error body: `{ "error": { "code", "message" } }`, plus azmi's `hint` when there is one. */
export const ErrorBody = Schema.Struct({
  error: Schema.Struct({
    code: Schema.String,
    message: Schema.String,
    hint: Schema.optional(Schema.String),
    requestId: Schema.optional(Schema.String),
  }),
}).annotations({ identifier: "ErrorBody", description: "ARM-style error" })
export type ErrorBody = typeof ErrorBody.Type

/** A rendered error: status, body and extra headers. */
export interface HttpError {
  readonly status: 400 | 401 | 403 | 404 | 405 | 413 | 414 | 429 | 500 | 502 | 503 | 504
  readonly body: ErrorBody
  readonly headers: Readonly<Record<string, string>>
}

/** A body for an error azmi-http itself raises (auth, routing, limits). */
export const errorBody = (code: string, message: string): ErrorBody => ({ error: { code, message } })

/** Options that change how an error reads to this caller. */
export interface RenderOptions {
  /** The caller chose the identity (broker `client_id` etc.): an unknown identity is their mistake (400). */
  readonly callerChoseIdentity?: boolean | undefined
}

const statusOf = (error: AzmiError, options: RenderOptions): HttpError["status"] => {
  switch (error._tag) {
    // Our own configuration, not the caller's input.
    case "InvalidConfiguration":
      return 503
    case "IdentityNotFound":
    case "MultipleIdentities":
      return options.callerChoseIdentity === true ? 400 : 503
    case "AuthorizationFailed":
      return 403
    // ARM refused *our* token or Entra refused *our* secret: the caller cannot fix that.
    case "InvalidAuthenticationToken":
      return 502
    case "ClientAuthenticationFailed":
      return 503
    case "Timeout":
      return 504
    case "ImdsUnavailable":
      return 503
    case "ArmRequestFailed":
      if (error.status === 403) return 403
      if (error.status === 401) return 502
      if (error.status === 503) return 503
      if (error.status === 504) return 504
      break
  }
  switch (errorCategory(error)) {
    case "InvalidInput":
      return 400
    case "NotFound":
      return 404
    case "Throttled":
      return 429
    case "AuthenticationFailed":
      return 403
    case "CredentialUnavailable":
      return 503
    case "Transient":
      return 502
  }
}

const codeOf = (error: AzmiError): string => (error._tag === "ArmRequestFailed" ? error.code : error._tag)

const retryAfterOf = (error: AzmiError): number | undefined =>
  error._tag === "ArmThrottled" || error._tag === "ImdsThrottled" ? error.retryAfterSeconds : undefined

const requestIdOf = (error: AzmiError): string | undefined =>
  "requestId" in error && typeof error.requestId === "string" ? error.requestId : undefined

/**
 * Renders a typed azmi error. The message and hint come from the core, which never puts a token or
 * secret in them.
 *
 * @example
 * ```ts
 * const { status, body, headers } = renderError(new ResourceGroupNotFound({ subscriptionId, resourceGroupName }))
 * return c.json(body, status, headers)
 * ```
 */
export const renderError = (error: AzmiError, options: RenderOptions = {}): HttpError => {
  const status = statusOf(error, options)
  const hint = error.hint
  const requestId = requestIdOf(error)
  const headers: Record<string, string> = {}
  if (status === 429) headers["Retry-After"] = String(Math.max(1, Math.ceil(retryAfterOf(error) ?? 1)))
  if (status === 503 && error._tag !== "InvalidConfiguration") headers["Retry-After"] = "1"
  if (requestId !== undefined) headers["x-ms-request-id"] = requestId
  return {
    status,
    headers,
    body: {
      error: {
        code: codeOf(error),
        message: error.message,
        ...(hint === undefined ? {} : { hint }),
        ...(requestId === undefined ? {} : { requestId }),
      },
    },
  }
}
