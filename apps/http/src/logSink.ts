/**
 * Where log lines go: stdout, batched. A line per request written the usual way costs a system call
 * per request, more than serving a cached read. Lines are encoded into a buffer as they come, and
 * the buffer is written every `intervalMs` (or sooner past 256 KiB): a line reaches the log at most
 * `intervalMs` late, and a busy server writes once per batch instead of once per request.
 *
 * The target is a stream (stdout): when stdout is a pipe or socket (journald, a container runtime,
 * a parent process), Node writes it without blocking and queues what the reader has not taken yet.
 * If the reader falls more than `maxBufferedBytes` behind, lines are dropped and counted instead of
 * queued; if it goes away (EPIPE), lines are dropped from then on. Neither stops or crashes the
 * server. (Writing fd 1 with `fs.write` instead is what not to do: Node puts a stdout pipe in
 * non-blocking mode, so a slow reader turns the write into `EAGAIN`.)
 *
 * When stdout is a regular file (`azmi-http >> access.log`), Node's `process.stdout` writes it
 * synchronously: every batch would stop the event loop for the file system's write — on a busy
 * server the largest single cost of a cached read, and unbounded when the disk is slow (the kernel
 * throttles a writer that dirties pages faster than they reach the disk). Batches go through an
 * `fs.WriteStream` instead, written by libuv's thread pool while requests are served; its queue is
 * what `maxBufferedBytes` bounds.
 * @module
 */
import { createWriteStream, fstatSync } from "node:fs"
import type { Writable } from "node:stream"

/** Something that accepts one log line (without the newline). */
export type LogSink = (line: string) => void

/** A {@link LogSink} that batches; `flush` writes what is pending, `close` also waits until it is written. */
export interface BatchedSink extends LogSink {
  readonly flush: () => void
  readonly close: () => Promise<void>
  /** Lines dropped because the reader fell more than `maxBufferedBytes` behind, or went away. */
  readonly dropped: () => number
}

// A busy server fills a batch in a few milliseconds.
const flushBytes = 64 * 1024
// Room for a batch past `flushBytes` plus one line of up to ~21 K characters (3 bytes each at most).
const capacity = 128 * 1024
// Written buffers kept for reuse: enough for the batches a slow reader has not taken yet, usually one.
const maxSpare = 4

/**
 * Where the log of this process goes: `fd` (stdout) through a thread-pool `fs.WriteStream` when it
 * is a regular file, else `fallback` (`process.stdout`: a pipe, socket or terminal, which Node writes
 * without blocking the event loop on the file system).
 */
export const logTarget = (fd = 1, fallback: () => Writable = () => process.stdout): Writable => {
  let regularFile = false
  try {
    regularFile = fstatSync(fd).isFile()
  } catch {
    // A closed or unusable fd: `fallback` reports its errors as a stream.
  }
  // The path is unused when `fd` is given; the fd is the process's, so it is never closed here.
  return regularFile ? createWriteStream("", { fd, autoClose: false }) : fallback()
}

/**
 * A sink writing to `target` (default: {@link logTarget}) in batches.
 *
 * @example
 * ```ts
 * const log = batchedSink()
 * log(JSON.stringify({ msg: "request" }))
 * await log.close()
 * ```
 */
export const batchedSink = (
  target: Writable = logTarget(),
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
  // A reader that went away (EPIPE) or a failed stream: nothing more can be written.
  let broken = false
  target.on("error", () => {
    broken = true
  })
  // Buffers the stream has written, to be filled again: a busy server would otherwise allocate a
  // 128 KiB buffer per batch, hundreds a second, which live until a major GC (the stream holds each
  // long enough to be promoted) — tens of MB of RSS after a burst.
  const spare: Array<Buffer> = []
  // Writes handed to the stream that it has not called back for yet, and who waits for none to be left.
  let unwritten = 0
  const allWritten: Array<() => void> = []
  const wroteOne = () => {
    unwritten--
    if (unwritten === 0 && allWritten.length > 0) for (const resolve of allWritten.splice(0)) resolve()
  }
  const write = (chunk: Buffer, count: number, written?: () => void) => {
    if (broken || target.destroyed || target.writableLength > maxBufferedBytes) {
      dropped += count
      written?.()
      return
    }
    unwritten++
    // Called once the chunk is written, or failed (then also `error`, which marks the sink broken).
    target.write(chunk, () => {
      written?.()
      wroteOne()
    })
  }
  const flush = () => {
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
    if (buffer === undefined || used === 0) return
    // The stream holds the chunk until it is written: the buffer is handed over, and comes back to
    // `spare` once written (a new one is taken meanwhile).
    const whole = buffer
    const chunk = whole.subarray(0, used)
    buffer = undefined
    const count = lines
    used = 0
    lines = 0
    write(chunk, count, () => {
      if (spare.length < maxSpare) spare.push(whole)
    })
  }
  const sink = (line: string) => {
    const room = line.length * 3 + 1
    if (room > capacity - used) {
      flush()
      if (room > capacity) return write(Buffer.from(`${line}\n`), 1)
    }
    buffer ??= spare.pop() ?? Buffer.allocUnsafe(capacity)
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
  // Resolves once what was logged is written, or can never be (the reader is gone). It waits for
  // the stream's callbacks, not for `drain`, which a stream emits only after it once refused a write.
  const close = () =>
    new Promise<void>((resolve) => {
      flush()
      if (unwritten === 0 || broken || target.destroyed) return resolve()
      const done = () => {
        target.off("error", done)
        target.off("close", done)
        resolve()
      }
      allWritten.push(done)
      target.on("error", done)
      target.on("close", done)
    })
  return Object.assign(sink, { flush, close, dropped: () => dropped })
}
