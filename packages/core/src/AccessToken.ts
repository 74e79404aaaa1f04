/**
 * An access token as azmi hands it out: the secret part stays `Redacted`.
 * @module
 */
import type { Redacted } from "effect"

/**
 * A bearer token for one resource.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * // tp.getToken(...) yields an AccessToken; only the HTTP edge unwraps it:
 * // HttpClientRequest.bearerToken(token.token)
 * ```
 */
export interface AccessToken {
  /** The JWT itself. Printing it shows `<redacted>`. */
  readonly token: Redacted.Redacted<string>
  /** Always `Bearer` for managed identities. */
  readonly tokenType: string
  /** The resource (audience) the token was issued for, exactly as the issuer echoed it. */
  readonly resource: string
  /** When the token expires, epoch milliseconds. */
  readonly expiresOn: number
  /** When a cache should start refreshing it, epoch milliseconds (before `expiresOn`). */
  readonly refreshOn: number
  /** The client (application) id of the identity, when the issuer said. */
  readonly clientId?: string | undefined
  /**
   * From when the token is valid, epoch milliseconds: the issuer's `not_before` when it sent one,
   * else when the token arrived. (IMDS's front end hands it on as `not_before`.)
   */
  readonly notBefore?: number | undefined
}
