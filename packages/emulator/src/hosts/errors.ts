/**
 * The error bodies of each host's managed-identity endpoint, in one place: the host modules answer with them
 * and the fault API (`status` faults) sends them for the host's target.
 *
 * - App Service: `{"statusCode","message","correlationId"}` (MSAL Python reports "<statusCode>, <message>")
 * - Service Fabric: `{"error":{"correlationId","code","message"}}` (MSAL maps `error.code` / `error.message`)
 * - Arc, Cloud Shell, Azure ML: the OAuth shape `{"error","error_description"}`, like IMDS
 */
import { randomUUID } from "node:crypto"
import { jsonReply, type Reply } from "../http.js"

export const appServiceError = (status: number, message: string): Reply =>
  jsonReply(status, { statusCode: status, message, correlationId: randomUUID() })

export const serviceFabricError = (status: number, code: string, message: string): Reply =>
  jsonReply(status, { error: { correlationId: randomUUID(), code, message } })

export const oauthError = (status: number, error: string, description: string): Reply =>
  jsonReply(status, { error, error_description: description })

const genericText = (status: number): string =>
  status === 429
    ? "Too many requests. Retry after some time."
    : status >= 500
      ? "The service is temporarily unavailable. Retry after some time."
      : `Request failed (${status}).`

const SERVICE_FABRIC_CODES: Readonly<Record<number, string>> = {
  400: "BadRequest",
  401: "SecretHeaderNotFound",
  404: "ManagedIdentityNotFound",
  429: "TooManyRequests",
  500: "InternalServerError",
  503: "ServiceUnavailable",
}

/** Host fault targets and the error body a `status` fault sends for each. */
export const HOST_FAULT_BODIES = {
  "app-service-token": (status: number) => appServiceError(status, genericText(status)).body,
  "arc-token": (status: number) =>
    oauthError(status, status >= 500 ? "server_error" : "invalid_request", genericText(status)).body,
  "service-fabric-token": (status: number) =>
    serviceFabricError(
      status,
      SERVICE_FABRIC_CODES[status] ?? (status >= 500 ? "InternalServerError" : "BadRequest"),
      genericText(status),
    ).body,
  "cloud-shell-token": (status: number) =>
    oauthError(status, status >= 500 ? "server_error" : "invalid_request", genericText(status)).body,
  "azure-ml-token": (status: number) =>
    oauthError(status, status >= 500 ? "server_error" : "invalid_request", genericText(status)).body,
  "aks-oidc": (status: number) => JSON.stringify({ error: genericText(status) }),
} as const

export type HostFaultTarget = keyof typeof HOST_FAULT_BODIES
