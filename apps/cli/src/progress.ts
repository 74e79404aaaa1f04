/**
 * The progress line: while the core waits before a retry (an IMDS 410 can mean 70 s of waiting), an
 * interactive terminal shows one line on stderr saying what azmi waits for and for how long. It is fed
 * from the core's log messages and prints nothing at all when stderr is not a TTY.
 * @module
 */
import { escapeControl } from "./render/escape.js"

/** One log entry as the CLI's logger sees it. */
export interface LogEntry {
  readonly level: string
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
}

/** A retry wait recognised in a log entry. */
export interface RetryWait {
  /** What is being waited for, e.g. the log message itself. */
  readonly what: string
  /** How long this wait lasts, in milliseconds, when the core said. */
  readonly waitMs?: number | undefined
}

const waitKeys = ["retryInMs", "delayMs", "waitMs", "retryAfterMs", "backoffMs"]

// Core messages such as "IMDS answered 410; retrying in 10 s (attempt 2 of 8)".
const waitText = /\b(?:retry(?:ing)?|wait(?:ing)?)\b[^\d]{0,20}?(\d+(?:\.\d+)?)\s*(ms|s|seconds?)\b/i

/**
 * Recognises the core's "waiting before retry" log entries; `undefined` for every other entry.
 *
 * @example
 * ```ts
 * retryWaitOf({ level: "INFO", message: "IMDS answered 410; retrying in 10 s", annotations: {} })?.waitMs // 10000
 * ```
 */
export const retryWaitOf = (entry: LogEntry): RetryWait | undefined => {
  for (const key of waitKeys) {
    const v = entry.annotations[key]
    const n = typeof v === "number" ? v : typeof v === "string" ? Number(v) : Number.NaN
    if (Number.isFinite(n)) return { what: entry.message, waitMs: n }
  }
  const m = waitText.exec(entry.message)
  if (m === null) return undefined
  const amount = Number(m[1])
  return { what: entry.message, waitMs: m[2]?.toLowerCase() === "ms" ? amount : amount * 1000 }
}

/** Where the progress line goes. */
export interface ProgressSink {
  readonly write: (text: string) => void
  /** Only a TTY gets a progress line. */
  readonly isTTY: boolean
}

export interface Progress {
  /** Feed every log entry; retry waits update the line. */
  readonly onLog: (entry: LogEntry) => void
  /** Erase the line (before other stderr output, and at the end). */
  readonly clear: () => void
}

const formatSeconds = (ms: number) =>
  ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`

/**
 * A progress line on `sink`; a no-op when `sink` is not a TTY.
 *
 * @example
 * ```ts
 * const progress = makeProgress({ write: (s) => process.stderr.write(s), isTTY: process.stderr.isTTY === true })
 * ```
 */
export const makeProgress = (sink: ProgressSink, now: () => number = Date.now): Progress => {
  if (!sink.isTTY) return { onLog: () => {}, clear: () => {} }
  let shown = false
  let startedAt: number | undefined
  return {
    onLog: (entry) => {
      const wait = retryWaitOf(entry)
      if (wait === undefined) return
      startedAt ??= now()
      const waited = now() - startedAt
      const what = escapeControl(wait.what).replace(/[;,]?\s*retrying in [\d.]+\s*m?s\b/i, "")
      const next = wait.waitMs === undefined ? "" : `next attempt in ${formatSeconds(wait.waitMs)}, `
      const budget = /\b410\b/.test(wait.what) ? "; IMDS says it is back within 70 s" : ""
      sink.write(`\r\x1b[K… ${what}: ${next}waited ${formatSeconds(waited)} so far${budget}`)
      shown = true
    },
    clear: () => {
      if (shown) sink.write("\r\x1b[K")
      shown = false
    },
  }
}
