/**
 * `azmi-emulator --source <host>` as its own process, as a user would run it: its start-up line (one JSON
 * object) says where everything is, and its `env` is exactly what a process on that host sees. Tests run
 * SDKs, the CLI or azmi-http in children whose environment is that `env` (plus PATH and what the test
 * names), and read the emulator's request log through its control API.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"

const emulatorBin = join(
  dirname(createRequire(import.meta.url).resolve("@azmi/emulator/package.json")),
  "bin",
  "azmi-emulator.mjs",
)

export interface StartLine {
  readonly armUrl: string
  readonly loginUrl: string
  readonly controlUrl: string
  readonly caCertPath: string
  readonly subscriptionId: string
  readonly admin: { tenantId: string; clientId: string; clientSecret: string }
  readonly host: { source: string; principalId: string; clientId: string }
  readonly env: Record<string, string>
}

export interface RunningEmulator {
  readonly line: StartLine
  readonly child: ChildProcessWithoutNullStreams
  readonly exited: Promise<number | null>
  /** SIGTERM and wait for the exit. */
  readonly stop: () => Promise<void>
  /** Requests the emulator answered, by its control API (`target` e.g. `arc-token`). */
  readonly count: (filter: { readonly target: string; readonly status?: number }) => Promise<number>
}

/** Starts `azmi-emulator --source <source>` (plus `args`) and waits for its start-up line. */
export const startEmulatorChild = (
  source: string,
  args: ReadonlyArray<string> = [],
): Promise<RunningEmulator> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [emulatorBin, "--source", source, ...args], {
      stdio: ["pipe", "pipe", "pipe"],
    })
    const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)))
    let stdout = ""
    let stderr = ""
    let started = false
    child.stderr.on("data", (d) => {
      stderr += d
    })
    child.stdout.on("data", (d) => {
      stdout += d
      const nl = stdout.indexOf("\n")
      if (nl === -1 || started) return
      started = true
      const line = JSON.parse(stdout.slice(0, nl)) as StartLine
      resolve({
        line,
        child,
        exited,
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
          await exited
        },
        count: async (filter) => {
          const query = new URLSearchParams({
            target: filter.target,
            ...(filter.status === undefined ? {} : { status: String(filter.status) }),
          })
          const res = await fetch(`${line.controlUrl}/_emulator/requests?${query}`)
          const body = (await res.json()) as { counts: { total: number } }
          return body.counts.total
        },
      })
    })
    void exited.then((code) => {
      if (!started) reject(new Error(`azmi-emulator --source ${source} exited ${code}: ${stderr}`))
    })
  })
