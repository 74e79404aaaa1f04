/**
 * Cloud Shell: `POST MSI_ENDPOINT` with `Metadata: true` and the form body `resource=…`; system-assigned only
 * (a `client_id`, `object_id` or resource id in the body is refused). The answer is IMDS's token body (MSAL
 * Node needs `expires_on`, azure-identity Python `resource` and one of `expires_in` / `expires_on`).
 */
import { header, jsonReply, type Reply, type RouteRequest } from "../http.js"
import { imdsTokenBody } from "../imds/token.js"
import { isKnownResource, unknownResourceMessage } from "../token/audiences.js"
import type { Host } from "../world/model.js"
import { hostTenant, resolveHostIdentity, startEndpointHost } from "./endpoint.js"
import { oauthError } from "./errors.js"
import type { HostContext, HostModule } from "./host.js"

const PATH = "/oauth2/token"
const USER_ASSIGNED_PARAMS = ["client_id", "clientid", "object_id", "msi_res_id", "mi_res_id"]

export const handleCloudShellToken = async (
  ctx: HostContext,
  host: Host,
  req: RouteRequest,
): Promise<Reply> => {
  if (req.path.replace(/\/$/, "").toLowerCase() !== PATH) return oauthError(404, "not_found", "Not found")
  if (req.method !== "POST") {
    return {
      ...oauthError(405, "invalid_request", "Cloud Shell's token endpoint accepts POST only"),
      headers: { "content-type": "application/json; charset=utf-8", allow: "POST" },
    }
  }
  if (header(req.headers, "metadata")?.toLowerCase() !== "true") {
    return oauthError(400, "invalid_request", "Required metadata header not specified")
  }
  const form = new URLSearchParams(req.body)
  const resource = form.get("resource")
  if (resource === null || resource === "") {
    return oauthError(400, "invalid_request", "The request body must contain the parameter 'resource'")
  }
  const userAssigned = USER_ASSIGNED_PARAMS.filter((p) => form.has(p) || req.query.has(p))
  if (userAssigned.length > 0) {
    return oauthError(
      400,
      "invalid_request",
      `Cloud Shell supports only its system-assigned identity; remove ${userAssigned.join(", ")}`,
    )
  }
  const resolved = resolveHostIdentity(ctx.store, host, { kind: "none" })
  if (!resolved.ok) return oauthError(400, "invalid_request", "Identity not found")
  const tenantId = hostTenant(ctx.store, host)
  if (!isKnownResource(resource)) {
    return oauthError(400, "invalid_resource", unknownResourceMessage(resource, tenantId))
  }
  const token = await ctx.tokens.tokenFor(resolved.identity, resource, tenantId)
  return jsonReply(200, imdsTokenBody(token, resolved.identity, { kind: "none" }, resource, ctx.now()))
}

export const cloudShell: HostModule = {
  source: "cloud-shell",
  needsTls: false,
  // Cloud Shell has exactly one identity (the default record's system-assigned one) and no secret.
  start: (ctx) =>
    startEndpointHost(ctx, {
      source: "cloud-shell",
      kind: "cloud-shell",
      target: "cloud-shell-token",
      https: false,
      path: PATH,
      handle: (host, _secret, req) => handleCloudShellToken(ctx, host, req),
      env: (endpoint) => ({ MSI_ENDPOINT: endpoint }),
    }),
}
