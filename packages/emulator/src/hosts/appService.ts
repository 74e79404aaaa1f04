/**
 * App Service / Azure Functions managed identity, api-version 2019-08-01: `GET IDENTITY_ENDPOINT` with
 * header `X-IDENTITY-HEADER: <IDENTITY_HEADER>`, query `resource` and optionally one of `client_id`,
 * `principal_id` (also `object_id`) or `mi_res_id`; the answer carries `expires_on` as epoch seconds.
 * Errors are App Service's `{"statusCode","message","correlationId"}`.
 */
import { randomUUID } from "node:crypto"
import { header, jsonReply, type Reply, type RouteRequest } from "../http.js"
import type { IdentitySelector } from "../imds/identity.js"
import { isKnownResource, unknownResourceMessage } from "../token/audiences.js"
import type { Host } from "../world/model.js"
import { ensureHost } from "./defaults.js"
import {
  currentHost,
  hostSummary,
  hostTenant,
  resolveHostIdentity,
  sameSecret,
  serveHostEndpoint,
} from "./endpoint.js"
import { appServiceError } from "./errors.js"
import type { HostContext, HostModule } from "./host.js"

export const APP_SERVICE_API_VERSION = "2019-08-01"
const PATH = "/msi/token"

const SELECTORS = ["client_id", "principal_id", "object_id", "mi_res_id"] as const

const selectorOf = (query: URLSearchParams): IdentitySelector | "ambiguous" => {
  const given = SELECTORS.filter((p) => query.has(p))
  if (given.length > 1) return "ambiguous"
  const clientId = query.get("client_id")
  if (clientId !== null) return { kind: "client_id", value: clientId }
  const objectId = query.get("principal_id") ?? query.get("object_id")
  if (objectId !== null) return { kind: "object_id", value: objectId }
  const resId = query.get("mi_res_id")
  if (resId !== null) return { kind: "msi_res_id", value: resId }
  return { kind: "none" }
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
  const selector = selectorOf(req.query)
  if (selector === "ambiguous") {
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
  start: async (ctx) => {
    const host = ensureHost(ctx.store, "app-service")
    const secret = randomUUID()
    const served = await serveHostEndpoint(ctx, {
      target: "app-service-token",
      https: false,
      handle: (req) => handleAppServiceToken(ctx, currentHost(ctx, host), secret, req),
    })
    return {
      env: { IDENTITY_ENDPOINT: `${served.origin}${PATH}`, IDENTITY_HEADER: secret },
      identity: hostSummary(ctx.store, "app-service", host),
      close: served.close,
    }
  },
}
