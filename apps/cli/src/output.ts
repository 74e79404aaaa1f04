/**
 * stdout as the CLI writes it: a reader that went away (EPIPE, `azmi … | head -1`) is its own choice and
 * quiet — output is dropped from then on — while any other write failure (a full disk, an I/O error,
 * `> /dev/full`) is remembered, so the command is reported as failed instead of "succeeding" with output
 * that never arrived. Write errors surface asynchronously (a callback, an `error` event), so a command's
 * outcome is known only after {@link FlushableWriter.flush}.
 * @module
 */
import type { Writer } from "./context.js"

/** The stream behind a {@link FlushableWriter} (`process.stdout`, or a test's `Writable`). */
export interface OutputStream {
  readonly write: (chunk: string, callback: (error?: Error | null) => void) => boolean
  readonly on: (event: "error", listener: (error: Error) => void) => unknown
  readonly isTTY?: boolean | undefined
}

/** A {@link Writer} that can tell, once its writes have settled, whether they all arrived. */
export interface FlushableWriter extends Writer {
  /**
   * Resolves when every write so far has settled: the first failure other than EPIPE, else `undefined`.
   * A failure is handed out once (whoever flushes reports it); later flushes resolve `undefined`.
   */
  readonly flush: () => Promise<NodeJS.ErrnoException | undefined>
}

/**
 * Wraps `stream` (e.g. `process.stdout`).
 *
 * @example
 * ```ts
 * const stdout = makeOutput(process.stdout)
 * stdout.write("hello\n")
 * const failure = await stdout.flush() // ENOSPC with `> /dev/full`
 * ```
 */
export const makeOutput = (stream: OutputStream): FlushableWriter => {
  let readerGone = false
  let failure: NodeJS.ErrnoException | undefined
  let reported = false
  let settled: Promise<void> = Promise.resolve()
  const note = (error: Error | null | undefined) => {
    if (error === null || error === undefined) return
    const code = (error as NodeJS.ErrnoException).code
    if (code === "EPIPE") readerGone = true
    // Writes after the first failure fail with ERR_STREAM_DESTROYED: the first error is the cause.
    else failure ??= error as NodeJS.ErrnoException
  }
  // Without a listener, an `error` event is an uncaught exception with a stack trace.
  stream.on("error", note)
  return {
    write: (text) => {
      if (readerGone || failure !== undefined) return
      settled = new Promise((resolve) => {
        stream.write(text, (error) => {
          note(error)
          resolve()
        })
      })
    },
    isTTY: stream.isTTY === true,
    flush: async () => {
      await settled
      if (failure === undefined || reported) return undefined
      reported = true
      return failure
    },
  }
}
