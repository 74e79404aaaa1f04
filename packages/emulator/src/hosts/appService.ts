/**
 * App Service / Azure Functions managed identity, api-version 2019-08-01: `GET IDENTITY_ENDPOINT` with
 * header `X-IDENTITY-HEADER: <IDENTITY_HEADER>`, query `resource` and optionally one of `client_id`,
 * `principal_id` (also `object_id`) or `mi_res_id`; the answer carries `expires_on` as epoch seconds.
 * Errors are App Service's `{"statusCode","message","correlationId"}`.
 */
import { header, jsonReply, type Reply, type RouteRequest } from "../http.js"
import { readSelector, type SelectorNames } from "../imds/identity.js"
import { isKnownResource, unknownResourceMessage } from "../token/audiences.js"
import type { Host } from "../world/model.js"
import { hostTenant, resolveHostIdentity, sameSecret, startEndpointHost } from "./endpoint.js"
import { appServiceError } from "./errors.js"
import type { HostContext, HostModule } from "./host.js"

export const APP_SERVICE_API_VERSION = "2019-08-01"
const PATH = "/msi/token"

const SELECTOR_NAMES: SelectorNames = {
  clientId: ["client_id"],
  objectId: ["principal_id", "object_id"],
  resourceId: ["mi_res_id"],
}

export const handleAppServiceToken = async (
  ctx: HostContext,
  host: Host,
  secret: string,
  req: RouteRequest,
): Promise<Reply> => {
  if (req.path.replace(/\/$/, "").toLowerCase() !== PATH) return appServiceError(404, "Not found.")
  if (req.method !== "GET") return appServiceError(405, `The HTTP method '${req.method}' is not allowed.`)
  if (!sameSecret(header(req.headers, "x-identity-header"), secret)) {
    return appServiceError(401, "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.")
  }
  const apiVersion = req.query.get("api-version")
  if (apiVersion !== APP_SERVICE_API_VERSION) {
    return appServiceError(
      400,
      `The api-version '${apiVersion ?? ""}' is not supported; use ${APP_SERVICE_API_VERSION} with X-IDENTITY-HEADER.`,
    )
  }
  const resource = req.query.get("resource")
  if (resource === null || resource === "")
    return appServiceError(400, "The 'resource' parameter is required.")
  const { selector, given } = readSelector(req.query, SELECTOR_NAMES)
  if (given.length > 1) {
    return appServiceError(
      400,
      "Only one of client_id, principal_id (object_id) and mi_res_id can be specified.",
    )
  }
  const resolved = resolveHostIdentity(ctx.store, host, selector)
  if (!resolved.ok) return appServiceError(400, "Unable to load the proper Managed Identity.")
  const tenantId = hostTenant(ctx.store, host)
  if (!isKnownResource(resource)) return appServiceError(400, unknownResourceMessage(resource, tenantId))
  const token = await ctx.tokens.tokenFor(resolved.identity, resource, tenantId)
  return jsonReply(200, {
    access_token: token.token,
    expires_on: String(token.exp),
    resource,
    token_type: "Bearer",
    client_id: resolved.identity.clientId,
  })
}

export const appService: HostModule = {
  source: "app-service",
  needsTls: false,
  start: (ctx) =>
    startEndpointHost(ctx, {
      source: "app-service",
      kind: "app-service",
      target: "app-service-token",
      https: false,
      path: PATH,
      handle: (host, secret, req) => handleAppServiceToken(ctx, host, secret, req),
      env: (endpoint, secret) => ({ IDENTITY_ENDPOINT: endpoint, IDENTITY_HEADER: secret }),
    }),
}
