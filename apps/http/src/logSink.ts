/**
 * Where log lines go: stdout, batched and written off the event loop. On Linux a write to a pipe
 * (journald, a container runtime, a parent process) is a synchronous system call that blocks while
 * the reader is slow, so a line per request written the usual way can cost more than serving the
 * request. Lines are collected, joined every `intervalMs` (or sooner past 64 KiB), and handed to an
 * fs write stream on fd 1 (libuv writes it on its thread pool, in order): a line reaches the log at
 * most `intervalMs` late, and a busy server writes once per batch instead of once per request. If
 * the reader stops reading, at most
 * `maxBufferedBytes` wait in memory; beyond that lines are dropped and counted, never blocking.
 * @module
 */
import { createWriteStream } from "node:fs"
import type { Writable } from "node:stream"

/** Something that accepts one log line (without the newline). */
export type LogSink = (line: string) => void

/** A {@link LogSink} that batches; `flush` writes what is pending, `close` also waits until it is written. */
export interface BatchedSink extends LogSink {
  readonly flush: () => void
  readonly close: () => Promise<void>
  /** Lines dropped because the reader fell more than `maxBufferedBytes` behind. */
  readonly dropped: () => number
}

const flushBytes = 64 * 1024

/**
 * A sink writing to `target` (default: stdout) in batches.
 *
 * @example
 * ```ts
 * const log = batchedSink()
 * log(JSON.stringify({ msg: "request" }))
 * await log.close()
 * ```
 */
export const batchedSink = (
  target: Writable = createWriteStream("", { fd: 1, autoClose: false }),
  maxBufferedBytes = 8 * 1024 * 1024,
  intervalMs = 25,
): BatchedSink => {
  let pending: Array<string> = []
  let pendingBytes = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  let dropped = 0
  const flush = () => {
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
    if (pending.length === 0) return
    const chunk = `${pending.join("\n")}\n`
    pending = []
    pendingBytes = 0
    if (target.writableLength > maxBufferedBytes) {
      dropped += chunk.split("\n").length - 1
      return
    }
    target.write(chunk)
  }
  const sink = (line: string) => {
    pending.push(line)
    pendingBytes += line.length + 1
    if (pendingBytes >= flushBytes) flush()
    else if (timer === undefined) {
      timer = setTimeout(flush, intervalMs)
      // Pending log lines alone do not keep the process alive; shutdown calls `close`.
      timer.unref()
    }
  }
  const close = () =>
    new Promise<void>((resolve) => {
      flush()
      if (target.writableLength === 0) return resolve()
      target.once("drain", () => resolve())
    })
  return Object.assign(sink, { flush, close, dropped: () => dropped })
}
