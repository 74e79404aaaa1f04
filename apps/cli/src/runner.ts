/**
 * The whole life of a command once parsed: build the core's layer, run one effect, render its result
 * or its error on the right stream, set the exit code. Loaded lazily (it pulls in Effect and the core).
 * @module
 */
import { Timeout } from "@azmi/core"
import { Cause, Duration, Effect, Exit, HashMap, Logger, LogLevel, Option } from "effect"
import {
  type CommandContext,
  type CommandEffect,
  fail,
  failUnexpected,
  type GlobalOptions,
  type RunOptions,
} from "./context.js"
import { cacheWanted, layerOptions } from "./coreOptions.js"
import { ExitCode } from "./exitCodes.js"
import { type CliError, exitCodeOf } from "./failure.js"
import { hintFor } from "./hints.js"
import { type LogEntry, makeProgress } from "./progress.js"
import { escapeControl } from "./render/escape.js"
import { render } from "./render/index.js"

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

/** A failure in the error channel: its message, its exit code and (for the core's errors) its hint. */
const report = (ctx: CommandContext, error: CliError, pretty: string) =>
  fail(
    ctx,
    exitCodeOf(error),
    error.message,
    error._tag === "UsageError" ? undefined : hintFor(error, ctx),
    pretty,
  )

/**
 * Runs `effect` against the core's services and reports the outcome: result on stdout, diagnostics
 * on stderr, exit code from the table in `exitCodes.ts`.
 */
export const run = async <A>(
  ctx: CommandContext,
  effect: CommandEffect<A>,
  options: RunOptions<A> = {},
): Promise<void> => {
  const { deps, globals } = ctx
  try {
    if (globals.query !== undefined) (await import("./render/query.js")).checkQuery(globals.query)
    const coreOptions = layerOptions(globals, options.identity)
    const { deadlineMs } = coreOptions
    const layer = await deps.makeLayer(coreOptions, { cache: cacheWanted(globals, deps.env) })
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
      deps.stderr.write(`${logLevel.label}: ${escapeControl(`${entry.message}${extra}`)}\n`)
    })
    // --timeout bounds the whole command — every request, retry, wait and the token cache, and building
    // the core's services — not only each request (the core's deadline is per request).
    const exit = await Effect.runPromiseExit(
      effect.pipe(
        Effect.provide(layer),
        (e) =>
          deadlineMs === undefined
            ? e
            : Effect.timeoutFail(e, {
                duration: Duration.millis(deadlineMs),
                onTimeout: () => new Timeout({ operation: "The command", millis: deadlineMs }),
              }),
        Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
        Logger.withMinimumLogLevel(LogLevel.All),
      ),
    )
    progress.clear()
    const print = async (value: A) => {
      const printed =
        options.print !== undefined
          ? options.print(value, ctx)
          : await render(value, {
              format: globals.output,
              query: globals.query,
              color: ctx.color,
              tableView: options.tableView,
            })
      if (printed !== undefined && printed !== "") deps.stdout.write(printed)
    }
    if (Exit.isSuccess(exit)) {
      await print(exit.value)
      deps.setExitCode(options.exitCode?.(exit.value) ?? ExitCode.Ok)
      return
    }
    const pretty = Cause.pretty(exit.cause)
    const failure = Cause.failureOption(exit.cause)
    if (Option.isSome(failure)) {
      const error = failure.value
      if (error._tag !== "PartialFailure") return report(ctx, error, pretty)
      // Part of the work was done: show it, then the failure with its own code, then where it stopped.
      await print(error.done)
      report(ctx, error.error, pretty)
      deps.stderr.write(`NOTE: ${escapeControl(error.note)}\n`)
      return
    }
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
