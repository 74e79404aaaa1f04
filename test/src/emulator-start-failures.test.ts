/**
 * End to end: `azmi emulator` and `azmi-emulator` fail to start the same way — same exit code, same reason —
 * for every kind of start-up failure (the emulator's `startFailure` decides for both).
 */
import { spawn } from "node:child_process"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { createServer, type Server } from "node:net"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { defaultWorld, type Emulator, startEmulator } from "@azmi/emulator"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { azmiBin } from "./cli-support.js"

const emulatorBin = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "packages",
  "emulator",
  "bin",
  "azmi-emulator.mjs",
)

interface Ended {
  readonly code: number | null
  readonly stderr: string
}

/** Run a command that is expected to fail at start-up (killed after 20 s if it starts instead). */
const runToEnd = (args: ReadonlyArray<string>): Promise<Ended> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { PATH: process.env.PATH ?? "" },
      stdio: ["ignore", "ignore", "pipe"],
    })
    let stderr = ""
    child.stderr.on("data", (d) => {
      stderr += d
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000)
    child.on("error", reject)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stderr })
    })
  })

let dir: string
let holder: Emulator
let busy: Server
let busyPort: number

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "azmi-start-failures-"))
  await writeFile(join(dir, "invalid.json"), JSON.stringify({ ...defaultWorld(), tenants: [] }))
  holder = await startEmulator({ state: join(dir, "held.json"), armTls: false })
  busy = createServer()
  await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve))
  busyPort = (busy.address() as { port: number }).port
})

afterAll(async () => {
  await holder.close()
  await new Promise((resolve) => busy.close(resolve))
  await rm(dir, { recursive: true, force: true })
})

describe("azmi emulator and azmi-emulator agree on start-up failures", () => {
  const cases: ReadonlyArray<{
    readonly what: string
    readonly args: () => ReadonlyArray<string>
    readonly code: number
    readonly says: () => string
  }> = [
    {
      what: "an invalid state file",
      args: () => ["--state", join(dir, "invalid.json")],
      code: 2,
      says: () => `Invalid world file ${join(dir, "invalid.json")}`,
    },
    {
      what: "an invalid world file",
      args: () => ["--world", join(dir, "invalid.json")],
      code: 2,
      says: () => "world.tenants: must contain at least one tenant",
    },
    {
      what: "a state file in a directory that does not exist",
      args: () => ["--state", join(dir, "missing", "s.json")],
      code: 2,
      says: () => `directory ${join(dir, "missing")} does not exist`,
    },
    {
      what: "a state file another emulator holds",
      args: () => ["--state", join(dir, "held.json")],
      code: 2,
      says: () => `is in use by another emulator (pid ${process.pid})`,
    },
    {
      what: "an empty --host (Node would listen on every interface)",
      args: () => ["--host", ""],
      code: 2,
      says: () => "host: must not be empty",
    },
    {
      what: "a port out of range",
      args: () => ["--imds-port", "70000"],
      code: 2,
      says: () => "imdsPort: must be a port number 0..65535 (got 70000)",
    },
    {
      what: "a port in use",
      args: () => ["--imds-port", String(busyPort)],
      code: 1,
      says: () => "EADDRINUSE",
    },
  ]

  for (const c of cases) {
    it(`${c.what}: both exit ${c.code} with the reason, without a stack trace`, async () => {
      const [cli, emulator] = await Promise.all([
        runToEnd([azmiBin, "emulator", "--no-tls", ...c.args()]),
        runToEnd([emulatorBin, "--no-tls", ...c.args()]),
      ])
      for (const r of [cli, emulator]) {
        expect(r.stderr).toContain(c.says())
        expect(r.stderr).not.toMatch(/\n\s+at /)
      }
      expect({ cli: cli.code, emulator: emulator.code }).toEqual({ cli: c.code, emulator: c.code })
    })
  }
})
