/**
 * Azure Arc-enabled server (HIMDS): `GET IDENTITY_ENDPOINT` with `Metadata: true`, api-version `2019-11-01`
 * (azure-identity Python of Debian) or `2020-06-01` (MSAL Node 5, MSAL Python); the first answer is a 401
 * whose `WWW-Authenticate: Basic realm=/var/opt/azcmagent/tokens/<random>.key` names a fresh secret file, and
 * the retry with `Authorization: Basic <file content>` gets IMDS's token body (both `expires_in` and
 * `expires_on`: MSAL Python needs the first, MSAL Node the second), echoing a user-assigned selector.
 */
import { header, jsonReply, type Reply, type RouteRequest } from "../http.js"
import { IMDS_SELECTOR_NAMES, readSelector } from "../imds/identity.js"
import { ambiguousSelector, identityNotResolved, imdsError, imdsTokenBody } from "../imds/token.js"
import { isKnownResource, unknownResourceMessage } from "../token/audiences.js"
import type { Host } from "../world/model.js"
import { ArcSecrets } from "./arcSecrets.js"
import { hostTenant, resolveHostIdentity, startEndpointHost } from "./endpoint.js"
import type { HostContext, HostModule } from "./host.js"

export const ARC_API_VERSIONS: ReadonlyArray<string> = ["2019-11-01", "2020-06-01"]
const PATH = "/metadata/identity/oauth2/token"

export const handleArcToken = async (
  ctx: HostContext,
  host: Host,
  secrets: ArcSecrets,
  req: RouteRequest,
): Promise<Reply> => {
  if (req.path.replace(/\/$/, "").toLowerCase() !== PATH) return imdsError(404, "not_found", "Not found")
  if (req.method !== "GET") return imdsError(405, "method_not_allowed", "The requested method is not allowed")
  if (header(req.headers, "metadata")?.toLowerCase() !== "true") {
    return imdsError(400, "invalid_request", "Required metadata header not specified")
  }
  const apiVersion = req.query.get("api-version")
  if (apiVersion === null || !ARC_API_VERSIONS.includes(apiVersion)) {
    return imdsError(
      400,
      "invalid_request",
      `Invalid api-version '${apiVersion ?? ""}'; supported: ${ARC_API_VERSIONS.join(", ")}`,
    )
  }
  const resource = req.query.get("resource")
  if (resource === null || resource === "") {
    return imdsError(400, "invalid_request", "Required query variable 'resource' is missing")
  }
  const presented = /^Basic (.+)$/.exec(header(req.headers, "authorization") ?? "")?.[1]
  if (presented === undefined || !secrets.accepts(presented)) {
    const path = await secrets.challenge()
    // A JSON body: MSAL Node's own HTTP client JSON-parses every answer, an empty 401 included (it fails
    // with token_parsing_error before reading the challenge). The realm is the raw path, nothing after it.
    const challenge = imdsError(
      401,
      "unauthorized_client",
      "Authorization with the secret in the key file is required",
    )
    return { ...challenge, headers: { ...challenge.headers, "www-authenticate": `Basic realm=${path}` } }
  }
  const { selector, given } = readSelector(req.query, IMDS_SELECTOR_NAMES)
  if (given.length > 1) return ambiguousSelector(given)
  const resolved = resolveHostIdentity(ctx.store, host, selector)
  if (!resolved.ok) return identityNotResolved(resolved.reason)
  const tenantId = hostTenant(ctx.store, host)
  if (!isKnownResource(resource)) {
    return imdsError(400, "invalid_resource", unknownResourceMessage(resource, tenantId))
  }
  const token = await ctx.tokens.tokenFor(resolved.identity, resource, tenantId)
  return jsonReply(200, imdsTokenBody(token, resolved.identity, selector, resource, ctx.now()))
}

export const arc: HostModule = {
  source: "arc",
  needsTls: false,
  start: async (ctx) => {
    const secrets = await ArcSecrets.open()
    try {
      const running = await startEndpointHost(ctx, {
        source: "arc",
        kind: "arc",
        target: "arc-token",
        https: false,
        path: PATH,
        handle: (host, _secret, req) => handleArcToken(ctx, host, secrets, req),
        // As the Arc agent sets them (it uses localhost:40342; 127.0.0.1 here because MSAL Python does not
        // rewrite localhost, which may resolve to ::1 where the emulator does not listen).
        env: (endpoint) => ({ IDENTITY_ENDPOINT: endpoint, IMDS_ENDPOINT: new URL(endpoint).origin }),
      })
      return {
        ...running,
        close: async () => {
          await running.close()
          await secrets.close()
        },
      }
    } catch (e) {
      await secrets.close()
      throw e
    }
  },
}
