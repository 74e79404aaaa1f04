/**
 * Where log lines go: stdout, batched and written off the event loop. On Linux a write to a pipe
 * (journald, a container runtime, a parent process) is a synchronous system call that blocks while
 * the reader is slow, so a line per request written the usual way can cost more than serving the
 * request. Lines are encoded into a buffer as they come, and the buffer is handed every `intervalMs`
 * (or sooner past 64 KiB) to an fs write stream on fd 1 (libuv writes it on its thread pool, in
 * order): a line reaches the log at most `intervalMs` late, and a busy server writes once per batch
 * instead of once per request. If the reader stops reading, at most `maxBufferedBytes` wait in
 * memory; beyond that lines are dropped and counted, never blocking.
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
// Room for a batch past `flushBytes` plus one line of up to ~21 K characters (3 bytes each at most).
const capacity = 128 * 1024

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
  // Each line is encoded into `buffer` when it is logged: encoding one line costs a third of what
  // joining the batch and encoding the joined string does, and the line's string dies young.
  let buffer: Buffer | undefined
  let used = 0
  let lines = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  let dropped = 0
  const write = (chunk: Buffer, count: number) => {
    if (target.writableLength > maxBufferedBytes) dropped += count
    else target.write(chunk)
  }
  const flush = () => {
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
    if (buffer === undefined || used === 0) return
    // The stream holds the chunk until it is written: a full buffer is handed over (and a new one
    // taken next time), a small batch is copied so the buffer is reused.
    let chunk: Buffer
    if (used >= capacity / 4) {
      chunk = buffer.subarray(0, used)
      buffer = undefined
    } else chunk = Buffer.from(buffer.subarray(0, used))
    const count = lines
    used = 0
    lines = 0
    write(chunk, count)
  }
  const sink = (line: string) => {
    const room = line.length * 3 + 1
    if (room > capacity - used) {
      flush()
      if (room > capacity) return write(Buffer.from(`${line}\n`), 1)
    }
    buffer ??= Buffer.allocUnsafe(capacity)
    used += buffer.write(line, used, "utf8")
    buffer[used++] = 10
    lines++
    if (used >= flushBytes) flush()
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
