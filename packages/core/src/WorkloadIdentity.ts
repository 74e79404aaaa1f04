/**
 * AKS workload identity as a {@link TokenProvider}: the pod's projected service-account token
 * (`AZURE_FEDERATED_TOKEN_FILE`) exchanged at Entra for access tokens — `POST
 * {AZURE_AUTHORITY_HOST}/{AZURE_TENANT_ID}/oauth2/v2.0/token` with the client-credentials grant, the token
 * as a jwt-bearer `client_assertion` and `scope={resource}/.default` (the same request builder and decoder
 * as the service principal's, `internal/entraToken`).
 *
 * Unlike `@azure/identity`, whose `ManagedIdentityCredential` builds a new credential and makes a new
 * token request on every call: one request per token lifetime for any number of callers (the
 * single-flight, refresh-ahead cache every azmi credential uses). The file is read once and again only
 * when the kubelet replaces it or the token held nears its `exp`; an expired token is never sent.
 * Entra's refusals are typed errors whose hints say what to change — for a missing federated
 * credential (AADSTS70021) the exact `az` command, built from the token's own issuer and subject.
 * The federated token is a credential: it stays `Redacted`, and no log line or error carries it.
 * @module
 */
import { HttpClient } from "@effect/platform"
import { Clock, Effect, Layer, Redacted, type Scope } from "effect"
import type { AccessToken } from "./AccessToken.js"
import {
  FederatedCredentialNotFound,
  FederatedIssuerUnreachable,
  FederatedTokenExpired,
  FederatedTokenMalformed,
  FederatedTokenSignatureInvalid,
  type InvalidConfiguration,
  type TokenError,
} from "./Errors.js"
import { IdentitySelector } from "./IdentitySelector.js"
import * as AssertionFile from "./internal/assertionFile.js"
import { type CachedProvider, makeCachedProvider } from "./internal/cachedProvider.js"
import * as EntraToken from "./internal/entraToken.js"
import type { FederatedAssertion } from "./internal/federatedAssertion.js"
import { audienceFor } from "./internal/federatedCredentialCommand.js"
import type { ManagedIdentitySource } from "./ManagedIdentitySource.js"
import { imdsPolicy, type RetryPolicy } from "./Retry.js"
import { TokenProvider } from "./TokenProvider.js"
import { type ValidConfig, validate, type WorkloadIdentityConfig } from "./WorkloadIdentityConfig.js"

export {
  type Check,
  checks,
  DEFAULT_AUTHORITY_HOST,
  type ValidConfig,
  validate,
  type WorkloadIdentityConfig,
} from "./WorkloadIdentityConfig.js"

/** Options of {@link make}. */
export interface WorkloadIdentityOptions {
  /** Retry rules of the token request. Default: IMDS's (`Retry.imdsPolicy`). */
  readonly policy?: RetryPolicy | undefined
  /** Maximum number of resources cached. Default 1000. */
  readonly capacity?: number | undefined
  /** Cap of the delay between failed background refreshes. Default 60000. */
  readonly refreshMaxDelayMs?: number | undefined
  /** Where the token file is read (tests). Default: Node's file system. */
  readonly fileSystem?: AssertionFile.TokenFileSystem | undefined
}

/** What a token request sent, for explaining Entra's refusal of it. */
interface Sent {
  readonly assertion: FederatedAssertion
  readonly at: number
}

/** The first line of Entra's description without its `AADSTSnnnn: ` prefix. */
const entraText = (description: string | undefined): string | undefined =>
  description
    ?.split(/\r?\n/)[0]
    ?.replace(/^AADSTS\d+:\s*/, "")
    .trim()

/** Entra's refusals of a federated token (the AADSTS codes its workload identity federation answers). */
const refusalOf =
  (config: ValidConfig) =>
  (refusal: EntraToken.EntraRefusal, sent: Sent): TokenError | undefined => {
    const { assertion } = sent
    switch (refusal.code) {
      case 70021:
        return new FederatedCredentialNotFound({
          tenantId: config.tenantId,
          clientId: config.clientId,
          issuer: assertion.issuer,
          subject: assertion.subject,
          audience: audienceFor(assertion.audiences),
        })
      case 700024:
        return new FederatedTokenExpired({
          path: config.tokenFile,
          expiresOn: assertion.expiresOn,
          checkedAt: sent.at,
          refusedBy: "entra",
        })
      case 700027:
        return new FederatedTokenSignatureInvalid({
          path: config.tokenFile,
          issuer: assertion.issuer,
          reason: /\[Reason - ([^\]]+)\]/.exec(refusal.description ?? "")?.[1]?.trim(),
        })
      case 90061:
        return new FederatedIssuerUnreachable({ issuer: assertion.issuer })
      case 50027:
        return new FederatedTokenMalformed({
          path: config.tokenFile,
          problem: entraText(refusal.description) ?? "the JWT is invalid or malformed",
          refusedBy: "entra",
        })
      default:
        return undefined
    }
  }

