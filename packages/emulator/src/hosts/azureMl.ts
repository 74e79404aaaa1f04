/**
 * Azure Machine Learning compute: `GET MSI_ENDPOINT` with header `secret: <MSI_SECRET>` (MSAL Node adds
 * `Metadata: true`, MSAL Python does not, so it is not required), api-version `2017-09-01`, and `clientid`
 * (the 2017 API's spelling; MSAL Node sends `DEFAULT_IDENTITY_CLIENT_ID` there for the default identity),
 * `object_id` or `msi_res_id`. `expires_on` is an integer (MSAL Python `int()`s it; Azure ML's documented
 * difference from App Service 2017's date strings).
 */
import { header, jsonReply, type Reply, type RouteRequest } from "../http.js"
import { readSelector, type SelectorNames } from "../imds/identity.js"
import { isKnownResource, unknownResourceMessage } from "../token/audiences.js"
import type { Host } from "../world/model.js"
import { hostTenant, resolveHostIdentity, sameSecret, startEndpointHost } from "./endpoint.js"
import { oauthError } from "./errors.js"
import type { HostContext, HostModule } from "./host.js"

export const AZURE_ML_API_VERSION = "2017-09-01"
const PATH = "/msi/token"
/** The 2017 API spells the client id `clientid` (MSAL Python renames `client_id` to it). */
const SELECTOR_NAMES: SelectorNames = {
  clientId: ["clientid", "client_id"],
  objectId: ["object_id"],
  resourceId: ["msi_res_id", "mi_res_id"],
}

export const handleAzureMlToken = async (
  ctx: HostContext,
  host: Host,
  secret: string,
  req: RouteRequest,
): Promise<Reply> => {
  if (req.path.replace(/\/$/, "").toLowerCase() !== PATH) return oauthError(404, "not_found", "Not found")
  if (req.method !== "GET") return oauthError(405, "invalid_request", "The requested method is not allowed")
  if (!sameSecret(header(req.headers, "secret"), secret)) {
    return oauthError(
      401,
      "unauthorized_client",
      "The 'secret' header is missing or does not match MSI_SECRET",
    )
  }
  const apiVersion = req.query.get("api-version")
  if (apiVersion !== AZURE_ML_API_VERSION) {
    return oauthError(
      400,
      "invalid_request",
      `The api-version '${apiVersion ?? ""}' is not supported; use ${AZURE_ML_API_VERSION}`,
    )
  }
  const resource = req.query.get("resource")
  if (resource === null || resource === "") {
    return oauthError(400, "invalid_request", "Required query variable 'resource' is missing")
  }
  const { selector, given } = readSelector(req.query, SELECTOR_NAMES)
  if (given.length > 1) {
    return oauthError(
      400,
      "invalid_request",
      "Only one of clientid, object_id and msi_res_id can be specified",
    )
  }
  const resolved = resolveHostIdentity(ctx.store, host, selector)
  if (!resolved.ok) return oauthError(400, "invalid_request", "Identity not found")
  const tenantId = hostTenant(ctx.store, host)
  if (!isKnownResource(resource)) {
    return oauthError(400, "invalid_resource", unknownResourceMessage(resource, tenantId))
  }
  const token = await ctx.tokens.tokenFor(resolved.identity, resource, tenantId)
  const now = Math.floor(ctx.now() / 1000)
  return jsonReply(200, {
    access_token: token.token,
    expires_in: Math.max(0, token.exp - now),
    expires_on: token.exp,
    resource,
    token_type: "Bearer",
  })
}

export const azureMl: HostModule = {
  source: "azure-ml",
  needsTls: false,
  start: (ctx) =>
    startEndpointHost(ctx, {
      source: "azure-ml",
      kind: "azure-ml",
      target: "azure-ml-token",
      https: false,
      path: PATH,
      handle: (host, secret, req) => handleAzureMlToken(ctx, host, secret, req),
      env: (endpoint, secret, identity) => ({
        MSI_ENDPOINT: endpoint,
        MSI_SECRET: secret,
        ...(identity.clientId !== "" && { DEFAULT_IDENTITY_CLIENT_ID: identity.clientId }),
      }),
    }),
}
