import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync, WriteStream } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PassThrough, Writable } from "node:stream"
import { describe, expect, it, vi } from "vitest"
import { batchedSink, logTarget } from "../src/logSink.js"
import { renderPrometheus, reportDroppedLogLines } from "../src/metrics.js"

const collecting = () => {
  const chunks: Array<string> = []
  const target = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk))
      done()
    },
  })
  return { chunks, target }
}

describe("batchedSink", () => {
  it("a busy sink reuses the buffers the stream has written: a thousand batches, a handful of buffers", async () => {
    const { chunks, target } = collecting()
    const allocations = vi.spyOn(Buffer, "allocUnsafe")
    try {
      const log = batchedSink(target, 64 * 1024 * 1024, 10_000)
      const line = "x".repeat(1_000)
      for (let batch = 0; batch < 1_000; batch++) {
        for (let i = 0; i < 70; i++) log(line)
        // Let the stream call back for what it has written.
        await new Promise((resolve) => setImmediate(resolve))
      }
      await log.close()
      expect(allocations.mock.calls.filter(([size]) => size === 128 * 1024).length).toBeLessThanOrEqual(4)
      // …and every line arrived, whole and in order, though the buffers were filled again.
      const lines = chunks.join("").split("\n").slice(0, -1)
      expect(lines).toHaveLength(70_000)
      expect(new Set(lines)).toEqual(new Set([line]))
    } finally {
      allocations.mockRestore()
    }
  })

  it("writes lines in order, many per write, and everything on close", async () => {
    const { chunks, target } = collecting()
    const log = batchedSink(target, 1024 * 1024, 10_000)
    for (let i = 0; i < 100; i++) log(`line ${i}`)
    expect(chunks).toEqual([])
    await log.close()
    expect(chunks).toHaveLength(1)
    expect(chunks.join("").split("\n").slice(0, -1)).toEqual(
      Array.from({ length: 100 }, (_, i) => `line ${i}`),
    )
  })

  it("flushes by itself after the interval", async () => {
    const { chunks, target } = collecting()
    const log = batchedSink(target, 1024 * 1024, 5)
    log("a")
    await new Promise((r) => setTimeout(r, 50))
    expect(chunks).toEqual(["a\n"])
  })

  it("flushes at once past 64 KiB", () => {
    const { chunks, target } = collecting()
    const log = batchedSink(target, 1024 * 1024, 10_000)
    for (let i = 0; i < 63; i++) log("x".repeat(1023))
    expect(chunks).toHaveLength(0)
    log("x".repeat(1023))
    expect(chunks).toHaveLength(1)
    expect(chunks[0]).toHaveLength(64 * 1024)
  })

  it("drops (and counts) lines instead of blocking when the reader falls behind", async () => {
    // A reader that never finishes a write: everything stays buffered.
    const stuck = new Writable({ highWaterMark: 1, write() {} })
    const log = batchedSink(stuck, 100, 10_000)
    log("x".repeat(200))
    log.flush()
    log("y")
    log("z")
    log.flush()
    expect(log.dropped()).toBe(2)
  })

  it("a failed target (EPIPE) drops and counts from then on, and close() does not wait for it", async () => {
    const { chunks, target } = collecting()
    const log = batchedSink(target, 1024 * 1024, 10_000)
    log("before")
    log.flush()
    target.emit("error", Object.assign(new Error("write EPIPE"), { code: "EPIPE" }))
    log("after 1")
    log("after 2")
    await log.close()
    expect(chunks).toEqual(["before\n"])
    expect(log.dropped()).toBe(2)
  })

  it("the dropped count is exported as azmi_http_log_lines_dropped_total", () => {
    const stuck = new Writable({ highWaterMark: 1, write() {} })
    const log = batchedSink(stuck, 10, 10_000)
    reportDroppedLogLines(log.dropped)
    log("x".repeat(20))
    log.flush()
    log("y")
    log.flush()
    expect(renderPrometheus([])).toMatch(/^azmi_http_log_lines_dropped_total 1$/m)
    reportDroppedLogLines(() => 0)
  })

  it("keeps UTF-8 and lines longer than a batch intact, in order", async () => {
    const { chunks, target } = collecting()
    const log = batchedSink(target, 16 * 1024 * 1024, 10_000)
    const huge = "é😀…".repeat(20_000)
    const lines = ["grüße", "😀 \ud800 lone", huge, "after", "x".repeat(600_000), "last ✓"]
    for (const line of lines) log(line)
    await log.close()
    // A lone surrogate is not UTF-8: it is written as U+FFFD, as any string-to-UTF-8 write does.
    expect(chunks.join("")).toBe(Buffer.from(`${lines.join("\n")}\n`).toString())
  })

  it("close() waits for a last batch the stream writes later, though the stream never emits drain", async () => {
    // A small batch is under the stream's highWaterMark: write() accepts it and no `drain` follows.
    let finish: (() => void) | undefined
    const written: Array<string> = []
    const slow = new Writable({
      write(chunk, _encoding, done) {
        finish = () => {
          written.push(String(chunk))
          done()
        }
      },
    })
    const log = batchedSink(slow, 1024 * 1024, 10_000)
    log("last line")
    let closed = false
    const closing = log.close().then(() => {
      closed = true
    })
    await new Promise((resolve) => setImmediate(resolve))
    expect(closed).toBe(false)
    finish?.()
    await closing
    expect(written).toEqual(["last line\n"])
  })
})

describe("logTarget", () => {
  it("a regular file is written through an fs.WriteStream (the thread pool), not process.stdout's synchronous writes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "azmi-log-"))
    const fd = openSync(join(dir, "access.log"), "w")
    try {
      const fallback = vi.fn(() => new PassThrough())
      const target = logTarget(fd, fallback)
      expect(target).toBeInstanceOf(WriteStream)
      expect(fallback).not.toHaveBeenCalled()
      const log = batchedSink(target, 1024 * 1024, 10_000)
      for (let i = 0; i < 1_000; i++) log(`line ${i}`)
      await log.close()
      expect(readFileSync(join(dir, "access.log"), "utf8")).toBe(
        Array.from({ length: 1_000 }, (_, i) => `line ${i}\n`).join(""),
      )
      // The descriptor is the process's (stdout): the sink never closes it.
      expect(fstatSync(fd).isFile()).toBe(true)
    } finally {
      closeSync(fd)
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("anything else (here a character device and a closed descriptor) is left to the fallback, process.stdout", () => {
    const fallback = new PassThrough()
    const devNull = openSync("/dev/null", "w")
    try {
      expect(logTarget(devNull, () => fallback)).toBe(fallback)
    } finally {
      closeSync(devNull)
    }
    expect(logTarget(-1, () => fallback)).toBe(fallback)
  })
})
