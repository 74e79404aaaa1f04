/**
 * End to end: azmi-http's access log when whoever reads its stdout is slow or gone. The server must
 * keep serving (no blocked event loop, no crash), deliver every line once the reader catches up, and
 * drop lines rather than die when the reader has closed the pipe.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Emulator, startEmulator } from "@azmi/emulator"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { type HttpChild, httpMain, startHttp } from "./http-support.js"

let emu: Emulator
const started: Array<HttpChild> = []

beforeAll(async () => {
  emu = await startEmulator()
})
afterEach(async () => {
  await Promise.all(started.splice(0).map((h) => h.stop()))
})
afterAll(async () => {
  await emu.close()
})

/** `count` GETs of `/healthz`, `concurrency` at a time; the statuses seen, by status. */
const hammer = async (url: string, count: number, concurrency = 50) => {
  const statuses = new Map<number, number>()
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++
        const res = await fetch(`${url}/healthz`)
        await res.arrayBuffer()
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
      }
    }),
  )
  return statuses
}

const accessLines = (http: HttpChild) => http.lines.filter((l) => l.includes('"msg":"request"')).length

describe("azmi-http access log under a slow or vanished reader", () => {
  it("a reader that stops reading for a while: every request is served, every line arrives later", async () => {
    const http = await startHttp(emu)
    started.push(http)
    // Stop reading stdout: the pipe fills after a few hundred KiB, then the server must queue.
    http.child.stdout.pause()
    const requests = 20_000 // ~4 MB of access log, far past what the pipe holds
    const statuses = await hammer(http.url, requests)
    expect(statuses).toEqual(new Map([[200, requests]]))
    expect(http.child.exitCode).toBeNull()
    http.child.stdout.resume()
    for (let i = 0; i < 500 && accessLines(http) < requests; i++) await new Promise((r) => setTimeout(r, 20))
    expect(accessLines(http)).toBe(requests)
    const metrics = await (await fetch(`${http.url}/metrics`)).text()
    expect(metrics).toMatch(/^azmi_http_log_lines_dropped_total 0$/m)
    expect(await http.stop()).toBe(0)
  })

  it("a reader that closed the pipe (EPIPE): the server keeps serving and still shuts down cleanly", async () => {
    const http = await startHttp(emu)
    started.push(http)
    http.child.stdout.destroy()
    const statuses = await hammer(http.url, 2_000)
    expect(statuses).toEqual(new Map([[200, 2_000]]))
    expect(http.child.exitCode).toBeNull()
    // The loss is visible where an operator looks.
    const metrics = await (await fetch(`${http.url}/metrics`)).text()
    const dropped = Number(/^azmi_http_log_lines_dropped_total (\d+)$/m.exec(metrics)?.[1])
    expect(dropped).toBeGreaterThan(0)
    expect(dropped).toBeLessThanOrEqual(2_001)
    expect(await http.stop()).toBe(0)
    expect(http.lines.join("\n")).not.toMatch(/EPIPE|Unhandled|Error/)
  })

  it("a closed stderr: the server keeps serving and its shutdown (which writes to stderr) exits 0", async () => {
    const http = await startHttp(emu)
    started.push(http)
    http.child.stderr.destroy()
    const statuses = await hammer(http.url, 200)
    expect(statuses).toEqual(new Map([[200, 200]]))
    expect(await http.stop()).toBe(0)
  })

  it("stdout a file that cannot grow (EFBIG): no crash at the first line, it serves, and exits 0 on SIGTERM", async () => {
    // The access log of a file-backed stdout is written by its own stream; process.stdout (the
    // "listening" line) must not take the server down when that file refuses a write either.
    const dir = mkdtempSync(join(tmpdir(), "azmi-efbig-"))
    const file = join(dir, "access.log")
    writeFileSync(file, "x".repeat(8_192))
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const address = probe.address()
        probe.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
      })
    })
    // `ulimit -f 1`: the file may not grow past one block, so every write to it fails with EFBIG.
    const child = spawn(
      "sh",
      ["-c", 'ulimit -f 1; exec "$0" "$1" >> "$2"', process.execPath, httpMain, file],
      {
        env: {
          PATH: process.env.PATH ?? "",
          NODE_EXTRA_CA_CERTS: emu.caCertPath,
          AZMI_HTTP_HOST: "127.0.0.1",
          AZMI_HTTP_PORT: String(port),
          AZMI_IMDS_ENDPOINT: emu.imdsUrl,
          AZMI_ARM_ENDPOINT: emu.armUrl,
        },
        stdio: ["ignore", "ignore", "pipe"],
      },
    )
    let stderr = ""
    child.stderr.on("data", (chunk) => {
      stderr += chunk
    })
    const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
    try {
      let up = false
      for (let i = 0; i < 200 && !up && child.exitCode === null; i++) {
        up = await fetch(`http://127.0.0.1:${port}/healthz`).then(
          (res) => res.ok,
          () => false,
        )
        if (!up) await new Promise((r) => setTimeout(r, 50))
      }
      expect({ up, exitCode: child.exitCode, stderr }).toEqual({ up: true, exitCode: null, stderr: "" })
      const statuses = await hammer(`http://127.0.0.1:${port}`, 500)
      expect(statuses).toEqual(new Map([[200, 500]]))
      child.kill("SIGTERM")
      expect(await exited).toBe(0)
      expect(stderr).not.toMatch(/Unhandled|EFBIG|Error/)
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL")
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
