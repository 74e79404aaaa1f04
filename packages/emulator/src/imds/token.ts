/**
 * IMDS managed-identity token endpoint (`GET /metadata/identity/oauth2/token`), with IMDS's request rules,
 * its string-typed response and its per (identity, resource) token cache whose `expires_in` counts down.
 */
import { header, jsonReply, type Reply, type RouteRequest, withAllow } from "../http.js"
import { isKnownResource, unknownResourceMessage } from "../token/audiences.js"
import type { TokenIssuer } from "../token/issuer.js"
import { type CachedToken, ManagedIdentityTokens } from "../token/managedIdentity.js"
import type { VirtualMachine, WorldStore } from "../world/model.js"
import {
  type IdentitySelector,
  IMDS_SELECTOR_NAMES,
  type ResolvedIdentity,
  readSelector,
  resolveIdentity,
  vmIdentityHolder,
} from "./identity.js"
import {
  API_VERSION_ERROR,
  IDENTITY_MIN_API_VERSION,
  IMDS_SERVER_HEADER,
  isImdsApiVersion,
} from "./versions.js"

export interface ImdsContext {
  readonly store: WorldStore
  readonly issuer: TokenIssuer
  readonly now: () => number
  /** The VM this IMDS belongs to. */
  readonly vm: () => VirtualMachine | undefined
}

export const imdsError = (status: number, error: string, description: string): Reply =>
  jsonReply(status, { error, error_description: description }, { server: IMDS_SERVER_HEADER })

/** 405 for the identity endpoints (token, info), which take GET only. */
export const identityMethodNotAllowed = (): Reply =>
  withAllow(imdsError(405, "method_not_allowed", "The requested method is not allowed"), ["GET"])

/** `Metadata: true` exactly (lower case), per the IMDS docs. */
export const hasMetadataHeader = (req: RouteRequest): boolean => header(req.headers, "metadata") === "true"

export class ImdsTokenEndpoint {
  private readonly tokens: ManagedIdentityTokens

  constructor(private readonly ctx: ImdsContext) {
    this.tokens = new ManagedIdentityTokens(ctx)
  }

  /** Forget every cached token (e.g. after the world changed identities). */
  clearCache(): void {
    this.tokens.clear()
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
    const { selector, given } = readSelector(req.query, IMDS_SELECTOR_NAMES)
    if (given.length > 1) return ambiguousSelector(given)
    const vm = this.ctx.vm()
    const resolved = resolveIdentity(
      this.ctx.store,
      vm === undefined ? undefined : vmIdentityHolder(vm),
      selector,
    )
    if (!resolved.ok) return identityNotResolved(resolved.reason)
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
    const body = imdsTokenBody(token, resolved.identity, selector, resource, this.ctx.now())
    return jsonReply(200, body, { server: IMDS_SERVER_HEADER })
  }

  private tenantOf(vm: VirtualMachine | undefined): string {
    const sub = vm === undefined ? undefined : this.ctx.store.findSubscription(vm.subscriptionId)
    return sub?.tenantId ?? this.ctx.store.defaultTenantId
  }

  private tokenFor(
    identity: ResolvedIdentity,
    resource: string,
    tenantId: string,
    bypassCache: boolean,
  ): Promise<CachedToken> {
    return this.tokens.tokenFor(identity, resource, tenantId, { bypassCache })
  }
}

/** IMDS's 400 when the request names no identity of the VM, or several could be meant. */
export const identityNotResolved = (reason: "not-found" | "multiple"): Reply =>
  reason === "multiple"
    ? imdsError(
        400,
        "invalid_request",
        "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request",
      )
    : imdsError(400, "invalid_request", "Identity not found")

/**
 * IMDS's success body (all values strings, keys in IMDS's order), also spoken by Arc's HIMDS and Cloud Shell:
 * the requested `object_id` / `msi_res_id` are echoed back, `client_id` always.
 */
export const imdsTokenBody = (
  token: CachedToken,
  identity: ResolvedIdentity,
  selector: IdentitySelector,
  resource: string,
  nowMs: number,
): Record<string, string> => {
  const now = Math.floor(nowMs / 1000)
  const body: Record<string, string> = {
    access_token: token.token,
    client_id: identity.clientId,
    expires_in: String(Math.max(0, token.exp - now)),
    expires_on: String(token.exp),
    ext_expires_in: String(Math.max(0, token.exp - now - 1)),
    not_before: String(token.nbf),
  }
  if (selector.kind === "object_id") body.object_id = selector.value
  if (selector.kind === "msi_res_id") body.msi_res_id = selector.value
  body.resource = resource
  body.token_type = "Bearer"
  return body
}

/** IMDS's 400 for more than one selector parameter. */
export const ambiguousSelector = (given: ReadonlyArray<string>): Reply =>
  imdsError(
    400,
    "invalid_request",
    `Only one of client_id, object_id and msi_res_id can be specified; got ${given.join(", ")}`,
  )
