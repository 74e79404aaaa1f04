/**
 * `createProgram(deps)`: the whole `azmi` command tree over injected dependencies, and `runCli`,
 * which parses a command line and turns commander's own errors into exit code 2.
 *
 * @example
 * ```ts
 * const program = createProgram(deps)
 * await program.parseAsync(["group", "show", "-o", "table"], { from: "user" })
 * ```
 * @module
 */
import { Command, CommanderError, Option } from "commander"
import { registerCompletion } from "./commands/completion.js"
import { registerDoctor } from "./commands/doctor.js"
import { registerEmulator } from "./commands/emulator.js"
import { addExamples } from "./commands/examples.js"
import { registerGroup } from "./commands/group.js"
import { registerInstance } from "./commands/instance.js"
import { parseSeconds } from "./commands/parsers.js"
import { registerRole } from "./commands/role.js"
import { registerToken } from "./commands/token.js"
import { type CliDeps, checkOutput, contextOf, failUnexpected } from "./context.js"
import { ExitCode } from "./exitCodes.js"
import { defaultOutput, outputFormats } from "./render/formats.js"

declare const __AZMI_VERSION__: string | undefined

/** The version baked in by the bundler. */
export const version = typeof __AZMI_VERSION__ === "string" ? __AZMI_VERSION__ : "0.0.0-dev"

/** The `azmi` program; `exitOverride()` is on, so commander throws instead of exiting. */
export const createProgram = (deps: CliDeps): Command => {
  const program = new Command("azmi")
    .description(
      "Azure managed identity from the terminal: tokens, resource groups, role assignments, doctor.",
    )
    .version(version, "-V, --version")
    .configureOutput({ writeOut: (s) => deps.stdout.write(s), writeErr: (s) => deps.stderr.write(s) })
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .addOption(new Option("--imds-endpoint <url>", "IMDS base URL (env AZMI_IMDS_ENDPOINT)"))
    .addOption(new Option("--arm-endpoint <url>", "ARM base URL (env AZMI_ARM_ENDPOINT)"))
    .addOption(
      new Option("-o, --output <format>", "output format")
        .choices(outputFormats)
        .default(defaultOutput(deps.env)),
    )
    .option("--query <jmespath>", "JMESPath query applied to the result")
    .option("--verbose", "log what azmi does on stderr")
    .option("--debug", "log requests and responses on stderr (tokens redacted); stack traces on errors")
    .option("--only-show-errors", "only errors on stderr, no warnings")
    .option("--timeout <seconds>", "deadline for the whole command, retries included", parseSeconds)
    .option("--cache", "share tokens between azmi processes through a file cache (env AZMI_TOKEN_CACHE=1)")
    .showHelpAfterError("(run with --help for usage)")

  registerToken(program, deps)
  registerGroup(program, deps)
  registerRole(program, deps)
  registerInstance(program, deps)
  registerDoctor(program, deps)
  registerEmulator(program, deps)
  registerCompletion(program, deps)
  addExamples(program)
  return program
}

/**
 * Parses and runs one command line; usage errors (unknown option, missing value…) exit with 2,
 * `--help` and `--version` with 0.
 */
export const runCli = async (argv: ReadonlyArray<string>, deps: CliDeps): Promise<void> => {
  let code: number | undefined
  const tracked: CliDeps = {
    ...deps,
    setExitCode: (c) => {
      code = c
      deps.setExitCode(c)
    },
  }
  const program = createProgram(tracked)
  try {
    await program.parseAsync([...argv], { from: "user" })
  } catch (error) {
    if (error instanceof CommanderError)
      tracked.setExitCode(error.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage)
    else failUnexpected(contextOf(program, tracked), error)
  }
  // Every command's output, --help, --version and completion scripts included: written, or reported.
  await checkOutput(contextOf(program, tracked), code)
}
