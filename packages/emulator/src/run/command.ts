/**
 * `azmi-emulator run [--source S] [--no-imds] [--world F] [--state F] [--log F] -- COMMAND [ARGS…]`: COMMAND on a
 * simulated Azure VM. The same entry serves both sides: the caller's (`outside.ts`) and, when started again with
 * the internal flag, the namespace's (`namespace.ts`). `azmi emulator run` passes its arguments straight here.
 * @module
 */
import { WorldValidationError } from "../world/validate.js"
import { INSIDE_FLAG, runInside } from "./namespace.js"
import { parseRunArgs, RUN_USAGE, RunUsageError } from "./options.js"
import { type RunEntry, runOutside } from "./outside.js"
import { RunUnavailableError } from "./prerequisites.js"

export type { RunEntry }

/**
 * Runs `run`'s command line; resolves with the exit status: COMMAND's (128+N for signal N), 2 for bad options,
 * an invalid world file or a machine that cannot make the namespaces, 1 when the VM could not be built.
 *
 * @example
 * ```ts
 * // In a program's entry point; `entry` is how to start that same program again, up to `run`.
 * process.exitCode = await runCommand(process.argv.slice(3), { entry: [process.argv[1], "run"] })
 * ```
 */
export const runCommand = async (argv: ReadonlyArray<string>, self: RunEntry): Promise<number> => {
  if (argv.length === 1 && argv[0] === INSIDE_FLAG) return runInside()
  const fail = (message: string, usage = false) => {
    process.stderr.write(`azmi-emulator run: ${message}\n${usage ? `\n${RUN_USAGE}` : ""}`)
    return 2
  }
  let parsed: ReturnType<typeof parseRunArgs>
  try {
    parsed = parseRunArgs(argv)
  } catch (error) {
    if (error instanceof RunUsageError) return fail(error.message, true)
    throw error
  }
  if ("help" in parsed) {
    process.stdout.write(RUN_USAGE)
    return 0
  }
  try {
    return await runOutside(parsed, self)
  } catch (error) {
    if (error instanceof RunUnavailableError || error instanceof WorldValidationError)
      return fail(error.message)
    throw error
  }
}
