/**
 * The one table from azmi's typed errors to HTTP: status (from the core's `errorKind`), ARM-style
 * body, headers. Client mistakes are 4xx, azmi-http's own configuration 503, upstream trouble
 * 502/503/504, and nothing a client sends is ever a 500 (500 is reserved for defects, rendered by
 * `app.onError`).
 * @module
 */
import { type AzmiError, type ErrorKind, errorKind, statusOfKind } from "@azmi/core"
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

/**
 * Whose identity a request used: azmi-http's own (every `/v1` route, `/readyz`), the broker's
 * default one (the caller named none, but could have), or one the caller named in the broker's query.
 */
export type IdentitySource = "own" | "brokerDefault" | "chosenByCaller"

/** Options that change how an error reads to this caller. */
export interface RenderOptions {
  /**
   * Default `"own"`. A named identity that does not exist is the caller's mistake (400); the hints
   * name what this caller can change (a query parameter, or azmi-http's environment).
   */
  readonly identity?: IdentitySource | undefined
}

const identityParams = "the client_id, object_id (or principal_id) or mi_res_id query parameter"

/**
 * The hint azmi-http gives: the core's, except where the core's speaks to a CLI user (flags, `azmi`
 * commands); those say what to change here instead — a query parameter, a path, or one of
 * azmi-http's own variables. `AuthorizationFailed` keeps the core's grant command: it is for whoever
 * administers the identity, not for the caller of the API.
 */
export const httpHint = (error: AzmiError, identity: IdentitySource = "own"): string | undefined => {
  switch (error._tag) {
    case "IdentityNotFound":
      if (error.selector === "system-assigned")
        return identity === "own"
          ? "azmi-http uses the VM's system-assigned identity: enable it, or start azmi-http with AZURE_CLIENT_ID set to the client id of a user-assigned identity."
          : `Enable the VM's system-assigned identity, or name a user-assigned identity with ${identityParams}.`
      return identity === "chosenByCaller"
        ? "Assign that user-assigned identity to the VM, or check the id in the query."
        : "Assign that user-assigned identity to the VM, or correct AZURE_CLIENT_ID in azmi-http's environment."
    case "MultipleIdentities":
      return identity === "own"
        ? "Start azmi-http with AZURE_CLIENT_ID set to the client id of the identity it should use."
        : `Name one with ${identityParams}.`
    case "ImdsUnavailable":
      return "Run azmi-http on an Azure VM with a managed identity, or point AZMI_IMDS_ENDPOINT (--imds-endpoint) at an emulator."
    case "Timeout":
      return "Retry; if the upstream is just slow, raise azmi-http's AZMI_DEADLINE_MS (whole call) or AZMI_ATTEMPT_TIMEOUT_MS (each attempt)."
    case "SubscriptionNotFound":
      return "Check the subscriptionId in the path; GET /v1/instance shows the VM's own subscription."
    case "ResourceGroupNotFound":
      return "Check the name (it is case-insensitive) and the subscription; GET /v1/subscriptions/{subscriptionId}/resourceGroups lists the groups azmi-http can see."
    default:
      return error.hint
  }
}

const statusOf = (kind: ErrorKind, options: RenderOptions): HttpError["status"] =>
  // An identity the caller named itself that is missing or ambiguous is the caller's mistake.
  kind === "IdentityUnavailable" && options.identity === "chosenByCaller" ? 400 : statusOfKind[kind]

const codeOf = (error: AzmiError): string => (error._tag === "ArmRequestFailed" ? error.code : error._tag)

const retryAfterOf = (error: AzmiError): number | undefined =>
  error._tag === "ArmThrottled" || error._tag === "ImdsThrottled" ? error.retryAfterSeconds : undefined

const requestIdOf = (error: AzmiError): string | undefined =>
  "requestId" in error && typeof error.requestId === "string" ? error.requestId : undefined

/**
 * Renders a typed azmi error. The message comes from the core, which never puts a token or secret
 * in it; the hint is {@link httpHint}.
 *
 * @example
 * ```ts
 * const { status, body, headers } = renderError(new ResourceGroupNotFound({ subscriptionId, resourceGroupName }))
 * return c.json(body, status, headers)
 * ```
 */
export const renderError = (error: AzmiError, options: RenderOptions = {}): HttpError => {
  const kind = errorKind(error)
  const status = statusOf(kind, options)
  const hint = httpHint(error, options.identity)
  const requestId = requestIdOf(error)
  const headers: Record<string, string> = {}
  if (status === 429) headers["Retry-After"] = String(Math.max(1, Math.ceil(retryAfterOf(error) ?? 1)))
  if (status === 503 && kind !== "InvalidConfiguration") headers["Retry-After"] = "1"
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
