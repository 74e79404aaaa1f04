/**
 * The exit codes of `azmi`, the same for every command (documented in the README). Errors map through
 * the core's `errorCategory` (the coarse form of its `errorKind`, which azmi-http's statuses come from),
 * so the CLI and the HTTP app cannot disagree about what a failure is: a CLI user is the caller, the
 * configuration's author and the operator at once, so one code per category is enough.
 * @module
 */
import type { ErrorCategory } from "@azmi/core"

/** Every exit code `azmi` uses. */
export const ExitCode = {
  Ok: 0,
  Unexpected: 1,
  Usage: 2,
  CredentialUnavailable: 3,
  AuthenticationFailed: 4,
  NotFound: 5,
  Transient: 6,
} as const

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

const byCategory: Record<ErrorCategory, ExitCode> = {
  InvalidInput: ExitCode.Usage,
  CredentialUnavailable: ExitCode.CredentialUnavailable,
  AuthenticationFailed: ExitCode.AuthenticationFailed,
  NotFound: ExitCode.NotFound,
  Throttled: ExitCode.Transient,
  Transient: ExitCode.Transient,
}

/**
 * The exit code for an error category (from the core's `errorCategory`).
 *
 * @example
 * ```ts
 * exitCodeFor(errorCategory(new ResourceGroupNotFound({ subscriptionId: "…", resourceGroupName: "x" }))) // 5
 * ```
 */
export const exitCodeFor = (category: ErrorCategory): ExitCode => byCategory[category]
