/**
 * Entra's check of a federated `client_assertion` (workload identity federation): the JWT must parse, match
 * one of the app's federated identity credentials on issuer, subject and audience, verify against its
 * issuer's JWKS, and be inside its `nbf`..`exp` window. Each failure is answered with Entra's AADSTS code
 * and text:
 *
 * | failure | AADSTS | status / error |
 * |---|---|---|
 * | not a JWT | 50027 JWT token is invalid or malformed. | 400 invalid_request |
 * | no credential with that issuer, subject and audience | 70021 No matching federated identity record found … | 400 invalid_request |
 * | the issuer's OIDC documents cannot be read | 90061 Request to External OIDC endpoint failed. | 400 invalid_request |
 * | signature does not verify | 700027 Client assertion contains an invalid signature. … | 401 invalid_client |
 * | expired or not yet valid | 700024 Client assertion is not within its valid time range. … | 400 invalid_client |
 *
 * (An unknown application, AADSTS700016, is answered before this check, as for secrets.)
 */
import { compactVerify, createLocalJWKSet, decodeJwt, decodeProtectedHeader, type JWTPayload } from "jose"
import type { ClusterIssuers } from "../federation/clusters.js"
import type { Reply } from "../http.js"
import type { ServicePrincipal } from "../world/model.js"

export const JWT_BEARER_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

export type EntraErrorFn = (status: number, error: string, code: number, message: string) => Reply

const iso = (seconds: number | undefined): string =>
  seconds === undefined ? "(none)" : new Date(seconds * 1000).toISOString()

const audienceText = (aud: JWTPayload["aud"]): string => (Array.isArray(aud) ? aud.join(",") : (aud ?? ""))

/** Validates the assertion for `principal`; undefined when Entra would accept it, else Entra's error reply. */
export const checkClientAssertion = async (
  assertion: string,
  principal: ServicePrincipal,
  clusters: ClusterIssuers,
  nowMs: number,
  fail: EntraErrorFn,
): Promise<Reply | undefined> => {
  let claims: JWTPayload
  try {
    decodeProtectedHeader(assertion)
    claims = decodeJwt(assertion)
  } catch {
    return fail(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
  }
  const iss = claims.iss ?? ""
  const sub = claims.sub ?? ""
  const audiences = Array.isArray(claims.aud) ? claims.aud : claims.aud === undefined ? [] : [claims.aud]
  const matching = (principal.federatedIdentityCredentials ?? []).find(
    (f) => f.issuer === iss && f.subject === sub && f.audiences.some((a) => audiences.includes(a)),
  )
  if (matching === undefined) {
    return fail(
      400,
      "invalid_request",
      70021,
      `No matching federated identity record found for presented assertion. Assertion Issuer: '${iss}'. Assertion Subject: '${sub}'. Assertion Audience: '${audienceText(claims.aud)}'.`,
    )
  }
  // Entra reads the issuer's JWKS; the emulator can serve only its own clusters' (nothing leaves the machine).
  const jwks = await clusters.jwksFor(iss)
  if (jwks === undefined)
    return fail(400, "invalid_request", 90061, "Request to External OIDC endpoint failed.")
  try {
    await compactVerify(assertion, createLocalJWKSet(jwks), { algorithms: ["RS256"] })
  } catch (e) {
    const keyNotFound = (e as { code?: string }).code === "ERR_JWKS_NO_MATCHING_KEY"
    return fail(
      401,
      "invalid_client",
      700027,
      `Client assertion contains an invalid signature. [Reason - ${keyNotFound ? "The key was not found." : "The provided signature value did not match the expected signature value."}]`,
    )
  }
  const now = Math.floor(nowMs / 1000)
  const { nbf, exp } = claims
  if (exp === undefined || exp <= now || (nbf !== undefined && nbf > now)) {
    return fail(
      400,
      "invalid_client",
      700024,
      `Client assertion is not within its valid time range. Current time: ${iso(now)}, assertion valid from ${iso(nbf)}, expiry time of assertion ${iso(exp)}. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .`,
    )
  }
  return undefined
}
