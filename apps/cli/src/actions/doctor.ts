/**
 * `azmi doctor`: opens with the Azure host the core detected (and the variables that decided it) and that
 * host's own checks (workload identity: the federated token file; Arc: the key directory; Service
 * Fabric: the pinned certificate), then walks the seed's path one step at a time — IMDS (where the host has one),
 * identity, token, ARM, read access — and prints each check with ✔/✖ and, for a failure, the fix (on a
 * 403: the exact `azmi role assignment create …` command).
 * @module
 */
import {
  type AzmiError,
  AzureHost,
  type ComputeMetadata,
  type HostCheck,
  InstanceMetadata,
  ResourceGroups,
  TokenProvider,
} from "@azmi/core"
import { Effect, Either, Redacted } from "effect"
import type { CommandContext } from "../context.js"
import { ExitCode, exitCodeFor } from "../exitCodes.js"
import { exitCodeOf } from "../failure.js"
import { hintFor } from "../hints.js"
import type { IdentityFlags } from "../identity.js"
import { decodeJwt } from "../jwt.js"
import { escapeControl } from "../render/escape.js"
import { run } from "../runner.js"
import { defaultResource } from "../tokenOutput.js"
import { groupScope } from "./defaults.js"
import { selectorOf } from "./identity.js"

/** The options of `doctor`. */
export interface DoctorFlags extends IdentityFlags {
  readonly name?: string
  readonly subscription?: string
}

/** One line of the report. */
export interface Check {
  readonly check: string
  readonly ok: boolean
  readonly detail: string
  readonly fix?: string | undefined
  /** The exit code this failure maps to. */
  readonly exitCode?: number | undefined
  /** Not run (nothing failed; the check had nothing to check). */
  readonly skipped?: boolean | undefined
}

const pass = (check: string, detail: string): Check => ({ check, ok: true, detail })

/** A host check as a line of the report (a typed error's fix and exit code as for any command). */
const fromHost = (ctx: CommandContext, c: HostCheck): Check =>
  c.ok
    ? pass(c.check, c.detail)
    : c.error !== undefined
      ? failed(ctx, c.check, c.error)
      : {
          check: c.check,
          ok: false,
          detail: c.detail,
          fix: c.fix,
          exitCode: exitCodeFor(c.category ?? "CredentialUnavailable"),
        }

/** `Azure Arc (IDENTITY_ENDPOINT, IMDS_ENDPOINT)`, or IMDS's default. */
const hostLine = (host: AzureHost["Type"]) =>
  host.decidedBy.length === 0
    ? `${host.displayName} at ${host.endpoint} (no other host's variables are set)`
    : `${host.displayName} at ${host.endpoint}, decided by ${host.decidedBy.join(", ")}`

const failed = (ctx: CommandContext, check: string, error: AzmiError, fix?: string): Check => ({
  check,
  ok: false,
  detail: error.message,
  fix: fix ?? hintFor(error, ctx),
  exitCode: exitCodeOf(error),
})

const str = (v: unknown) => (typeof v === "string" ? v : v === undefined ? "?" : JSON.stringify(v))

