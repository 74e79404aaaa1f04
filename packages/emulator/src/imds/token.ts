/**
 * IMDS managed-identity token endpoint (`GET /metadata/identity/oauth2/token`), with IMDS's request rules,
 * its string-typed response and its per (identity, resource) token cache whose `expires_in` counts down.
 */
import { header, jsonReply, type Reply, type RouteRequest, withAllow } from "../http.js"
import { isKnownResource, unknownResourceMessage } from "../token/audiences.js"
import type { TokenIssuer } from "../token/issuer.js"
import type { VirtualMachine, WorldStore } from "../world/model.js"
import { type IdentitySelector, type ResolvedIdentity, resolveIdentity } from "./identity.js"
import {
  API_VERSION_ERROR,
  IDENTITY_MIN_API_VERSION,
  IMDS_SERVER_HEADER,
  isImdsApiVersion,
} from "./versions.js"

/** IMDS tokens live 24 h + 5 min from `not_before` (observed `expires_on - not_before`). */
export const IMDS_TOKEN_LIFETIME_SECONDS = 86_700
/** A cached token is re-issued once it has less than this left, like IMDS refreshing ahead of expiry. */
const REISSUE_BELOW_SECONDS = 300

export interface ImdsContext {
  readonly store: WorldStore
  readonly issuer: TokenIssuer
  readonly now: () => number
  /** The VM this IMDS belongs to. */
  readonly vm: () => VirtualMachine | undefined
}

interface CachedToken {
  readonly token: string
  readonly nbf: number
  readonly exp: number
}

export const imdsError = (status: number, error: string, description: string): Reply =>
  jsonReply(status, { error, error_description: description }, { server: IMDS_SERVER_HEADER })

/** 405 for the identity endpoints (token, info), which take GET only. */
export const identityMethodNotAllowed = (): Reply =>
  withAllow(imdsError(405, "method_not_allowed", "The requested method is not allowed"), ["GET"])

/** `Metadata: true` exactly (lower case), per the IMDS docs. */
export const hasMetadataHeader = (req: RouteRequest): boolean => header(req.headers, "metadata") === "true"

const SELECTOR_PARAMS = ["client_id", "object_id", "msi_res_id", "mi_res_id"] as const

export class ImdsTokenEndpoint {
  private readonly cache = new Map<string, CachedToken>()
  private readonly issuing = new Map<string, Promise<CachedToken>>()

  constructor(private readonly ctx: ImdsContext) {}

  /** Forget every cached token (e.g. after the world changed identities). */
  clearCache(): void {
    this.cache.clear()
    this.issuing.clear()
  }

  async handle(req: RouteRequest): Promise<Reply> {
    if (req.method !== "GET") return identityMethodNotAllowed()
    if (!hasMetadataHeader(req))
      return imdsError(400, "invalid_request", "Required metadata header not specified")
    if (header(req.headers, "x-forwarded-for") !== undefined) {
      return imdsError(400, "invalid_request", "Requests with the X-Forwarded-For header are not accepted")
    }
    const seen = new Set<string>()
    for (const name of req.query.keys()) {
      const key = name.toLowerCase()
      if (seen.has(key)) {
        return imdsError(400, "invalid_request", `Duplicate query parameter names are not allowed: '${name}'`)
      }
      seen.add(key)
    }
    const apiVersion = req.query.get("api-version")
    if (!isImdsApiVersion(apiVersion) || apiVersion < IDENTITY_MIN_API_VERSION) {
      return imdsError(400, "invalid_request", API_VERSION_ERROR)
    }
    const resource = req.query.get("resource")
    if (resource === null || resource === "") {
      return imdsError(400, "invalid_request", "Required query variable 'resource' is missing")
    }
    const given = SELECTOR_PARAMS.filter((p) => req.query.has(p))
    if (given.length > 1) {
      return imdsError(
        400,
        "invalid_request",
        `Only one of client_id, object_id and msi_res_id can be specified; got ${given.join(", ")}`,
      )
    }
    const selector = toSelector(req.query)
    const vm = this.ctx.vm()
    const resolved = resolveIdentity(this.ctx.store, vm, selector)
    if (!resolved.ok) {
      return resolved.reason === "multiple"
        ? imdsError(
            400,
            "invalid_request",
            "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request",
          )
        : imdsError(400, "invalid_request", "Identity not found")
    }
    const tenantId = this.tenantOf(vm)
    if (!isKnownResource(resource)) {
      return imdsError(400, "invalid_resource", unknownResourceMessage(resource, tenantId))
    }
    const token = await this.tokenFor(
      resolved.identity,
      resource,
      tenantId,
      req.query.get("bypass_cache") === "true",
    )
    const now = Math.floor(this.ctx.now() / 1000)
    const body: Record<string, string> = {
      access_token: token.token,
      client_id: resolved.identity.clientId,
      expires_in: String(Math.max(0, token.exp - now)),
      expires_on: String(token.exp),
      ext_expires_in: String(Math.max(0, token.exp - now - 1)),
      not_before: String(token.nbf),
    }
    if (selector.kind === "object_id") body.object_id = selector.value
    if (selector.kind === "msi_res_id") body.msi_res_id = selector.value
    body.resource = resource
    body.token_type = "Bearer"
    return jsonReply(200, body, { server: IMDS_SERVER_HEADER })
  }

  private tenantOf(vm: VirtualMachine | undefined): string {
    const sub = vm === undefined ? undefined : this.ctx.store.findSubscription(vm.subscriptionId)
    return sub?.tenantId ?? this.ctx.store.defaultTenantId
  }

  private async tokenFor(
    identity: ResolvedIdentity,
    resource: string,
    tenantId: string,
    bypassCache: boolean,
  ): Promise<CachedToken> {
    // Keyed by the resource string verbatim: IMDS echoes what was asked, and so does the `aud` claim.
    const key = `${identity.key}\u0000${resource}`
    const nowSeconds = Math.floor(this.ctx.now() / 1000)
    const cached = this.cache.get(key)
    if (!bypassCache && cached !== undefined && cached.exp - nowSeconds > REISSUE_BELOW_SECONDS) return cached
    // Concurrent cold requests share one issuance, so they all get the same token, as from real IMDS.
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
        IMDS_TOKEN_LIFETIME_SECONDS,
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

const toSelector = (query: URLSearchParams): IdentitySelector => {
  const clientId = query.get("client_id")
  if (clientId !== null) return { kind: "client_id", value: clientId }
  const objectId = query.get("object_id")
  if (objectId !== null) return { kind: "object_id", value: objectId }
  const resId = query.get("msi_res_id") ?? query.get("mi_res_id")
  if (resId !== null) return { kind: "msi_res_id", value: resId }
  return { kind: "none" }
}
