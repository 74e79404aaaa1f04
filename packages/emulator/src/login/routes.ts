/**
 * Entra-like login endpoints: OIDC discovery (v1 and v2), JWKS (public keys only) and the client-credentials
 * token endpoint (v2 `oauth2/v2.0/token` with `scope`, v1 `oauth2/token` with `resource`) for the world's
 * service principals. Error bodies and codes follow Entra (AADSTS…).
 */
import { randomUUID } from "node:crypto"
import { ClusterIssuers } from "../federation/clusters.js"
import { header, jsonReply, type Reply, type RouteRequest, withAllow } from "../http.js"
import { isKnownResource, unknownResourceMessage } from "../token/audiences.js"
import { issuerFor, type TokenIssuer } from "../token/issuer.js"
import type { WorldStore } from "../world/model.js"
import { checkClientAssertion, JWT_BEARER_ASSERTION_TYPE } from "./assertion.js"

/** Lifetime of client-credential tokens (Entra's default is 60–90 min; MSAL sees `expires_in: 3599`). */
export const CLIENT_CREDENTIALS_LIFETIME_SECONDS = 3599

export interface LoginContext {
  readonly store: WorldStore
  readonly issuer: TokenIssuer
  /** Base URL of this server, e.g. `https://127.0.0.1:PORT`. */
  readonly baseUrl: () => string
  readonly now: () => number
}

const entraTimestamp = (ms: number): string =>
  new Date(ms)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z")

