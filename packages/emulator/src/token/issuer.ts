/**
 * The Entra-like token issuer: one RSA signing key (with a self-signed certificate so the JWKS can carry
 * `x5c`/`x5t` like Entra's), v1.0 access tokens signed RS256, and signature verification for ARM.
 *
 * @example
 * ```ts
 * const issuer = await TokenIssuer.create()
 * const { token } = await issuer.issue({ aud: "https://management.azure.com/", tid, appid, oid })
 * const payload = await issuer.verifySignature(token) // throws on a bad signature
 * ```
 */
import { createHash, randomBytes, randomUUID, X509Certificate } from "node:crypto"
import { type CryptoKey, compactVerify, exportJWK, importPKCS8, importSPKI, type JWK, SignJWT } from "jose"
import { generate } from "selfsigned"

export interface AccessTokenClaims {
  readonly aud: string
  readonly tid: string
  readonly appid: string
  readonly oid: string
  /** "2" certificate (managed identity), "1" client secret. */
  readonly appidacr?: "0" | "1" | "2"
  readonly xms_mirid?: string
}

export interface IssuedToken {
  readonly token: string
  /** Epoch seconds. */
  readonly iat: number
  readonly nbf: number
  readonly exp: number
}

/** Claims of a token this issuer signed (after signature verification; not yet validated). */
export interface TokenPayload {
  readonly aud?: unknown
  readonly iss?: unknown
  readonly tid?: unknown
  readonly oid?: unknown
  readonly appid?: unknown
  readonly exp?: unknown
  readonly nbf?: unknown
  readonly [claim: string]: unknown
}

export const issuerFor = (tenantId: string): string => `https://sts.windows.net/${tenantId}/`

const base64url = (buf: Buffer): string => buf.toString("base64url")

/** Entra backdates `iat`/`nbf` by five minutes to absorb clock skew. */
export const BACKDATE_SECONDS = 300

export class TokenIssuer {
  private constructor(
    private readonly privateKey: CryptoKey,
    private readonly publicKey: CryptoKey,
    readonly kid: string,
    private readonly publicJwk: JWK,
    private readonly certBase64: string,
  ) {}

  static async create(): Promise<TokenIssuer> {
    const pems = await generate([{ name: "commonName", value: "accounts.emulator.azmi.invalid" }], {
      keySize: 2048,
      algorithm: "sha256",
    })
    const privateKey = await importPKCS8(pems.private, "RS256", { extractable: false })
    const publicKey = await importSPKI(pems.public, "RS256", { extractable: true })
    const der = new X509Certificate(pems.cert).raw
    // Entra's kid equals x5t: base64url SHA-1 of the signing certificate.
    const kid = base64url(createHash("sha1").update(der).digest())
    const publicJwk = await exportJWK(publicKey)
    return new TokenIssuer(privateKey, publicKey, kid, publicJwk, der.toString("base64"))
  }

  /** The JWKS (public key only), in Entra's key shape. */
  jwks(issuer?: string): { keys: ReadonlyArray<Record<string, unknown>> } {
    return {
      keys: [
        {
          kty: "RSA",
          use: "sig",
          kid: this.kid,
          x5t: this.kid,
          n: this.publicJwk.n,
          e: this.publicJwk.e,
          x5c: [this.certBase64],
          ...(issuer === undefined ? {} : { issuer }),
        },
      ],
    }
  }

  /** Signs a v1.0 app-only access token valid from `now - 5 min` for `lifetimeSeconds` after that. */
  async issue(claims: AccessTokenClaims, lifetimeSeconds: number, nowMs = Date.now()): Promise<IssuedToken> {
    const now = Math.floor(nowMs / 1000)
    const iat = now - BACKDATE_SECONDS
    const nbf = iat
    const exp = iat + lifetimeSeconds
    const iss = issuerFor(claims.tid)
    const payload: Record<string, unknown> = {
      aud: claims.aud,
      iss,
      iat,
      nbf,
      exp,
      aio: base64url(randomBytes(40)),
      appid: claims.appid,
      appidacr: claims.appidacr ?? "2",
      idp: iss,
      idtyp: "app",
      oid: claims.oid,
      rh: `1.${base64url(randomBytes(24))}.`,
      sub: claims.oid,
      tid: claims.tid,
      uti: base64url(Buffer.from(randomUUID().replaceAll("-", ""), "hex")),
      ver: "1.0",
    }
    if (claims.xms_mirid !== undefined) payload.xms_mirid = claims.xms_mirid
    const token = await new SignJWT(payload)
      .setProtectedHeader({ typ: "JWT", alg: "RS256", x5t: this.kid, kid: this.kid })
      .sign(this.privateKey)
    return { token, iat, nbf, exp }
  }

  /**
   * Verifies the RS256 signature against this issuer's key and returns the payload. Claims (aud, iss,
   * exp, nbf) are not checked here: ARM reports each failure with its own error code.
   * @throws Error when the token is malformed or the signature does not verify
   */
  async verifySignature(token: string): Promise<TokenPayload> {
    const { payload, protectedHeader } = await compactVerify(token, this.publicKey, { algorithms: ["RS256"] })
    if (protectedHeader.kid !== undefined && protectedHeader.kid !== this.kid) throw new Error("unknown kid")
    const parsed: unknown = JSON.parse(new TextDecoder().decode(payload))
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("payload")
    return parsed as TokenPayload
  }
}
