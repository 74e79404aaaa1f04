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
import { type Brand, Clock, Effect, Layer, Redacted, type Scope } from "effect"
import type { AccessToken } from "./AccessToken.js"
import {
  type AzmiError,
  type ErrorCategory,
  errorCategory,
  FederatedCredentialNotFound,
  FederatedIssuerUnreachable,
  FederatedTokenExpired,
  FederatedTokenMalformed,
  FederatedTokenSignatureInvalid,
  InvalidConfiguration,
  type TokenError,
} from "./Errors.js"
import { IdentitySelector } from "./IdentitySelector.js"
import * as AssertionFile from "./internal/assertionFile.js"
import { type CachedProvider, makeCachedProvider } from "./internal/cachedProvider.js"
import * as EntraToken from "./internal/entraToken.js"
import type { FederatedAssertion } from "./internal/federatedAssertion.js"
import { audienceFor } from "./internal/federatedCredentialCommand.js"
import { isGuid } from "./internal/guid.js"
import { isTenantId } from "./internal/tenant.js"
import type { ManagedIdentitySource } from "./ManagedIdentitySource.js"
import { imdsPolicy, type RetryPolicy } from "./Retry.js"
import { TokenProvider } from "./TokenProvider.js"

/** The default `AZURE_AUTHORITY_HOST`: the public cloud's Entra ID. */
export const DEFAULT_AUTHORITY_HOST = EntraToken.DEFAULT_AUTHORITY_HOST

/** What the workload identity webhook injects (as detected from the environment). */
export interface WorkloadIdentityConfig {
  readonly _tag: "WorkloadIdentity"
  /** `AZURE_FEDERATED_TOKEN_FILE`: the projected service-account token. */
  readonly tokenFile: string
  /** `AZURE_TENANT_ID`. */
  readonly tenantId: string
  /** `AZURE_CLIENT_ID`: the managed identity's or app registration's client id. */
  readonly clientId: string
  /** `AZURE_AUTHORITY_HOST` (https only); default {@link DEFAULT_AUTHORITY_HOST}. */
  readonly authorityHost?: string | undefined
}

/**
 * A configuration {@link validate} accepted (branded: only `validate` makes one): the token path trimmed,
 * the authority host https and without a trailing slash.
 */
export type ValidConfig = WorkloadIdentityConfig & {
  readonly authorityHost: string
} & Brand.Brand<"@azmi/core/WorkloadIdentity/ValidConfig">

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

const invalid = (variable: string, reason: string) => new InvalidConfiguration({ variable, reason })

const checkAuthorityHost = (raw: string): Effect.Effect<string, InvalidConfiguration> => {
  let url: URL
  try {
    url = new URL(raw.trim())
  } catch {
    return Effect.fail(invalid("AZURE_AUTHORITY_HOST", "must be an absolute https URL"))
  }
  // The federated token travels in the request body: like the SDKs, https only, even on loopback.
  if (url.protocol !== "https:") {
    return Effect.fail(
      invalid("AZURE_AUTHORITY_HOST", "must use https (workload identity sends the federated token to it)"),
    )
  }
  if (url.username !== "" || url.password !== "") {
    return Effect.fail(invalid("AZURE_AUTHORITY_HOST", "must not contain user info"))
  }
  if (url.search !== "" || url.hash !== "") {
    return Effect.fail(invalid("AZURE_AUTHORITY_HOST", "must not have a query or fragment"))
  }
  return Effect.succeed(url.origin + url.pathname.replace(/\/+$/, ""))
}

/**
 * The configuration checked and normalised (authority without a trailing slash, token path trimmed);
 * `InvalidConfiguration` naming the variable otherwise. No request is ever built from a value that
 * failed here.
 *
 * @example
 * ```ts
 * WorkloadIdentity.validate({ _tag: "WorkloadIdentity", tokenFile, tenantId, clientId, authorityHost: "http://login" })
 * // fails: Invalid configuration AZURE_AUTHORITY_HOST: must use https …
 * ```
 */