/** One token request for a resource: the file's current assertion exchanged at Entra (with retries). */
const requestToken = (
  client: HttpClient.HttpClient,
  config: ValidConfig,
  file: AssertionFile.AssertionFile,
  resource: string,
  policy: RetryPolicy,
): Effect.Effect<AccessToken, TokenError> =>
  EntraToken.requestToken<Sent>({
    client,
    app: config,
    resource,
    policy,
    credential: "workload-identity",
    // Before every attempt: a retry after a wait may need the token the kubelet wrote meanwhile.
    proof: Effect.map(Effect.zip(file.current, Clock.currentTimeMillis), ([assertion, at]) => ({
      fields: {
        client_assertion_type: EntraToken.JWT_BEARER,
        client_assertion: Redacted.value(assertion.token),
      },
      about: { assertion, at },
    })),
    refusal: refusalOf(config),
  })

/**
 * Workload identity as a managed-identity source (no cache: `ManagedIdentity.makeWithCache` puts the one
 * cache on top, as for every host), from a configuration {@link validate} accepted: each request exchanges
 * the file's current token. The identity is the configuration's client id; a selector passed to
 * `requestToken` is not consulted (detection refuses an object or resource id for workload identity).
 *
 * @example
 * ```ts
 * const source = yield* Effect.flatMap(WorkloadIdentity.validate(config), (valid) => WorkloadIdentity.makeSource(valid, { policy }))
 * const token = yield* source.requestToken("https://management.azure.com/", IdentitySelector.SystemAssigned())
 * ```
 */
export const makeSource = (
  valid: ValidConfig,
  options: WorkloadIdentityOptions = {},
): Effect.Effect<ManagedIdentitySource["Type"], never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const file = yield* AssertionFile.make(valid.tokenFile, options.fileSystem)
    const policy = options.policy ?? imdsPolicy
    return {
      name: "workload identity",
      endpoint: EntraToken.tokenUrl(valid),
      requestToken: (resource) => requestToken(client, valid, file, resource, policy),
    }
  })

/** Who a provider authenticates as (its `description`). */
const describe = (config: ValidConfig) =>
  `workload identity ${config.clientId} in tenant ${config.tenantId} via ${config.authorityHost} (federated token ${config.tokenFile})`

/**
 * The provider with its cache exposed (for the Promise facade's fast path), over the HttpClient in context.
 */
export const makeWithCache = (
  config: WorkloadIdentityConfig,
  options: WorkloadIdentityOptions = {},
): Effect.Effect<CachedProvider, InvalidConfiguration, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function* () {
    const valid = yield* validate(config)
    const source = yield* makeSource(valid, options)
    const description = describe(valid)
    yield* Effect.logDebug(`using ${description}`).pipe(
      Effect.annotateLogs({ source: "workload-identity", selector: `client_id=${valid.clientId}` }),
    )
    return yield* makeCachedProvider({
      description,
      lookup: (resource) => source.requestToken(resource, SYSTEM_ASSIGNED),
      capacity: options.capacity,
      refreshMaxDelayMs: options.refreshMaxDelayMs,
    })
  })

const SYSTEM_ASSIGNED = IdentitySelector.SystemAssigned()

/**
 * The workload-identity provider, over the HttpClient in context.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TokenProvider, WorkloadIdentity } from "@azmi/core"
 * const provider = WorkloadIdentity.make({
 *   _tag: "WorkloadIdentity",
 *   tokenFile: "/var/run/secrets/azure/wi/token/azure-identity-token",
 *   tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
 *   clientId: "a6e35b7f-9c0e-4f1a-8b3c-4d5e6f7a8b3e",
 *   authorityHost: "https://login.microsoftonline.com/",
 * })
 * ```
 */
export const make = (
  config: WorkloadIdentityConfig,
  options: WorkloadIdentityOptions = {},
): Effect.Effect<TokenProvider["Type"], InvalidConfiguration, HttpClient.HttpClient | Scope.Scope> =>
  Effect.map(makeWithCache(config, options), (p) => p.provider)

/**
 * {@link make} as a layer.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { HttpTransport, TokenProvider, WorkloadIdentity } from "@azmi/core"
 * const token = Effect.flatMap(TokenProvider, (tp) => tp.getToken("https://management.azure.com/"))
 * const layer = WorkloadIdentity.layer(config).pipe(Effect.provide(HttpTransport.layer()))
 * ```
 */
export const layer = (
  config: WorkloadIdentityConfig,
  options: WorkloadIdentityOptions = {},
): Layer.Layer<TokenProvider, InvalidConfiguration, HttpClient.HttpClient> =>
  Layer.scoped(TokenProvider, make(config, options))
