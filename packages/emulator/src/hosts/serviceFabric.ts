/**
 * Service Fabric managed identity: `GET IDENTITY_ENDPOINT` over HTTPS with header `secret: <IDENTITY_HEADER>`
 * (no `Metadata`), api-version `2019-07-01-preview`. The server certificate comes from the emulator's CA (so
 * MSAL Node, which does not pin, trusts it through `NODE_EXTRA_CA_CERTS`) and its SHA-1 thumbprint is
 * `IDENTITY_SERVER_THUMBPRINT` (what pinning clients check). Errors are SF's nested
 * `{"error":{"correlationId","code","message"}}`; `token_sha256_to_refresh` naming the token last issued for
 * that resource gets a new one.
 */
import { createHash, X509Certificate } from "node:crypto"
import { header, jsonReply, type Reply, type RouteRequest } from "../http.js"
import { isKnownResource, unknownResourceMessage } from "../token/audiences.js"
import type { Host } from "../world/model.js"
import { hostTenant, resolveHostIdentity, sameSecret, startEndpointHost } from "./endpoint.js"
import { serviceFabricError } from "./errors.js"
import type { HostContext, HostModule } from "./host.js"

export const SERVICE_FABRIC_API_VERSION = "2019-07-01-preview"
const PATH = "/metadata/identity/oauth2/token"

/** SHA-1 of the certificate's DER, upper-case hex (as Windows and SF show thumbprints). */
export const certificateThumbprint = (pem: string): string =>
  createHash("sha1").update(new X509Certificate(pem).raw).digest("hex").toUpperCase()

const sha256Hex = (s: string): string => createHash("sha256").update(s, "utf8").digest("hex")

export const handleServiceFabricToken = async (
  ctx: HostContext,
  host: Host,
  secret: string,
  req: RouteRequest,
): Promise<Reply> => {
  if (req.path.replace(/\/$/, "").toLowerCase() !== PATH) {
    return serviceFabricError(404, "NotFound", `The path '${req.path}' was not found.`)
  }
  if (req.method !== "GET") {
    return serviceFabricError(405, "MethodNotAllowed", `The HTTP method '${req.method}' is not allowed.`)
  }
  const presented = header(req.headers, "secret")
  if (presented === undefined) {
    return serviceFabricError(401, "SecretHeaderNotFound", "Secret is not found in the request headers.")
  }
  if (!sameSecret(presented, secret)) {
    return serviceFabricError(401, "SecretHeaderInvalid", "The secret in the request headers is not valid.")
  }
  const apiVersion = req.query.get("api-version")
  if (apiVersion !== SERVICE_FABRIC_API_VERSION) {
    return serviceFabricError(
      400,
      "InvalidApiVersion",
      `The api-version '${apiVersion ?? ""}' is not supported; use ${SERVICE_FABRIC_API_VERSION}.`,
    )
  }
  const resource = req.query.get("resource")
  if (resource === null || resource === "") {
    return serviceFabricError(
      400,
      "ArgumentNullOrEmpty",
      "Value cannot be null or empty. Parameter name: resource",
    )
  }
  // The application's identity is configured in the cluster; client_id / mi_res_id / object_id (MSAL Node
  // still sends them) are tolerated and do not select another identity.
  const resolved = resolveHostIdentity(ctx.store, host, { kind: "none" })
  if (!resolved.ok) {
    return serviceFabricError(
      404,
      "ManagedIdentityNotFound",
      "No managed identity is configured for the application.",
    )
  }
  const tenantId = hostTenant(ctx.store, host)
  if (!isKnownResource(resource)) {
    return serviceFabricError(400, "InvalidResource", unknownResourceMessage(resource, tenantId))
  }
  // Revocation (claims challenge): a new token when the hash names the one the client holds from us.
  const revoked = req.query.get("token_sha256_to_refresh")?.toLowerCase()
  const current = ctx.tokens.cached(resolved.identity, resource)
  const bypassCache = revoked !== undefined && current !== undefined && sha256Hex(current.token) === revoked
  const token = await ctx.tokens.tokenFor(resolved.identity, resource, tenantId, { bypassCache })
  return jsonReply(200, {
    token_type: "Bearer",
    access_token: token.token,
    expires_on: token.exp,
    resource,
  })
}

export const serviceFabric: HostModule = {
  source: "service-fabric",
  needsTls: true,
  start: (ctx) => {
    const tls = ctx.tls
    if (tls === undefined) throw new Error("Service Fabric needs the emulator's TLS material")
    return startEndpointHost(ctx, {
      source: "service-fabric",
      kind: "service-fabric",
      target: "service-fabric-token",
      https: true,
      path: PATH,
      handle: (host, secret, req) => handleServiceFabricToken(ctx, host, secret, req),
      env: (endpoint, secret) => ({
        IDENTITY_ENDPOINT: endpoint,
        IDENTITY_HEADER: secret,
        IDENTITY_SERVER_THUMBPRINT: certificateThumbprint(tls.cert),
      }),
    })
  },
}
