/**
 * What a command can fail with, and the exit code of each failure: the core's errors (through the
 * core's `errorCategory`) and the CLI's own usage errors. Exhaustive: a failure this does not map does
 * not compile. (Loads the core's classification, so only the runner and the actions import it.)
 * @module
 */
import { type AzmiError, errorCategory } from "@azmi/core"
import { ExitCode, exitCodeFor } from "./exitCodes.js"
import type { UsageError } from "./usage.js"

/** Every failure a command's effect may have. */
export type CliError = AzmiError | UsageError

/**
 * The exit code for `error`.
 *
 * @example
 * ```ts
 * exitCodeOf(new UsageError("Name what to delete")) // 2
 * exitCodeOf(new ResourceGroupNotFound({ subscriptionId: "…", resourceGroupName: "x" })) // 5
 * ```
 */
export const exitCodeOf = (error: CliError): ExitCode =>
  error._tag === "UsageError" ? ExitCode.Usage : exitCodeFor(errorCategory(error))