/** The checks, in order; stops at the first failure that makes the rest meaningless. */
export const diagnose = (ctx: CommandContext, flags: DoctorFlags, resource: string) =>
  Effect.gen(function* () {
    const checks: Array<Check> = []
    const host = yield* AzureHost
    checks.push(pass("Host", hostLine(host)))
    for (const hostCheck of yield* host.checks) {
      checks.push(fromHost(ctx, hostCheck))
      if (!hostCheck.ok) return checks
    }
    let c: ComputeMetadata | undefined
    if (host.hasImds) {
      const metadata = yield* InstanceMetadata
      const compute = yield* Effect.either(metadata.compute)
      if (Either.isLeft(compute)) {
        checks.push(failed(ctx, "IMDS reachable", compute.left))
        return checks
      }
      c = compute.right
      checks.push(
        pass(
          "IMDS reachable",
          `VM ${c.name} in resource group ${c.resourceGroupName} (${c.location}), subscription ${c.subscriptionId}`,
        ),
      )
    }

    const tp = yield* TokenProvider
    const token = yield* Effect.either(tp.getToken(resource))
    if (Either.isLeft(token)) {
      const e = token.left
      const noIdentity = e._tag === "IdentityNotFound" || e._tag === "MultipleIdentities"
      checks.push(
        noIdentity
          ? failed(ctx, "Managed identity present", e)
          : pass("Managed identity present", tp.description),
      )
      if (!noIdentity) checks.push(failed(ctx, "Token obtainable", e))
      return checks
    }
    const claims = decodeJwt(Redacted.value(token.right.token))?.claims ?? {}
    const appId = claims.appid ?? token.right.clientId
    checks.push(
      pass(
        "Managed identity present",
        `${tp.description}${appId === undefined ? "" : `, client id ${str(appId)}`}`,
      ),
    )
    const exp = typeof claims.exp === "number" ? claims.exp * 1000 : token.right.expiresOn
    const minutes = Math.round((exp - Date.now()) / 60_000)
    checks.push(
      pass(
        "Token obtainable",
        `aud ${str(claims.aud ?? token.right.resource)}, oid ${str(claims.oid)}, expires ${new Date(exp).toISOString()} (in ${minutes} min)`,
      ),
    )

    const subscriptionId = flags.subscription ?? c?.subscriptionId
    const group = flags.name ?? c?.resourceGroupName
    if (subscriptionId === undefined || group === undefined) {
      checks.push({
        check: "Read access to a resource group",
        ok: true,
        skipped: true,
        detail: `not checked: ${host.displayName} has no instance metadata to name one; pass --subscription and --name`,
      })
      return checks
    }
    const scope = groupScope(subscriptionId, group)
    const rgs = yield* ResourceGroups
    const read = yield* Effect.either(rgs.get(subscriptionId, group))
    if (Either.isRight(read)) {
      checks.push(pass("ARM reachable", "ARM answered"))
      checks.push(
        pass(
          `Read access to resource group ${group}`,
          `${read.right.value.id} (${read.right.value.location})`,
        ),
      )
      return checks
    }
    const e = read.left
    if (e._tag === "ArmUnreachable" || e._tag === "Timeout") {
      checks.push(failed(ctx, "ARM reachable", e))
      return checks
    }
    checks.push(pass("ARM reachable", "ARM answered"))
    const fix =
      e._tag === "AuthorizationFailed"
        ? (e.hint ??
          `Grant access: azmi role assignment create --assignee-object-id ${str(claims.oid)} --role Reader --scope ${scope}`)
        : undefined
    checks.push(failed(ctx, `Read access to resource group ${group}`, e, fix))
    return checks
  })

/** The ✔/✖ report. */
export const formatChecks = (checks: ReadonlyArray<Check>, color: boolean): string => {
  const paint = (code: string, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s)
  return checks
    .map((c) => {
      const mark = c.skipped === true ? paint("33", "-") : c.ok ? paint("32", "✔") : paint("31", "✖")
      // Details quote IMDS and ARM (VM names, error messages): escaped like every other output.
      const fix = c.fix === undefined ? "" : `\n    fix: ${escapeControl(c.fix)}`
      return `${mark} ${escapeControl(c.check)}: ${escapeControl(c.detail)}${fix}\n`
    })
    .join("")
}

export const doctor = (ctx: CommandContext, flags: DoctorFlags) =>
  run(ctx, diagnose(ctx, flags, defaultResource(ctx.deps.env)), {
    identity: selectorOf(flags),
    print: ctx.outputExplicit ? undefined : (checks) => formatChecks(checks, ctx.color),
    exitCode: (checks) => checks.find((c) => !c.ok)?.exitCode ?? ExitCode.Ok,
  })
