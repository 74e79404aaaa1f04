/**
 * AKS clusters' OIDC issuers: each AKS host of the world signs its projected service-account tokens with its
 * own RSA key and publishes, under its issuer URL, the discovery document and JWKS Entra reads to check them
 * (`{issuer}.well-known/openid-configuration`, `{issuer}openid/v1/jwks`, as AKS serves them).
 *
 * The issuer URL is served by the emulator (`https://127.0.0.1:PORT/oidc/<oidcIssuerId>/`), so it depends on
 * the login server's port: pin `--arm-port` when federated credentials must survive a restart.
 *
 * @example
 * ```ts
 * const clusters = new ClusterIssuers({ store, now: Date.now, baseUrl: () => loginUrl })
 * const jwt = await clusters.serviceAccountToken(host, 3600)
 * const jwks = await clusters.jwksFor(issuerUrl) // undefined: not an issuer the emulator serves
 * ```
 */
import { createHash, randomUUID } from "node:crypto"
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose"
import { jsonReply, type Reply, type RouteRequest } from "../http.js"
import type { Host, WorldStore } from "../world/model.js"

/** The audience Entra requires of federated tokens from Kubernetes (the webhook's default). */
export const TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"

interface ClusterKey {
  readonly privateKey: CryptoKey
  readonly jwk: JWK
  readonly kid: string
}

/** `/oidc/<id>/…` paths served for cluster issuers. */
const ISSUER_PATH = /^\/oidc\/([0-9a-f-]{36})\/(\.well-known\/openid-configuration|openid\/v1\/jwks)\/?$/i

export const isClusterIssuerPath = (path: string): boolean => /^\/oidc\//i.test(path)

export interface ClusterIssuersContext {
  readonly store: WorldStore
  readonly now: () => number
  /** The login server's base URL, `https://127.0.0.1:PORT`. */
  readonly baseUrl: () => string
}

export class ClusterIssuers {
  private readonly keys = new Map<string, Promise<ClusterKey>>()

  constructor(private readonly ctx: ClusterIssuersContext) {}

  /** The issuer URL of an AKS host (trailing slash, like AKS's). */
  issuerUrl(host: Host): string {
    return `${this.ctx.baseUrl()}/oidc/${(host.oidcIssuerId ?? "").toLowerCase()}/`
  }

  private cluster(oidcIssuerId: string): Host | undefined {
    return this.ctx.store
      .hosts()
      .find((h) => h.kind === "aks" && h.oidcIssuerId?.toLowerCase() === oidcIssuerId.toLowerCase())
  }

  private key(oidcIssuerId: string): Promise<ClusterKey> {
    const id = oidcIssuerId.toLowerCase()
    let key = this.keys.get(id)
    if (key === undefined) {
      key = (async () => {
        const pair = await generateKeyPair("RS256", { extractable: true })
        const jwk = await exportJWK(pair.publicKey)
        // The API server's kid: base64url SHA-256 of the public key.
        const kid = createHash("sha256").update(`${jwk.n}.${jwk.e}`).digest("base64url")
        return { privateKey: pair.privateKey, jwk: { ...jwk, kid, use: "sig", alg: "RS256" }, kid }
      })()
      this.keys.set(id, key)
    }
    return key
  }

  /** The JWKS of the issuer at `issuerUrl`, or undefined when the emulator serves no such issuer. */
  async jwksFor(issuerUrl: string): Promise<{ keys: JWK[] } | undefined> {
    const host = this.ctx.store.hosts().find((h) => h.kind === "aks" && this.issuerUrl(h) === issuerUrl)
    if (host?.oidcIssuerId === undefined) return undefined
    return { keys: [(await this.key(host.oidcIssuerId)).jwk] }
  }

  /**
   * A projected service-account token for the host's workload, as the kubelet requests it: `aud`
   * `api://AzureADTokenExchange`, `sub` `system:serviceaccount:<ns>:<sa>`, valid `lifetimeSeconds` from now.
   */
  async serviceAccountToken(
    host: Host,
    lifetimeSeconds: number,
  ): Promise<{ token: string; iat: number; exp: number }> {
    const sa = host.serviceAccount
    if (host.oidcIssuerId === undefined || sa === undefined)
      throw new Error("not an AKS host with a workload")
    const { privateKey, kid } = await this.key(host.oidcIssuerId)
    const iat = Math.floor(this.ctx.now() / 1000)
    const exp = iat + lifetimeSeconds
    const token = await new SignJWT({
      aud: [TOKEN_EXCHANGE_AUDIENCE],
      iss: this.issuerUrl(host),
      sub: `system:serviceaccount:${sa.namespace}:${sa.name}`,
      iat,
      nbf: iat,
      exp,
      jti: randomUUID(),
      "kubernetes.io": {
        namespace: sa.namespace,
        pod: { name: `${sa.name}-workload`, uid: randomUUID() },
        serviceaccount: { name: sa.name, uid: randomUUID() },
      },
    })
      .setProtectedHeader({ alg: "RS256", kid })
      .sign(privateKey)
    return { token, iat, exp }
  }

  /** Serves `/oidc/<id>/.well-known/openid-configuration` and `/oidc/<id>/openid/v1/jwks`. */
  async handle(req: RouteRequest): Promise<Reply> {
    const m = ISSUER_PATH.exec(req.path)
    const host = m?.[1] === undefined ? undefined : this.cluster(m[1])
    if (m === null || host?.oidcIssuerId === undefined) return jsonReply(404, { error: "Not found" })
    if (req.method !== "GET")
      return { ...jsonReply(405, { error: "Method not allowed" }), headers: { allow: "GET" } }
    const issuer = this.issuerUrl(host)
    if (m[2]?.toLowerCase() === "openid/v1/jwks")
      return jsonReply(200, { keys: [(await this.key(host.oidcIssuerId)).jwk] })
    return jsonReply(200, {
      issuer,
      jwks_uri: `${issuer}openid/v1/jwks`,
      response_types_supported: ["id_token"],
      subject_types_supported: ["public"],
      id_token_signing_alg_values_supported: ["RS256"],
    })
  }
}
