/**
 * The exit codes of `azmi`, the same for every command (documented in docs/cli.md).
 * The mapping from errors goes through the core's `errorCategory`, so the CLI and the HTTP app agree.
 * @module
 */
import { type AzmiError, type ErrorCategory, errorCategory } from "@azmi/core"

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
 * The exit code for one of azmi's typed errors.
 *
 * @example
 * ```ts
 * exitCodeOf(new ResourceGroupNotFound({ subscriptionId: "…", resourceGroupName: "x" })) // 5
 * ```
 */
export const exitCodeOf = (error: AzmiError): ExitCode => byCategory[errorCategory(error)]
