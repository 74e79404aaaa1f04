/**
 * How a failed `startEmulator` ends a command line: the one place that decides, used by `azmi-emulator` and
 * by `azmi emulator` alike, so the two cannot disagree.
 *
 * - exit 2: what the user asked for cannot work — an invalid or unreadable world/state file, a state file whose
 *   directory does not exist, a state file another emulator holds, an empty host, a port out of range, a host
 *   source that cannot be set up (an unknown `--source`, Arc's key directory not writable);
 * - exit 1: anything else (a port in use, a host that cannot be bound, an I/O error).
 *
 * @example
 * ```ts
 * try {
 *   emu = await startEmulator(options)
 * } catch (e) {
 *   const failure = startFailure(e)
 *   process.stderr.write(`azmi-emulator: ${failure.message}\n`)
 *   process.exitCode = failure.exitCode
 * }
 * ```
 * @module
 */
import { HostSetupError } from "./hosts/host.js"
import { InvalidStartOptions } from "./startOptions.js"
import { StateFileError } from "./world/stateFileError.js"
import { WorldValidationError } from "./world/validate.js"

export interface StartFailure {
  /** 2: bad input (world/state file); 1: any other start-up failure. */
  readonly exitCode: 1 | 2
  /** One line (a world file's issues follow on their own lines), no stack trace. */
  readonly message: string
}

/** The exit code and message for an error `startEmulator` threw. */
export const startFailure = (error: unknown): StartFailure => {
  if (
    error instanceof WorldValidationError ||
    error instanceof StateFileError ||
    error instanceof InvalidStartOptions ||
    error instanceof HostSetupError
  )
    return { exitCode: 2, message: error.message }
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  const text = error instanceof Error ? error.message : String(error)
  return {
    exitCode: 1,
    message: `could not start: ${text}${typeof code === "string" && !text.includes(code) ? ` (${code})` : ""}`,
  }
}
