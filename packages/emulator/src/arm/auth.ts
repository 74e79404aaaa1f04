/**
 * ARM authentication: a Bearer JWT signed by the emulator's issuer, for one of ARM's four audiences,
 * from a known tenant, inside its `nbf`..`exp` window, carrying an `oid`.
 */
import { header, type Reply, type RouteRequest } from "../http.js"
import { isArmAudience } from "../token/audiences.js"
import type { TokenIssuer } from "../token/issuer.js"
import type { WorldStore } from "../world/model.js"
import {
  expiredToken,
  invalidAuthorizationHeader,
  invalidToken,
  missingAuthorization,
  wrongAudience,
} from "./errors.js"

export interface Caller {
  readonly oid: string
  readonly appid: string
  readonly tenantId: string
}

export type AuthResult =
  | { readonly ok: true; readonly caller: Caller }
  | { readonly ok: false; readonly reply: Reply }

/**
 * Clock skew tolerated on `nbf`/`exp`. Real ARM accepts tokens a few minutes either side; the emulator
 * accepts none, so a client that sends a token at or past its expiry is caught in tests.
 */
const SKEW_SECONDS = 0

const fail = (reply: Reply): AuthResult => ({ ok: false, reply })

export const authenticate = async (
  req: RouteRequest,
  issuer: TokenIssuer,
  store: WorldStore,
  challengeTenant: string,
  nowMs: number,
): Promise<AuthResult> => {
  const authorization = header(req.headers, "authorization")
  if (authorization === undefined || authorization.trim() === "")
    return fail(missingAuthorization(challengeTenant))
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization)
  if (m === null || m[1] === undefined) return fail(invalidAuthorizationHeader(challengeTenant))
  let payload: Record<string, unknown>
  try {
    payload = await issuer.verifySignature(m[1])
  } catch {
    return fail(
      invalidToken(challengeTenant, "The access token is invalid. The signature could not be validated."),
    )
  }
  if (!isArmAudience(payload.aud)) return fail(wrongAudience(challengeTenant, String(payload.aud ?? "")))
  const nowSeconds = Math.floor(nowMs / 1000)
  const exp = typeof payload.exp === "number" ? payload.exp : undefined
  if (exp === undefined)
    return fail(invalidToken(challengeTenant, "The access token has no expiry ('exp') claim."))
  if (exp + SKEW_SECONDS <= nowSeconds) return fail(expiredToken(challengeTenant, exp * 1000, nowMs))
  const nbf = typeof payload.nbf === "number" ? payload.nbf : undefined
  if (nbf !== undefined && nbf - SKEW_SECONDS > nowSeconds) {
    return fail(invalidToken(challengeTenant, "The access token is not yet valid ('nbf' is in the future)."))
  }
  const tid = typeof payload.tid === "string" ? payload.tid : undefined
  const iss = typeof payload.iss === "string" ? payload.iss : undefined
  if (tid === undefined || iss !== `https://sts.windows.net/${tid}/` || !store.hasTenant(tid)) {
    return fail(invalidToken(challengeTenant, `The access token is from an unknown issuer '${iss ?? ""}'.`))
  }
  const oid = typeof payload.oid === "string" ? payload.oid : undefined
  if (oid === undefined || oid === "") {
    return fail(
      invalidToken(
        challengeTenant,
        "The received access token is not valid: at least one of the claims 'puid' or 'altsecid' or 'oid' should be present. If you are accessing as application please make sure service principal is properly created in the tenant.",
      ),
    )
  }
  const appid = typeof payload.appid === "string" ? payload.appid : oid
  return { ok: true, caller: { oid, appid, tenantId: tid } }
}
