/**
 * What every command shares: the injected dependencies and the global options. Kept free of runtime
 * imports of Effect and the core so `azmi --help` loads neither (see `runner.ts` for running).
 * @module
 */
import type { Azmi, IdentitySelector, InvalidConfiguration } from "@azmi/core"
import type { Command } from "commander"
import type { Effect, Layer } from "effect"
import { ExitCode } from "./exitCodes.js"
import type { CliError } from "./failure.js"
import type { PartialFailure } from "./partial.js"
import { escapeControl } from "./render/escape.js"
import type { OutputFormat } from "./render/formats.js"
import { UsageError } from "./usage.js"

/** A place text goes (stdout or stderr). */
export interface Writer {
  readonly write: (text: string) => void
  readonly isTTY?: boolean | undefined
  /**
   * Resolves once every write so far has settled, with the first failure that is not EPIPE, once (see
   * `output.ts`); absent for writers that cannot fail (tests' strings).
   */
  readonly flush?: (() => Promise<NodeJS.ErrnoException | undefined>) | undefined
}

/** The `@azmi/emulator` module, loaded only by `azmi emulator`. */
export type EmulatorModule = typeof import("@azmi/emulator")

/** The options the CLI builds the core's services with (`coreOptions.ts`; a subset of `Azmi.AzmiOptions`). */
export type LayerOptions = Pick<Azmi.AzmiOptions, "flags" | "deadlineMs" | "identity" | "identitySetBy">

/** The process a command runs in: its streams, environment and exit code. */
export interface Shell {
  readonly stdout: Writer
  readonly stderr: Writer
  readonly env: Readonly<Record<string, string | undefined>>
  readonly setExitCode: (code: number) => void
}

/** Everything the program needs from the outside world; tests pass fakes. */
export interface CliDeps extends Shell {
  /**
   * The core's services for these options (`Azmi.layer` plus the opt-in file token cache in `main.ts`);
   * building them fails only on a configuration the core refuses.
   */
  readonly makeLayer: (
    options: LayerOptions,
    extras: { readonly cache: boolean },
  ) => Promise<Layer.Layer<Azmi.AzmiServicesWithHost, InvalidConfiguration>>
  /** Loads `@azmi/emulator` (for `azmi emulator`). */
  readonly loadEmulator?: (() => Promise<EmulatorModule>) | undefined
  /**
   * `azmi emulator run`: hands its arguments, untouched, to the emulator's `runCommand` (which starts this
   * program again as `azmi emulator run` inside the namespaces); resolves with the exit status.
   */
  readonly runEmulator?: ((args: ReadonlyArray<string>) => Promise<number>) | undefined
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM). */
  readonly waitForShutdown?: (() => Promise<void>) | undefined
}

/** The options every command accepts. */
export interface GlobalOptions {
  readonly imdsEndpoint?: string | undefined
  readonly armEndpoint?: string | undefined
  readonly output: OutputFormat
  readonly query?: string | undefined
  readonly verbose?: boolean | undefined
  readonly debug?: boolean | undefined
  readonly onlyShowErrors?: boolean | undefined
  readonly timeout?: number | undefined
  readonly cache?: boolean | undefined
}

/** How one command runs. */
export interface RunOptions<A> {
  /** Identity chosen on the command line (token, doctor). */
  readonly identity?: IdentitySelector | undefined
  /** The `-o table` shape of the result. */
  readonly tableView?: ((value: unknown) => unknown) | undefined
  /** Print the result yourself instead of rendering it (doctor's ✔/✖ lines). */
  readonly print?: ((value: A, ctx: CommandContext) => string | undefined) | undefined
  /** A non-zero exit code for a successful result (doctor's failed checks). */
  readonly exitCode?: ((value: A) => number) | undefined
}

export interface CommandContext {
  readonly deps: CliDeps
  readonly globals: GlobalOptions
  /** ANSI colour allowed on stdout. */
  readonly color: boolean
  /** Whether `-o` was given explicitly (rather than defaulted). */
  readonly outputExplicit: boolean
  /** Whether this command takes `--client-id | --object-id | --mi-res-id` (so hints may name them). */
  readonly identityFlags: boolean
}

/** ANSI colour on stdout: a terminal, and no `NO_COLOR`. */
export const colorAllowed = (shell: Pick<Shell, "stdout" | "env">): boolean =>
  shell.stdout.isTTY === true && (shell.env.NO_COLOR ?? "") === ""

/** What reporting a failure needs of a command: where to write, and whether `--debug` is on. */
export interface Reporting {
  readonly deps: Shell
  readonly globals: Pick<GlobalOptions, "debug">
}

/** The command context of a commander action (`this` or the last action argument). */
export const contextOf = (cmd: Command, deps: CliDeps): CommandContext => {
  const globals = cmd.optsWithGlobals<GlobalOptions>()
  let root: Command = cmd
  while (root.parent !== null) root = root.parent
  return {
    deps,
    globals,
    color: colorAllowed(deps),
    outputExplicit: root.getOptionValueSource("output") === "cli",
    identityFlags: cmd.options.some((o) => o.long === "--client-id"),
  }
}

/**
 * Reports a failure on stderr and sets the exit code. Messages quote what Azure and the user sent, so
 * control characters are escaped: an error line can neither drive the terminal nor forge another line.
 */
export const fail = (ctx: Reporting, code: number, message: string, hint?: string, detail?: string) => {
  const lines = [`ERROR: ${escapeControl(message)}`]
  if (hint !== undefined) lines.push(`HINT: ${escapeControl(hint)}`)
  if (detail !== undefined && ctx.globals.debug === true) lines.push(escapeControl(detail, "document"))
  ctx.deps.stderr.write(`${lines.join("\n")}\n`)
  ctx.deps.setExitCode(code)
}

/**
 * After a command: when its output could not be written (a full disk, an I/O error — not a reader that
 * went away), says so and fails the command with exit 1, unless it already failed with its own code.
 * `currentCode` is the exit code the command set.
 */
export const checkOutput = async (ctx: Reporting, currentCode: number | undefined): Promise<boolean> => {
  const failure = await ctx.deps.stdout.flush?.()
  if (failure === undefined) return true
  fail(
    ctx,
    currentCode === undefined || currentCode === ExitCode.Ok ? ExitCode.Unexpected : currentCode,
    `Could not write the output to stdout: ${failure.message}`,
  )
  return false
}

/** Reports an unexpected exception (a bug or an environment problem) as exit code 1. */
export const failUnexpected = (ctx: CommandContext, error: unknown) =>
  error instanceof UsageError
    ? fail(ctx, ExitCode.Usage, error.message)
    : fail(
        ctx,
        ExitCode.Unexpected,
        error instanceof Error ? error.message : String(error),
        undefined,
        error instanceof Error ? error.stack : undefined,
      )

/**
 * The effect type commands hand to the runner: it fails with one of the core's errors or a usage error
 * (`failure.ts` maps each to its exit code), or with a {@link PartialFailure} that wraps one of them.
 */
export type CommandEffect<A> = Effect.Effect<A, CliError | PartialFailure<A>, Azmi.AzmiServicesWithHost>