/** An Entra OAuth error body. */
export const entraError = (
  status: number,
  error: string,
  code: number,
  message: string,
  nowMs = Date.now(),
): Reply => {
  const traceId = randomUUID()
  const correlationId = randomUUID()
  const timestamp = entraTimestamp(nowMs)
  return jsonReply(
    status,
    {
      error,
      error_description: `AADSTS${code}: ${message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    },
    { "cache-control": "no-store, no-cache", pragma: "no-cache" },
  )
}

const TENANT_ALIASES = new Set(["common", "organizations", "consumers"])

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export const isLoginPath = (path: string): boolean =>
  /^\/common\/discovery\/instance\/?$/i.test(path) ||
  /^\/[^/]+\/(v2\.0\/)?\.well-known\/openid-configuration\/?$/i.test(path) ||
  /^\/[^/]+\/oauth2\/(v2\.0\/)?token\/?$/i.test(path) ||
  /^\/[^/]+\/discovery\/(v2\.0\/)?keys\/?$/i.test(path) ||
  /^\/discovery\/(v2\.0\/)?keys\/?$/i.test(path)

export class LoginEndpoints {
  /** The AKS clusters' OIDC issuers whose tokens federated credentials trust. */
  readonly clusters: ClusterIssuers

  constructor(private readonly ctx: LoginContext) {
    this.clusters = new ClusterIssuers(ctx)
  }

  handle(req: RouteRequest): Promise<Reply> | Reply {
    const path = req.path.replace(/\/$/, "")
    if (/^\/common\/discovery\/instance$/i.test(path)) return this.instanceDiscovery(req)
    const keys = /^(?:\/([^/]+))?\/discovery\/(v2\.0\/)?keys$/i.exec(path)
    if (keys !== null) return this.jwks(req, keys[1], keys[2] !== undefined)
    const oidc = /^\/([^/]+)\/(v2\.0\/)?\.well-known\/openid-configuration$/i.exec(path)
    if (oidc !== null) return this.openIdConfiguration(req, oidc[1] ?? "", oidc[2] !== undefined)
    const token = /^\/([^/]+)\/oauth2\/(v2\.0\/)?token$/i.exec(path)
    if (token !== null) return this.token(req, token[1] ?? "", token[2] !== undefined)
    return entraError(404, "invalid_request", 90002, `The requested path '${req.path}' was not found.`)
  }

  /**
   * MSAL's instance discovery (`/common/discovery/instance?api-version=1.1&authorization_endpoint=…`): this
   * host is its own cloud, with the tenant's v2.0 OIDC document as the tenant discovery endpoint.
   */
  private instanceDiscovery(req: RouteRequest): Reply {
    if (req.method !== "GET") return methodNotAllowed()
    const base = new URL(this.ctx.baseUrl())
    let endpoint: URL | undefined
    try {
      endpoint = new URL(req.query.get("authorization_endpoint") ?? "")
    } catch {
      endpoint = undefined
    }
    if (endpoint === undefined || endpoint.host !== base.host) {
      return entraError(400, "invalid_instance", 50049, "Unknown or invalid instance.", this.ctx.now())
    }
    const tenant = endpoint.pathname.split("/").filter((p) => p !== "")[0] ?? "common"
    return jsonReply(200, {
      tenant_discovery_endpoint: `${base.origin}/${tenant}/v2.0/.well-known/openid-configuration`,
      "api-version": "1.1",
      metadata: [{ preferred_network: base.host, preferred_cache: base.host, aliases: [base.host] }],
    })
  }

  private tenantKnown(tenant: string): boolean {
    return TENANT_ALIASES.has(tenant.toLowerCase()) || this.ctx.store.hasTenant(tenant)
  }

  private tenantNotFound(tenant: string): Reply {
    return entraError(
      400,
      "invalid_request",
      90002,
      `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
      this.ctx.now(),
    )
  }

  private jwks(req: RouteRequest, tenant: string | undefined, v2: boolean): Reply {
    if (req.method !== "GET") return methodNotAllowed()
    if (tenant !== undefined && !this.tenantKnown(tenant)) return this.tenantNotFound(tenant)
    const issuer =
      v2 && tenant !== undefined && GUID.test(tenant)
        ? `${this.ctx.baseUrl()}/${tenant}/v2.0`
        : v2
          ? `${this.ctx.baseUrl()}/{tenantid}/v2.0`
          : undefined
    return jsonReply(200, this.ctx.issuer.jwks(issuer))
  }

  private openIdConfiguration(req: RouteRequest, tenant: string, v2: boolean): Reply {
    if (req.method !== "GET") return methodNotAllowed()
    if (!this.tenantKnown(tenant)) return this.tenantNotFound(tenant)
    const base = this.ctx.baseUrl()
    const tid = TENANT_ALIASES.has(tenant.toLowerCase()) ? "{tenantid}" : tenant
    const common = {
      token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
      response_modes_supported: ["query", "fragment", "form_post"],
      subject_types_supported: ["pairwise"],
      id_token_signing_alg_values_supported: ["RS256"],
      response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
      scopes_supported: ["openid", "profile", "email", "offline_access"],
      request_uri_parameter_supported: false,
      tenant_region_scope: "NA",
      cloud_instance_name: "microsoftonline.com",
      cloud_graph_host_name: "graph.windows.net",
      msgraph_host: "graph.microsoft.com",
      rbac_url: "https://pas.windows.net",
    }
    if (v2) {
      return jsonReply(200, {
        token_endpoint: `${base}/${tenant}/oauth2/v2.0/token`,
        jwks_uri: `${base}/${tenant}/discovery/v2.0/keys`,
        issuer: `${base}/${tid}/v2.0`,
        authorization_endpoint: `${base}/${tenant}/oauth2/v2.0/authorize`,
        device_authorization_endpoint: `${base}/${tenant}/oauth2/v2.0/devicecode`,
        end_session_endpoint: `${base}/${tenant}/oauth2/v2.0/logout`,
        userinfo_endpoint: "https://graph.microsoft.com/oidc/userinfo",
        kerberos_endpoint: `${base}/${tenant}/kerberos`,
        http_logout_supported: true,
        frontchannel_logout_supported: true,
        claims_supported: [
          "sub",
          "iss",
          "aud",
          "exp",
          "iat",
          "auth_time",
          "acr",
          "nonce",
          "tid",
          "ver",
          "oid",
        ],
        ...common,
      })
    }
    return jsonReply(200, {
      token_endpoint: `${base}/${tenant}/oauth2/token`,
      jwks_uri: `${base}/common/discovery/keys`,
      issuer: tid === "{tenantid}" ? "https://sts.windows.net/{tenantid}/" : issuerFor(tenant),
      authorization_endpoint: `${base}/${tenant}/oauth2/authorize`,
      end_session_endpoint: `${base}/${tenant}/oauth2/logout`,
      userinfo_endpoint: `${base}/${tenant}/openid/userinfo`,
      microsoft_multi_refresh_token: true,
      check_session_iframe: `${base}/${tenant}/oauth2/checksession`,
      http_logout_supported: true,
      ...common,
    })
  }

  private async token(req: RouteRequest, tenant: string, v2: boolean): Promise<Reply> {
    const now = this.ctx.now()
    if (req.method !== "POST") {
      return withAllow(
        entraError(
          405,
          "invalid_request",
          900561,
          `The endpoint only accepts POST requests. Received a ${req.method} request.`,
          now,
        ),
        ["POST"],
      )
    }
    if (!this.ctx.store.hasTenant(tenant)) {
      return TENANT_ALIASES.has(tenant.toLowerCase())
        ? entraError(
            400,
            "invalid_request",
            1002016,
            `The client credentials flow requires a specific tenant; use the tenant ID instead of '${tenant}'.`,
            now,
          )
        : this.tenantNotFound(tenant)
    }
    const contentType = header(req.headers, "content-type") ?? ""
    if (!contentType.toLowerCase().startsWith("application/x-www-form-urlencoded")) {
      return missingParameter("grant_type", now)
    }
    const form = new URLSearchParams(req.body)
    const grantType = form.get("grant_type")
    if (grantType === null || grantType === "") {
      return missingParameter("grant_type", now)
    }
    if (grantType !== "client_credentials") {
      return entraError(
        400,
        "unsupported_grant_type",
        70003,
        `The app requested an unsupported grant type '${grantType}'.`,
        now,
      )
    }
    let clientId = form.get("client_id")
    let clientSecret = form.get("client_secret")
    // client_secret_basic: credentials in the Authorization header.
    const authorization = header(req.headers, "authorization")
    if (authorization?.startsWith("Basic ") === true) {
      const decoded = Buffer.from(authorization.slice(6), "base64").toString("utf8")
      const colon = decoded.indexOf(":")
      if (colon > 0) {
        clientId ??= safeDecode(decoded.slice(0, colon))
        clientSecret ??= safeDecode(decoded.slice(colon + 1))
      }
    }
    if (clientId === null || clientId === "") {
      return missingParameter("client_id", now)
    }
    let resource: string
    if (v2) {
      const scope = form.get("scope")
      if (scope === null || scope.trim() === "") {
        return missingParameter("scope", now)
      }
      const scopes = scope.trim().split(/\s+/)
      const [first] = scopes
      if (scopes.length !== 1 || first === undefined || !first.endsWith("/.default")) {
        return entraError(
          400,
          "invalid_scope",
          1002012,
          `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
          now,
        )
      }
      resource = first.slice(0, -"/.default".length)
    } else {
      const r = form.get("resource")
      if (r === null || r === "") {
        return missingParameter("resource", now)
      }
      resource = r
    }
    const principal = this.ctx.store.findServicePrincipal(clientId)
    const principalTenant = principal?.tenantId ?? this.ctx.store.defaultTenantId
    if (principal === undefined || principalTenant.toLowerCase() !== tenant.toLowerCase()) {
      return entraError(
        400,
        "unauthorized_client",
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
        now,
      )
    }
    const assertionType = form.get("client_assertion_type")
    const assertion = form.get("client_assertion")
    if ((assertion !== null && assertion !== "") || assertionType !== null) {
      if (assertionType !== JWT_BEARER_ASSERTION_TYPE) {
        return entraError(
          400,
          "invalid_request",
          700009,
          `Client assertion type must be '${JWT_BEARER_ASSERTION_TYPE}' (got '${assertionType ?? ""}').`,
          now,
        )
      }
      if (assertion === null || assertion === "") return missingParameter("client_assertion", now)
      const refused = await checkClientAssertion(
        assertion,
        principal,
        this.clusters,
        now,
        (status, error, code, text) => entraError(status, error, code, text, now),
      )
      if (refused !== undefined) return refused
    } else if (clientSecret === null || clientSecret === "") {
      return entraError(
        401,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        now,
      )
    } else if (clientSecret !== principal.secret) {
      return entraError(
        401,
        "invalid_client",
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${principal.clientId}'.`,
        now,
      )
    }
    if (!isKnownResource(resource)) {
      return entraError(
        400,
        "invalid_resource",
        500011,
        unknownResourceMessage(resource, tenant).replace(/^AADSTS500011: /, ""),
        now,
      )
    }
    const issued = await this.ctx.issuer.issue(
      {
        aud: resource,
        tid: principalTenant,
        appid: principal.clientId,
        oid: principal.objectId,
        // "2": authenticated with a certificate or client assertion, "1": with a secret.
        appidacr: assertion !== null && assertion !== "" ? "2" : "1",
      },
      CLIENT_CREDENTIALS_LIFETIME_SECONDS + 300,
      now,
    )
    const headers = { "cache-control": "no-store, no-cache", pragma: "no-cache" }
    if (v2) {
      return jsonReply(
        200,
        {
          token_type: "Bearer",
          expires_in: CLIENT_CREDENTIALS_LIFETIME_SECONDS,
          ext_expires_in: CLIENT_CREDENTIALS_LIFETIME_SECONDS,
          access_token: issued.token,
        },
        headers,
      )
    }
    return jsonReply(
      200,
      {
        token_type: "Bearer",
        expires_in: String(CLIENT_CREDENTIALS_LIFETIME_SECONDS),
        ext_expires_in: String(CLIENT_CREDENTIALS_LIFETIME_SECONDS),
        expires_on: String(issued.exp),
        not_before: String(issued.nbf),
        resource,
        access_token: issued.token,
      },
      headers,
    )
  }
}

const methodNotAllowed = (): Reply =>
  withAllow(jsonReply(405, { error: "invalid_request", error_description: "Method not allowed" }), ["GET"])

/** Entra's AADSTS900144 answer for a missing form parameter. */
const missingParameter = (name: string, now: number) =>
  entraError(
    400,
    "invalid_request",
    900144,
    `The request body must contain the following parameter: '${name}'.`,
    now,
  )

// A malformed %-escape in a Basic header must be a bad credential, not a thrown URIError.
const safeDecode = (s: string): string => {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}
