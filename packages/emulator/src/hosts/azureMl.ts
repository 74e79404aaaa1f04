/**
 * Azure Machine Learning compute: `GET MSI_ENDPOINT` with header `secret: <MSI_SECRET>` (MSAL Node adds
 * `Metadata: true`, MSAL Python does not, so it is not required), api-version `2017-09-01`, and `clientid`
 * (the 2017 API's spelling; MSAL Node sends `DEFAULT_IDENTITY_CLIENT_ID` there for the default identity),
 * `object_id` or `msi_res_id`. `expires_on` is an integer (MSAL Python `int()`s it; Azure ML's documented
 * difference from App Service 2017's date strings).
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
import { oauthError } from "./errors.js"
import type { HostContext, HostModule } from "./host.js"

export const AZURE_ML_API_VERSION = "2017-09-01"
const PATH = "/msi/token"
const SELECTORS = ["clientid", "client_id", "object_id", "msi_res_id", "mi_res_id"] as const

const selectorOf = (query: URLSearchParams): IdentitySelector | "ambiguous" => {
  if (SELECTORS.filter((p) => query.has(p)).length > 1) return "ambiguous"
  const clientId = query.get("clientid") ?? query.get("client_id")
  if (clientId !== null) return { kind: "client_id", value: clientId }
  const objectId = query.get("object_id")
  if (objectId !== null) return { kind: "object_id", value: objectId }
  const resId = query.get("msi_res_id") ?? query.get("mi_res_id")
  if (resId !== null) return { kind: "msi_res_id", value: resId }
  return { kind: "none" }
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
  const selector = selectorOf(req.query)
  if (selector === "ambiguous") {
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
  start: async (ctx) => {
    const host = ensureHost(ctx.store, "azure-ml")
    const secret = randomUUID()
    const served = await serveHostEndpoint(ctx, {
      target: "azure-ml-token",
      https: false,
      handle: (req) => handleAzureMlToken(ctx, currentHost(ctx, host), secret, req),
    })
    const identity = hostSummary(ctx.store, "azure-ml", host)
    return {
      env: {
        MSI_ENDPOINT: `${served.origin}${PATH}`,
        MSI_SECRET: secret,
        ...(identity.clientId !== "" && { DEFAULT_IDENTITY_CLIENT_ID: identity.clientId }),
      },
      identity,
      close: served.close,
    }
  },
}
