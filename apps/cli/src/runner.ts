/**
 * The whole life of a command once parsed: build the core's layer, run one effect, render its result
 * or its error on the right stream, set the exit code. Loaded lazily (it pulls in Effect and the core).
 * @module
 */
import { errorCategory, isAzmiError } from "@azmi/core"
import { Cause, Effect, Exit, HashMap, Logger, LogLevel, Option } from "effect"
import {
  type CommandContext,
  type CommandEffect,
  fail,
  failUnexpected,
  type GlobalOptions,
  type RunOptions,
} from "./context.js"
import { ExitCode, exitCodeFor } from "./exitCodes.js"
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
      deps.stderr.write(`${logLevel.label}: ${escapeControl(`${entry.message}${extra}`)}\n`)
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
          : await render(value, {
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
      return fail(ctx, exitCodeFor(errorCategory(error)), error.message, error.hint, pretty)
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
