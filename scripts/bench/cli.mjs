// CLI start-up benchmark against the emulator (loopback only): wall time of `azmi --help`, an uncached
// `azmi token` and a cached `azmi token --cache`, next to `node -e 0` measured in the same run, as
// ratios. Each sample is one fresh process (what a shell script calling azmi pays); medians of N runs,
// interleaved so machine load affects every command alike.
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { startEmulator } from "@azmi/emulator"

const azmiBin = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "apps", "cli", "dist", "azmi.mjs")
const RUNS = 15

/** Wall time of one process, in ms (spawned asynchronously: the emulator answers from this process). */
const time = (args, env) =>
  new Promise((resolve, reject) => {
    const start = process.hrtime.bigint()
    const child = spawn(process.execPath, args, { env, stdio: ["ignore", "ignore", "pipe"] })
    let err = ""
    child.stderr.on("data", (d) => {
      err += d
    })
    child.once("error", reject)
    child.once("close", (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6
      if (code !== 0) reject(new Error(`${args.slice(1).join(" ")} exited ${code}: ${err.trim()}`))
      else resolve(ms)
    })
  })

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

export default async function bench() {
  const emu = await startEmulator({ limits: { imdsRequestsPerSecond: Infinity, imdsConcurrency: Infinity } })
  const home = mkdtempSync(join(tmpdir(), "azmi-bench-cli-"))
  try {
    const env = {
      PATH: process.env.PATH ?? "",
      HOME: home,
      XDG_RUNTIME_DIR: join(home, "run"),
      AZMI_IMDS_ENDPOINT: emu.imdsUrl,
      AZMI_ARM_ENDPOINT: emu.armUrl,
      NODE_EXTRA_CA_CERTS: emu.caCertPath,
    }
    const cases = [
      ["node -e 0", ["-e", "0"]],
      ["azmi --help", [azmiBin, "--help"]],
      ["azmi token (uncached)", [azmiBin, "token"]],
      ["azmi token --cache (cached)", [azmiBin, "token", "--cache"]],
    ]
    await time([azmiBin, "token", "--cache"], env) // prime the cache file
    emu.requests.reset()
    const samples = new Map(cases.map(([name]) => [name, []]))
    for (let i = 0; i < RUNS; i++) {
      for (const [name, args] of cases) samples.get(name).push(await time(args, env))
    }
    const baseline = median(samples.get("node -e 0"))
    console.log(`${RUNS} runs each, median wall time of one process (same run, interleaved):`)
    for (const [name] of cases) {
      const m = median(samples.get(name))
      console.log(
        `  ${name.padEnd(30)} ${m.toFixed(0).padStart(6)} ms   ${(m / baseline).toFixed(2)}× node -e 0`,
      )
    }
    const imds = emu.requests.count({ target: "imds-token" })
    console.log(`  IMDS token requests during the run: ${imds} (${RUNS} uncached + 0 cached expected)`)
  } finally {
    await emu.close()
    rmSync(home, { recursive: true, force: true })
  }
}