export const validate = (config: WorkloadIdentityConfig): Effect.Effect<ValidConfig, InvalidConfiguration> =>
  Effect.gen(function* () {
    const tokenFile = config.tokenFile.trim()
    if (tokenFile === "" || tokenFile.includes("\0")) {
      return yield* invalid("AZURE_FEDERATED_TOKEN_FILE", "must be the path of the federated token file")
    }
    if (!isTenantId(config.tenantId)) {
      return yield* invalid("AZURE_TENANT_ID", "must be a tenant GUID or domain name")
    }
    if (!isGuid(config.clientId)) {
      return yield* invalid(
        "AZURE_CLIENT_ID",
        `must be the client id (a GUID) of the identity the workload federates with (got ${JSON.stringify(config.clientId.slice(0, 100))})`,
      )
    }
    const authorityHost = yield* checkAuthorityHost(config.authorityHost ?? DEFAULT_AUTHORITY_HOST)
    const valid = {
      _tag: "WorkloadIdentity",
      tokenFile,
      tenantId: config.tenantId,
      clientId: config.clientId,
      authorityHost,
    } as const
    return valid as typeof valid & Brand.Brand<"@azmi/core/WorkloadIdentity/ValidConfig">
  })

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

// ---------------------------------------------------------------------------------------------------
// Diagnostics (`azmi doctor`)
// ---------------------------------------------------------------------------------------------------

/**
 * One diagnostic check: what was checked, whether it passed, what was seen, and for a failure what to do
 * (the error's hint) and the typed error itself (a shell maps it to its exit code).
 */
export interface Check {
  readonly check: string
  readonly ok: boolean
  readonly detail: string
  readonly fix?: string | undefined
  /** A failure's category (a shell's exit code or status). */
  readonly category?: ErrorCategory | undefined
  readonly error?: AzmiError | undefined
}

const failedCheck = (check: string, error: AzmiError): Check => ({
  check,
  ok: false,
  detail: error.message,
  fix: error.hint,
  category: errorCategory(error),
  error,
})

const minutesFrom = (from: number, to: number) => Math.round((to - from) / 60_000)

/**
 * The federated token's checks, for `azmi doctor`: the file is readable (and a JWT), its issuer and
 * subject (what a federated credential must name), and that it is not expired. Stops at the first failure.
 *
 * @example
 * ```ts
 * const checks = yield* WorkloadIdentity.checks(config)
 * // [{ check: "Federated token file readable", ok: true, detail: "/var/run/…" }, …]
 * ```
 */
export const checks = (
  config: WorkloadIdentityConfig,
  options: Pick<WorkloadIdentityOptions, "fileSystem"> = {},
): Effect.Effect<ReadonlyArray<Check>> =>
  Effect.gen(function* () {
    const out: Array<Check> = []
    const valid = yield* Effect.either(validate(config))
    if (valid._tag === "Left") {
      out.push({
        check: "Workload identity configuration",
        ok: false,
        detail: valid.left.message,
        error: valid.left,
      })
      return out
    }
    const path = valid.right.tokenFile
    const file = yield* AssertionFile.make(path, options.fileSystem)
    const read = yield* Effect.either(file.peekFile)
    if (read._tag === "Left") {
      out.push(failedCheck("Federated token file readable", read.left))
      return out
    }
    const a = read.right
    out.push({
      check: "Federated token file readable",
      ok: true,
      detail: `${path} (AZURE_FEDERATED_TOKEN_FILE)`,
    })
    out.push({
      check: "Federated token issuer and subject",
      ok: true,
      detail: `iss ${a.issuer}, sub ${a.subject}, aud ${a.audiences.join(",")} (a federated credential on ${valid.right.clientId} must name these)`,
    })
    const now = yield* Clock.currentTimeMillis
    if (a.expiresOn - now <= AssertionFile.MIN_ASSERTION_LIFETIME_MS) {
      const e = new FederatedTokenExpired({ path, expiresOn: a.expiresOn, checkedAt: now, refusedBy: "azmi" })
      out.push(failedCheck("Federated token not expired", e))
      return out
    }
    out.push({
      check: "Federated token not expired",
      ok: true,
      detail: `expires ${new Date(a.expiresOn).toISOString()} (in ${minutesFrom(now, a.expiresOn)} min)`,
    })
    return out
  })
