/**
 * Turns an ARM error response (status, headers, body) into one of azmi's typed errors.
 * ARM's error body is `{"error":{"code","message",…}}`; a few services answer `{"code","message"}`.
 * @module
 */
import {
  type ArmError,
  ArmRequestFailed,
  ArmThrottled,
  AuthorizationFailed,
  InvalidAuthenticationToken,
  ResourceGroupNotFound,
  SubscriptionNotFound,
} from "./Errors.js"

/** What the caller knew about the request, for errors whose body does not repeat it. */
export interface ArmErrorContext {
  readonly subscriptionId?: string | undefined
  readonly resourceGroupName?: string | undefined
  /**
   * The action and scope the request needs, for a 403 that names neither: ARM's answer to a HEAD
   * has no body, so a denied existence check would otherwise be an untyped 403.
   */
  readonly authorization?: { readonly action: string; readonly scope: string } | undefined
  /** Who made the request (the token's object id), for the same case. */
  readonly principalId?: string | undefined
}

/** The facts of one ARM error response. */
export interface ArmErrorResponse {
  readonly status: number
  readonly bodyText: string
  readonly requestId?: string | undefined
  readonly correlationId?: string | undefined
  readonly wwwAuthenticate?: string | undefined
  readonly retryAfterSeconds?: number | undefined
  readonly attempts: number
}

/** `code` and `message` from ARM's error body, when it has them. */
export const parseErrorBody = (bodyText: string): { code?: string; message?: string } => {
  let json: unknown
  try {
    json = JSON.parse(bodyText)
  } catch {
    return {}
  }
  const pick = (o: unknown) => {
    if (typeof o !== "object" || o === null) return {}
    const r = o as Record<string, unknown>
    return {
      ...(typeof r.code === "string" ? { code: r.code } : {}),
      ...(typeof r.message === "string" ? { message: r.message } : {}),
    }
  }
  const outer = pick(json)
  const inner = typeof json === "object" && json !== null ? pick((json as Record<string, unknown>).error) : {}
  return { ...outer, ...inner }
}

const AUTHZ =
  /The client '([^']*)' with object id '([^']*)' does not have authorization to perform action '([^']*)' over scope '([^']*)'/i
const RG_NOT_FOUND = /Resource group '([^']*)' could not be found/i
const SUB_NOT_FOUND = /The subscription '([^']*)' could not be found/i

/** `error_description="…"` from a `WWW-Authenticate: Bearer …` challenge. */
const challengeDescription = (header: string | undefined): string | undefined =>
  header === undefined ? undefined : /error_description="([^"]*)"/i.exec(header)?.[1]

const tokenReason = (code: string, message: string): InvalidAuthenticationToken["reason"] => {
  const c = code.toLowerCase()
  if (c === "invalidauthenticationtokenaudience" || /wrong audience/i.test(message)) return "Audience"
  if (c === "invalidauthenticationtokentenant" || /wrong issuer/i.test(message)) return "WrongTenant"
  if (c === "expiredauthenticationtoken" || /expir/i.test(message)) return "Expired"
  if (/header is missing|missing 'authorization'/i.test(message)) return "Missing"
  return "Invalid"
}

const clip = (s: string, n = 300) => (s.length <= n ? s : `${s.slice(0, n)}…`)

/**
 * The typed error for an ARM error response.
 *
 * @example
 * ```ts
 * const e = decodeArmError({ status: 404, bodyText: '{"error":{"code":"ResourceGroupNotFound","message":"Resource group \'x\' could not be found."}}', attempts: 1 }, { subscriptionId: "…" })
 * // e._tag === "ResourceGroupNotFound"
 * ```
 */
export const decodeArmError = (response: ArmErrorResponse, context: ArmErrorContext = {}): ArmError => {
  const { status, requestId, correlationId } = response
  const ids = { requestId, correlationId }
  const body = parseErrorBody(response.bodyText)
  const code = body.code ?? (status === 401 ? "InvalidAuthenticationToken" : `Http${status}`)
  const message =
    body.message ??
    (status === 401 ? challengeDescription(response.wwwAuthenticate) : undefined) ??
    (response.bodyText.trim() === "" ? `HTTP ${status} with no error body` : clip(response.bodyText))

  if (status === 401) {
    return new InvalidAuthenticationToken({
      reason: tokenReason(code, message),
      code,
      armMessage: message,
      ...ids,
    })
  }
  if (status === 403 && /AuthorizationFailed$/i.test(code)) {
    const m = AUTHZ.exec(message)
    const client = m?.[1]
    const objectId = m?.[2]
    return new AuthorizationFailed({
      action: m?.[3] ?? "(unknown action)",
      scope: m?.[4] ?? "(unknown scope)",
      principalId: objectId,
      // For service principals ARM often repeats the object id as the "client"; that is no client id.
      clientId: client !== undefined && client !== objectId ? client : undefined,
      armMessage: message,
      ...ids,
    })
  }
  if (status === 403 && body.code === undefined && context.authorization !== undefined) {
    return new AuthorizationFailed({
      action: context.authorization.action,
      scope: context.authorization.scope,
      principalId: context.principalId,
      clientId: undefined,
      armMessage: message,
      ...ids,
    })
  }
  if (status === 404 && code === "ResourceGroupNotFound") {
    return new ResourceGroupNotFound({
      subscriptionId: context.subscriptionId ?? "(unknown)",
      resourceGroupName: RG_NOT_FOUND.exec(message)?.[1] ?? context.resourceGroupName ?? "(unknown)",
      ...ids,
    })
  }
  if (status === 404 && code === "SubscriptionNotFound") {
    return new SubscriptionNotFound({
      subscriptionId: SUB_NOT_FOUND.exec(message)?.[1] ?? context.subscriptionId ?? "(unknown)",
      ...ids,
    })
  }
  if (status === 429) {
    return new ArmThrottled({ retryAfterSeconds: response.retryAfterSeconds, armMessage: message, ...ids })
  }
  return new ArmRequestFailed({ status, code, armMessage: message, attempts: response.attempts, ...ids })
}
