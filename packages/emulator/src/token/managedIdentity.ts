/**
 * Managed-identity tokens as every Azure host's identity endpoint hands them out: one cache per
 * (identity, resource) that re-issues shortly before expiry, with concurrent cold requests sharing one
 * issuance. IMDS and the other hosts (App Service, Arc, Service Fabric, …) all issue through this.
 *
 * @example
 * ```ts
 * const tokens = new ManagedIdentityTokens({ issuer, now: Date.now })
 * const t = await tokens.tokenFor(identity, "https://management.azure.com/", tenantId)
 * ```
 */
import type { TokenIssuer } from "./issuer.js"

/** Managed-identity tokens live 24 h + 5 min from `not_before` (observed on IMDS: `expires_on - not_before`). */
export const MANAGED_IDENTITY_TOKEN_LIFETIME_SECONDS = 86_700
/** A cached token is re-issued once it has less than this left, like the host refreshing ahead of expiry. */
const REISSUE_BELOW_SECONDS = 300

/** The identity a token is for, as the world knows it. */
export interface TokenIdentity {
  /** Cache key: stable per identity. */
  readonly key: string
  readonly clientId: string
  readonly principalId: string
  /** `xms_mirid`: the MI's ARM id with lowercase `resourcegroups`, as Entra writes it. */
  readonly mirid: string
}

export interface CachedToken {
  readonly token: string
  readonly nbf: number
  readonly exp: number
}

export interface TokenOptions {
  /** Skip the cache and mint a new token (IMDS `bypass_cache=true`, Service Fabric's revocation). */
  readonly bypassCache?: boolean
}

export class ManagedIdentityTokens {
  private readonly cache = new Map<string, CachedToken>()
  private readonly issuing = new Map<string, Promise<CachedToken>>()

  constructor(private readonly ctx: { readonly issuer: TokenIssuer; readonly now: () => number }) {}

  /** Forget every cached token (e.g. after the world changed identities). */
  clear(): void {
    this.cache.clear()
    this.issuing.clear()
  }

  /** The token the cache would serve now for (identity, resource), if any. */
  cached(identity: TokenIdentity, resource: string): CachedToken | undefined {
    return this.cache.get(cacheKey(identity, resource))
  }

  async tokenFor(
    identity: TokenIdentity,
    resource: string,
    tenantId: string,
    options: TokenOptions = {},
  ): Promise<CachedToken> {
    const bypassCache = options.bypassCache === true
    // Keyed by the resource string verbatim: the host echoes what was asked, and so does the `aud` claim.
    const key = cacheKey(identity, resource)
    const nowSeconds = Math.floor(this.ctx.now() / 1000)
    const cached = this.cache.get(key)
    if (!bypassCache && cached !== undefined && cached.exp - nowSeconds > REISSUE_BELOW_SECONDS) return cached
    // Concurrent cold requests share one issuance, so they all get the same token, as from a real host.
    const pending = bypassCache ? undefined : this.issuing.get(key)
    if (pending !== undefined) return pending
    const issuing = this.ctx.issuer
      .issue(
        {
          aud: resource,
          tid: tenantId,
          appid: identity.clientId,
          oid: identity.principalId,
          appidacr: "2",
          xms_mirid: identity.mirid,
        },
        MANAGED_IDENTITY_TOKEN_LIFETIME_SECONDS,
        this.ctx.now(),
      )
      .then((issued) => {
        const fresh = { token: issued.token, nbf: issued.nbf, exp: issued.exp }
        this.cache.set(key, fresh)
        return fresh
      })
      .finally(() => {
        if (this.issuing.get(key) === issuing) this.issuing.delete(key)
      })
    this.issuing.set(key, issuing)
    return issuing
  }
}

const cacheKey = (identity: TokenIdentity, resource: string): string => `${identity.key}\u0000${resource}`
