/**
 * What every command shares: the injected dependencies, the global options, and `run`, which is the
 * whole life of a command — build the core's layer, run one effect, render its result or its error,
 * set the exit code.
 * @module
 */
import type { Azmi, IdentitySelector } from "@azmi/core"
import { isAzmiError } from "@azmi/core"
import type { Command } from "commander"
import { Cause, Effect, Exit, HashMap, type Layer, Logger, LogLevel, Option } from "effect"
import { ExitCode, exitCodeOf } from "./exitCodes.js"
import { type LogEntry, makeProgress } from "./progress.js"
import { type OutputFormat, render } from "./render/index.js"
import { checkQuery } from "./render/query.js"
import { UsageError } from "./usage.js"

/** A place text goes (stdout or stderr). */
export interface Writer {
  readonly write: (text: string) => void
  readonly isTTY?: boolean | undefined
}

/** The `@azmi/emulator` module, loaded only by `azmi emulator`. */
export type EmulatorModule = typeof import("@azmi/emulator")

/** Everything the program needs from the outside world; tests pass fakes. */
export interface CliDeps {
  /** The core's services for these options (`Azmi.layer` plus the opt-in file token cache in `main.ts`). */
  readonly makeLayer: (
    options: Azmi.AzmiOptions,
    extras: { readonly cache: boolean },
  ) => Promise<Layer.Layer<Azmi.AzmiServices, unknown>>
  readonly stdout: Writer
  readonly stderr: Writer
  readonly env: Readonly<Record<string, string | undefined>>
  readonly setExitCode: (code: number) => void
  /** Loads `@azmi/emulator` (for `azmi emulator`). */
  readonly loadEmulator?: (() => Promise<EmulatorModule>) | undefined
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
}

const levelOf = (g: GlobalOptions): LogLevel.LogLevel =>
  g.debug === true
    ? LogLevel.Debug
    : g.verbose === true
      ? LogLevel.Info
      : g.onlyShowErrors === true
        ? LogLevel.Error
        : LogLevel.Warning

const text = (message: unknown): string =>
  Array.isArray(message)
    ? message.map(text).join(" ")
    : typeof message === "string"
      ? message
      : String(message)

/** The command context of a commander action (`this` or the last action argument). */
export const contextOf = (cmd: Command, deps: CliDeps): CommandContext => {
  const globals = cmd.optsWithGlobals<GlobalOptions>()
  let root: Command = cmd
  while (root.parent !== null) root = root.parent
  return {
    deps,
    globals,
    color: deps.stdout.isTTY === true && (deps.env.NO_COLOR ?? "") === "",
    outputExplicit: root.getOptionValueSource("output") === "cli",
  }
}

const fail = (ctx: CommandContext, code: number, message: string, hint?: string, detail?: string) => {
  const lines = [`ERROR: ${message}`]
  if (hint !== undefined) lines.push(`HINT: ${hint}`)
  if (detail !== undefined && ctx.globals.debug === true) lines.push(detail)
  ctx.deps.stderr.write(`${lines.join("\n")}\n`)
  ctx.deps.setExitCode(code)
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
 * Runs `effect` against the core's services and reports the outcome: result on stdout, diagnostics
 * on stderr, exit code from the table in `exitCodes.ts`.
 */
export const run = async <A>(
  ctx: CommandContext,
  effect: Effect.Effect<A, unknown, Azmi.AzmiServices>,
  options: RunOptions<A> = {},
): Promise<void> => {
  const { deps, globals } = ctx
  try {
    if (globals.query !== undefined) checkQuery(globals.query)
    const layer = await deps.makeLayer(
      {
        ...(globals.imdsEndpoint === undefined ? {} : { imdsEndpoint: globals.imdsEndpoint }),
        ...(globals.armEndpoint === undefined ? {} : { armEndpoint: globals.armEndpoint }),
        ...(globals.timeout === undefined ? {} : { deadlineMs: Math.round(globals.timeout * 1000) }),
        ...(options.identity === undefined ? {} : { identity: options.identity }),
      },
      { cache: globals.cache === true || deps.env.AZMI_TOKEN_CACHE === "1" },
    )
    const progress = makeProgress({ write: deps.stderr.write, isTTY: deps.stderr.isTTY === true })
    const minimum = levelOf(globals)
    const logger = Logger.make<unknown, void>(({ logLevel, message, annotations }) => {
      const entry: LogEntry = {
        level: logLevel.label,
        message: text(message),
        annotations: Object.fromEntries(HashMap.toEntries(annotations)),
      }
      progress.onLog(entry)
      if (LogLevel.lessThan(logLevel, minimum)) return
      progress.clear()
      const extra = Object.entries(entry.annotations)
        .map(([k, v]) => ` ${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join("")
      deps.stderr.write(`${logLevel.label}: ${entry.message}${extra}\n`)
    })
    const exit = await Effect.runPromiseExit(
      effect.pipe(
        Effect.provide(layer),
        Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
        Logger.withMinimumLogLevel(LogLevel.All),
      ),
    )
    progress.clear()
    if (Exit.isSuccess(exit)) {
      const value = exit.value
      const printed =
        options.print !== undefined
          ? options.print(value, ctx)
          : render(value, {
              format: globals.output,
              query: globals.query,
              color: ctx.color,
              tableView: options.tableView,
            })
      if (printed !== undefined && printed !== "") deps.stdout.write(printed)
      deps.setExitCode(options.exitCode?.(value) ?? ExitCode.Ok)
      return
    }
    const failure = Cause.failureOption(exit.cause)
    const pretty = Cause.pretty(exit.cause)
    if (Option.isSome(failure) && isAzmiError(failure.value)) {
      const error = failure.value
      return fail(ctx, exitCodeOf(error), error.message, error.hint, pretty)
    }
    if (Option.isSome(failure)) return failUnexpected(ctx, failure.value)
    const defect = Cause.squash(exit.cause)
    return fail(
      ctx,
      ExitCode.Unexpected,
      defect instanceof Error ? defect.message : String(defect),
      undefined,
      pretty,
    )
  } catch (error) {
    return failUnexpected(ctx, error)
  }
}
