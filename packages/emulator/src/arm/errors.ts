/**
 * ARM's error replies (`{"error":{"code","message"}}`) with the exact codes and texts Azure sends.
 */
import { jsonReply, type Reply } from "../http.js"
import { ARM_AUDIENCES } from "../token/audiences.js"

export const armError = (
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Reply => jsonReply(status, { error: { code, message } }, headers)

/** ARM's 401 challenge, pointing at the subscription's tenant. */
export const unauthorized = (tenantId: string, code: string, message: string, challenge: string): Reply =>
  armError(401, code, message, {
    "www-authenticate": `Bearer authorization_uri="https://login.windows.net/${tenantId}", error="invalid_token", error_description="${challenge}"`,
  })

export const missingAuthorization = (tenantId: string): Reply =>
  unauthorized(
    tenantId,
    "AuthenticationFailed",
    "Authentication failed. The 'Authorization' header is missing.",
    "The authentication failed because of missing 'Authorization' header.",
  )

export const invalidAuthorizationHeader = (tenantId: string): Reply =>
  unauthorized(
    tenantId,
    "AuthenticationFailed",
    "Authentication failed. The 'Authorization' header is provided in an invalid format.",
    "The authentication failed because of invalid format of 'Authorization' header.",
  )

export const invalidToken = (tenantId: string, message = "The access token is invalid."): Reply =>
  unauthorized(tenantId, "InvalidAuthenticationToken", message, "The access token is invalid.")

export const wrongAudience = (tenantId: string, aud: string): Reply =>
  unauthorized(
    tenantId,
    "InvalidAuthenticationTokenAudience",
    `The access token has been obtained for wrong audience or resource '${aud}'. It should exactly match with one of the allowed audiences ${ARM_AUDIENCES.map((a) => `'${a}'`).join(",")}.`,
    "The access token has been obtained for wrong audience or resource.",
  )

/** `M/d/yyyy h:mm:ss tt` in UTC, the format ARM's expiry message uses. */
export const armDate = (epochMs: number): string => {
  const d = new Date(epochMs)
  const h = d.getUTCHours()
  const pad = (n: number) => String(n).padStart(2, "0")
  return `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()} ${h % 12 === 0 ? 12 : h % 12}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${h < 12 ? "AM" : "PM"}`
}

export const expiredToken = (tenantId: string, expMs: number, nowMs: number): Reply =>
  unauthorized(
    tenantId,
    "ExpiredAuthenticationToken",
    `The access token expiry UTC time '${armDate(expMs)}' is earlier than current UTC time '${armDate(nowMs)}'.`,
    "The access token expiry UTC time is earlier than current UTC time.",
  )

export const wrongTenant = (tokenTenant: string, subscriptionTenant: string): Reply =>
  unauthorized(
    subscriptionTenant,
    "InvalidAuthenticationTokenTenant",
    `The access token is from the wrong issuer 'https://sts.windows.net/${tokenTenant}/'. It must match the tenant 'https://sts.windows.net/${subscriptionTenant}/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/${subscriptionTenant}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later.`,
    "The access token is from the wrong issuer. It must match the tenant associated with this subscription. Please use correct authority to get the token.",
  )

export const authorizationFailed = (appid: string, oid: string, action: string, scope: string): Reply =>
  armError(
    403,
    "AuthorizationFailed",
    `The client '${appid}' with object id '${oid}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
  )

export const missingApiVersion = (): Reply =>
  armError(
    400,
    "MissingApiVersionParameter",
    "The api-version query parameter (?api-version=) is required for all requests.",
  )

export const invalidApiVersion = (
  version: string,
  supported: ReadonlyArray<string>,
  resourceType: string,
  namespace: string,
): Reply =>
  armError(
    400,
    "InvalidApiVersionParameter",
    `The api-version '${version}' is invalid. The supported versions are '${supported.join(",")}'.`,
    { "x-ms-resource-type": `${namespace}/${resourceType}` },
  )

export const subscriptionNotFound = (id: string): Reply =>
  armError(404, "SubscriptionNotFound", `The subscription '${id}' could not be found.`)

export const invalidSubscriptionId = (id: string): Reply =>
  armError(
    400,
    "InvalidSubscriptionId",
    `The provided subscription identifier '${id}' is malformed or invalid.`,
  )

export const resourceGroupNotFound = (name: string): Reply =>
  armError(404, "ResourceGroupNotFound", `Resource group '${name}' could not be found.`)

export const throttled = (subscriptionId: string, oid: string, retryAfter: number): Reply =>
  armError(
    429,
    "SubscriptionRequestsThrottled",
    `Number of 'read' requests for subscription '${subscriptionId}' actor '${oid}' exceeded. Please try again after '${retryAfter}' seconds.`,
    { "retry-after": String(retryAfter) },
  )
