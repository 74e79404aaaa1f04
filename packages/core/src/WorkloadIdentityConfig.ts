/**
 * Workload identity's configuration — what the azure-workload-identity webhook injects, validated — and
 * `azmi doctor`'s checks of its federated token file, without the HTTP stack (`WorkloadIdentity` is the
 * credential): the configuration and the CLI's diagnostics load this module alone.
 * @module
 */
import { type Brand, Clock, Effect, Either } from "effect"
import type { HostCheck } from "./AzureHost.js"
import { serviceUrl } from "./Endpoints.js"
import { type AzmiError, errorCategory, FederatedTokenExpired, InvalidConfiguration } from "./Errors.js"
import * as AssertionFile from "./internal/assertionFile.js"
import { DEFAULT_AUTHORITY_HOST } from "./internal/authority.js"
import { isGuid } from "./internal/guid.js"
import { isTenantId } from "./internal/tenant.js"

export { DEFAULT_AUTHORITY_HOST }

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

const invalid = (variable: string, reason: string) => new InvalidConfiguration({ variable, reason })

/**
 * The service URL rule (`Endpoints.serviceUrl`), and https even on loopback: the federated token travels
 * in the request body, and the SDKs refuse anything else for workload identity.
 */
const checkAuthorityHost = (raw: string): Either.Either<string, InvalidConfiguration> =>
  Either.flatMap(serviceUrl(raw), (url) =>
    url.startsWith("https://")
      ? Either.right(url)
      : Either.left("must use https (workload identity sends the federated token to it)"),
  ).pipe(Either.mapLeft((reason) => invalid("AZURE_AUTHORITY_HOST", reason)))

/**
 * The configuration checked and normalised (authority without a trailing slash, token path trimmed);
 * `InvalidConfiguration` naming the variable otherwise. No request is ever built from a value that
 * failed here. Pure (an `Either`, which is also an `Effect`): host detection (`SourceDetection`) builds
 * the workload-identity source with it, as code that configures the credential directly does.
 *
 * @example
 * ```ts
 * WorkloadIdentity.validate({ _tag: "WorkloadIdentity", tokenFile, tenantId, clientId, authorityHost: "http://login" })
 * // Left: Invalid configuration AZURE_AUTHORITY_HOST: must use https …
 * ```
 */
export const validate = (
  config: WorkloadIdentityConfig,
): Either.Either<ValidConfig, InvalidConfiguration> => {
  const tokenFile = config.tokenFile.trim()
  if (tokenFile === "" || tokenFile.includes("\0")) {
    return Either.left(invalid("AZURE_FEDERATED_TOKEN_FILE", "must be the path of the federated token file"))
  }
  if (!isTenantId(config.tenantId)) {
    return Either.left(invalid("AZURE_TENANT_ID", "must be a tenant GUID or domain name"))
  }
  if (!isGuid(config.clientId)) {
    return Either.left(
      invalid(
        "AZURE_CLIENT_ID",
        `must be the client id (a GUID) of the identity the workload federates with (got ${JSON.stringify(config.clientId.slice(0, 100))})`,
      ),
    )
  }
  return Either.map(checkAuthorityHost(config.authorityHost ?? DEFAULT_AUTHORITY_HOST), (authorityHost) => {
    const valid = {
      _tag: "WorkloadIdentity",
      tokenFile,
      tenantId: config.tenantId,
      clientId: config.clientId,
      authorityHost,
    } as const
    return valid as typeof valid & Brand.Brand<"@azmi/core/WorkloadIdentity/ValidConfig">
  })
}

// ---------------------------------------------------------------------------------------------------
// Diagnostics (`azmi doctor`)
// ---------------------------------------------------------------------------------------------------

/** One diagnostic check (a host check: `AzureHost` runs these on workload identity). */
export type Check = HostCheck

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
  options: { readonly fileSystem?: AssertionFile.TokenFileSystem | undefined } = {},
): Effect.Effect<ReadonlyArray<Check>> =>
  Effect.gen(function* () {
    const out: Array<Check> = []
    const valid = yield* Effect.either(validate(config))
    if (valid._tag === "Left") {
      out.push(failedCheck("Workload identity configuration", valid.left))
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
