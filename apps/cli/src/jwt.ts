/**
 * Local JWT decoding for `azmi token --decode`: header and claims only, so the signature-bearing
 * token is never printed.
 * @module
 */

/** The readable parts of a JWT. */
export interface DecodedJwt {
  readonly header: Record<string, unknown>
  readonly claims: Record<string, unknown>
}

const decodePart = (part: string | undefined): Record<string, unknown> | undefined => {
  if (part === undefined || !/^[A-Za-z0-9_-]+={0,2}$/.test(part)) return undefined
  try {
    const parsed: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"))
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

/**
 * Decodes (does not verify) a compact JWS; `undefined` when `token` is not one.
 *
 * @example
 * ```ts
 * decodeJwt("eyJhbGciOiJub25lIn0.eyJhdWQiOiJ4In0.")?.claims.aud // "x"
 * ```
 */
export const decodeJwt = (token: string): DecodedJwt | undefined => {
  const parts = token.split(".")
  if (parts.length !== 3) return undefined
  const header = decodePart(parts[0])
  const claims = decodePart(parts[1])
  return header === undefined || claims === undefined ? undefined : { header, claims }
}
