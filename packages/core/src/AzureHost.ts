/**
 * The Azure host this process runs on, as detected (`SourceDetection`): its name, what decided it, whether
 * it also has an IMDS, and the checks that only make sense on it — for `azmi doctor`, which opens with
 * them. The checks send nothing secret: Arc's looks at the key directory's permissions, Service Fabric's
 * compares the endpoint's certificate with the pin and closes the connection, workload identity's reads
 * the federated token file (its claims; the token itself is never shown).
 * @module
 */
import { access, constants } from "node:fs"
import { Context, Effect, Layer } from "effect"
import { AzmiConfig, type AzmiConfigShape, hasImds } from "./Config.js"
import { withoutQuery } from "./Endpoints.js"
import { ARC_KEY_DIRECTORY, type AzmiError, type ErrorCategory, HIMDS_GROUP_HINT } from "./Errors.js"
import { displayName, type ManagedIdentitySourceName } from "./SourceDetection.js"
import * as WorkloadIdentityConfig from "./WorkloadIdentityConfig.js"

/** One line of a host's checks. */
export interface HostCheck {
  readonly check: string
  readonly ok: boolean
  readonly detail: string
  /** What to do about a failure. */
  readonly fix?: string | undefined
  /** What kind of failure it is (for an exit code or a status), as for an error. */
  readonly category?: ErrorCategory | undefined
  /** The typed error behind a failure, when there is one (workload identity's file and assertion). */
  readonly error?: AzmiError | undefined
}

/**
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AzureHost } from "@azmi/core"
 * const line = Effect.map(AzureHost, (h) => `${h.displayName} (${h.decidedBy.join(", ") || "default"})`)
 * ```
 */
export class AzureHost extends Context.Tag("@azmi/core/AzureHost")<
  AzureHost,
  {
    readonly name: ManagedIdentitySourceName
    /** `IMDS`, `Azure Arc`, … */
    readonly displayName: string
    /** The variables (or options, or file) that decided it; empty for IMDS by default. */
    readonly decidedBy: ReadonlyArray<string>
    /** Where tokens come from (the authority, for workload identity). */
    readonly endpoint: string
    /** Whether instance metadata (an IMDS) is there to read. */
    readonly hasImds: boolean
    /** The host's own checks, in order, stopping at the first failure (none for IMDS, App Service, Azure ML and Cloud Shell). */
    readonly checks: Effect.Effect<ReadonlyArray<HostCheck>>
  }
>() {}

const errnoOf = (e: unknown) =>
  typeof e === "object" && e !== null && "code" in e && typeof e.code === "string" ? e.code : String(e)

/** Arc: may this process read the key directory (root or the `himds` group)? */
export const arcKeyDirectoryCheck = (directory: string = ARC_KEY_DIRECTORY): Effect.Effect<HostCheck> =>
  Effect.async<HostCheck>((resume) =>
    access(directory, constants.R_OK | constants.X_OK, (e) => {
      if (e === null) {
        resume(Effect.succeed({ check: "Azure Arc key directory readable", ok: true, detail: directory }))
        return
      }
      const code = errnoOf(e)
      resume(
        Effect.succeed({
          check: "Azure Arc key directory readable",
          ok: false,
          detail: `${directory}: ${code}`,
          category: "CredentialUnavailable",
          fix:
            code === "ENOENT"
              ? "The Azure Connected Machine agent creates it: install or repair the agent (azcmagent)."
              : HIMDS_GROUP_HINT,
        }),
      )
    }),
  )

/** Service Fabric: does the endpoint's certificate have the pinned thumbprint? Sends nothing. */
export const serviceFabricThumbprintCheck = (
  endpoint: string,
  thumbprint: string,
  connectTimeoutMs: number,
): Effect.Effect<HostCheck> =>
  // node:tls is loaded only here (`azmi doctor` on Service Fabric): a cached `azmi token` never needs it.
  Effect.promise(() =>
    import("./internal/pinnedTls.js").then((tls) =>
      tls.probeThumbprint(endpoint, { thumbprint, variable: "IDENTITY_SERVER_THUMBPRINT", connectTimeoutMs }),
    ),
  ).pipe(
    Effect.map((result): HostCheck => {
      const check = "Service Fabric certificate matches IDENTITY_SERVER_THUMBPRINT"
      if (result.matches) return { check, ok: true, detail: `SHA-1 ${thumbprint}` }
      const e = result.error as Error & { code?: string; actual?: string }
      return e.actual !== undefined
        ? {
            check,
            ok: false,
            detail: `the certificate of ${endpoint} has SHA-1 ${e.actual}, IDENTITY_SERVER_THUMBPRINT is ${thumbprint}`,
            category: "AuthenticationFailed",
            fix: "Something other than the cluster's managed-identity endpoint answers there, or IDENTITY_SERVER_THUMBPRINT is stale.",
          }
        : {
            check,
            ok: false,
            detail: `could not connect to ${endpoint}: ${e.code ?? e.message}`,
            category: "CredentialUnavailable",
            fix: "Run on a Service Fabric node whose managed-identity token service is up (IDENTITY_ENDPOINT).",
          }
    }),
  )

/**
 * The host of a resolved configuration.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AzmiConfig, AzureHost } from "@azmi/core"
 * const host = Effect.map(AzmiConfig.make(), AzureHost.make)
 * ```
 */
export const make = (config: AzmiConfigShape): AzureHost["Type"] => {
  const { detection, source } = config
  const configured = source._tag === "WorkloadIdentity" ? source.authorityHost : source.endpoint
  // Shown to people (doctor, azmi-http's log): without a query, like every error and log line (and as
  // configured otherwise: no normalising slash added).
  const endpoint = /[?#]/.test(configured) ? withoutQuery(configured) : configured
  const checks: Effect.Effect<ReadonlyArray<HostCheck>> =
    source._tag === "AzureArc"
      ? Effect.map(arcKeyDirectoryCheck(), (c) => [c])
      : source._tag === "ServiceFabric"
        ? Effect.map(
            serviceFabricThumbprintCheck(source.endpoint, source.thumbprint, config.connectTimeoutMs),
            (c) => [c],
          )
        : source._tag === "WorkloadIdentity"
          ? // The federated token file readable, its issuer and subject, not expired.
            WorkloadIdentityConfig.checks(source)
          : Effect.succeed([])
  return {
    name: detection.name,
    displayName: displayName(detection.name),
    decidedBy: detection.decidedBy,
    endpoint,
    hasImds: hasImds(config),
    checks,
  }
}

/** The host of {@link AzmiConfig}. */
export const layer: Layer.Layer<AzureHost, never, AzmiConfig> = Layer.effect(
  AzureHost,
  Effect.map(AzmiConfig, make),
)
