/**
 * Certificate thumbprints as Service Fabric names them: the SHA-1 of the certificate's DER, 40 hex digits.
 * `IDENTITY_SERVER_THUMBPRINT` is written the way Windows and the portal show it — any case, often with
 * colons or spaces between the bytes — so it is normalised once, here, before anything compares it.
 * @internal
 */
import { createHash, timingSafeEqual } from "node:crypto"

/**
 * The thumbprint as 40 upper-case hex digits, or `undefined` when `raw` is not one. Case, colons and
 * spaces (any whitespace) are ignored; anything else — another hash length, non-ASCII look-alike digits,
 * other separators — is not a SHA-1 thumbprint.
 *
 * @example
 * ```ts
 * normaliseThumbprint("ab:cd ef…") // "ABCDEF…" (when 40 digits remain)
 * ```
 */
export const normaliseThumbprint = (raw: string): string | undefined => {
  const bare = raw.replace(/[\s:]/g, "")
  return /^[0-9A-Fa-f]{40}$/.test(bare) ? bare.toUpperCase() : undefined
}

/** The thumbprint of a DER certificate: SHA-1, 40 upper-case hex digits. */
export const thumbprintOf = (der: Uint8Array): string =>
  createHash("sha1").update(der).digest("hex").toUpperCase()

/** Whether two normalised thumbprints are equal, in time independent of where they differ. */
export const sameThumbprint = (a: string, b: string): boolean =>
  a.length === b.length && timingSafeEqual(Buffer.from(a, "latin1"), Buffer.from(b, "latin1"))
