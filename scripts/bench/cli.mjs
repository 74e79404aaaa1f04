// CLI start-up benchmark against the emulator (loopback only). Each sample is one fresh process (what a
// shell script calling azmi pays), timed by bash's `time` around the process alone: wall time, and
// user+sys CPU — steadier than wall time on a shared machine. Cases run interleaved (run i of every
// case, each round in a rotated order, then run i + 1), so load affects each alike; reported as medians and as ratios to a bare
// `node -e 0` measured in the same runs: the ratio of the medians, and the median of the per-run ratios.
//
// Then the time to give up where nothing answers: `azmi token` at a dead endpoint (a loopback port that
// never accepts — SYNs dropped, as at IMDS off Azure — with the 1 s connect timeout) and at a refused one.
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { startDeadEndpoint, startEmulator } from "@azmi/emulator"

const azmiBin = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "apps", "cli", "dist", "azmi.mjs")
// AZMI_BENCH_CLI_RUNS=<n> for more pairs (at least 15).
const RUNS = Math.max(15, Number.parseInt(process.env.AZMI_BENCH_CLI_RUNS ?? "", 10) || 21)
const GIVE_UP_RUNS = 5
// The budget for a cached `azmi token`, as a multiple of `node -e 0`.
const CACHED_TOKEN_BUDGET = 2.0

/**
 * One process: wall and user+sys CPU ms (bash's `time`, which times the process alone), its exit code.
 * The process's stderr comes back on fd 3, bash's timing line on stdout.
 */
const run = (args, env) =>
  new Promise((resolve, reject) => {
    const child = spawn(
      "bash",
      [
        "-c",
        'TIMEFORMAT="%3R %3U %3S"; { time "$@" >/dev/null 2>&3; } 2>&1',
        "bash",
        process.execPath,
        ...args,
      ],
      { env, stdio: ["ignore", "pipe", "ignore", "pipe"] },
    )
    let timing = ""
    let stderr = ""
    child.stdio[1].on("data", (d) => {
      timing += d
    })
    child.stdio[3].on("data", (d) => {
      stderr += d
    })
    child.once("error", reject)
    child.once("close", (code) => {
      const [real, user, sys] = timing.trim().split("\n").pop().split(" ").map(Number)
      if (![real, user, sys].every(Number.isFinite)) {
        reject(new Error(`no timing for ${args.join(" ")}: ${timing.trim()} ${stderr.trim()}`))
      } else resolve({ code, wall: real * 1000, cpu: (user + sys) * 1000, stderr })
    })
  })

/** {@link run}, which must exit `expected`. */
const sample = async (args, env, expected = 0) => {
  const r = await run(args, env)
  if (r.code !== expected) throw new Error(`${args.slice(1).join(" ")} exited ${r.code}: ${r.stderr.trim()}`)
  return r
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")

export default async function bench() {
  const emu = await startEmulator({ limits: { imdsRequestsPerSecond: Infinity, imdsConcurrency: Infinity } })
  const dead = await startDeadEndpoint()
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
      ["AZMI_TOKEN_CACHE=1 azmi token", [azmiBin, "token"], { AZMI_TOKEN_CACHE: "1" }],
    ]
    await sample([azmiBin, "token", "--cache"], env) // prime the cache file
    emu.requests.reset()
    const loadBefore = load()
    const samples = new Map(cases.map(([name]) => [name, []]))
    for (let i = 0; i < RUNS; i++) {
      // Each round starts at another case: no case always follows the uncached one (whose emulator
      // work in this process lingers into the next sample's wall time).
      for (let k = 0; k < cases.length; k++) {
        const [name, args, extra] = cases[(i + k) % cases.length]
        samples.get(name).push(await sample(args, { ...env, ...extra }))
      }
    }
    const loadAfter = load()
    const base = samples.get("node -e 0")
    const baseWall = median(base.map((s) => s.wall))
    const baseCpu = median(base.map((s) => s.cpu))
    console.log(
      `${RUNS} paired runs of each, interleaved; one process per sample (load average ${loadBefore} before, ${loadAfter} after)`,
    )
    console.log(
      `  ${"".padEnd(30)} ${"wall ms".padStart(8)} ${"× node".padStart(7)} ${"paired".padStart(7)}   ${"cpu ms".padStart(7)} ${"× node".padStart(7)} ${"paired".padStart(7)}`,
    )
    const ratios = {}
    for (const [name] of cases) {
      const xs = samples.get(name)
      const wall = median(xs.map((s) => s.wall))
      const cpu = median(xs.map((s) => s.cpu))
      const pairedWall = median(xs.map((s, i) => s.wall / base[i].wall))
      const pairedCpu = median(xs.map((s, i) => s.cpu / base[i].cpu))
      ratios[name] = { wall: wall / baseWall, cpu: cpu / baseCpu, pairedWall, pairedCpu }
      console.log(
        `  ${name.padEnd(30)} ${wall.toFixed(0).padStart(8)} ${(wall / baseWall).toFixed(2).padStart(6)}× ${pairedWall.toFixed(2).padStart(6)}×   ${cpu.toFixed(0).padStart(7)} ${(cpu / baseCpu).toFixed(2).padStart(6)}× ${pairedCpu.toFixed(2).padStart(6)}×`,
      )
    }
    const cached = ratios["azmi token --cache (cached)"]
    console.log(
      `  cached azmi token: ${cached.pairedWall.toFixed(2)}× node -e 0 in wall time, ${cached.pairedCpu.toFixed(2)}× in CPU (median of paired ratios; budget ≤ ${CACHED_TOKEN_BUDGET.toFixed(1)}×: ${cached.pairedWall <= CACHED_TOKEN_BUDGET ? "within" : "OVER"})`,
    )
    const imds = emu.requests.count({ target: "imds-token" })
    console.log(`  IMDS token requests during the run: ${imds} (${RUNS} uncached + 0 cached expected)`)

    // Giving up where nothing answers: no cache, so every run tries the endpoint.
    const giveUp = [
      ["azmi --version (start-up alone)", [azmiBin, "--version"], {}, 0],
      ["azmi token, refused port", [azmiBin, "token"], { AZMI_IMDS_ENDPOINT: "http://127.0.0.1:1" }, 3],
      ["azmi token, dead endpoint", [azmiBin, "token"], { AZMI_IMDS_ENDPOINT: dead.url }, 3],
    ]
    const gaveUp = new Map(giveUp.map(([name]) => [name, []]))
    for (let i = 0; i < GIVE_UP_RUNS; i++) {
      for (const [name, args, extra, code] of giveUp)
        gaveUp.get(name).push(await sample(args, { ...env, ...extra }, code))
    }
    console.log(
      `where nothing answers (connect timeout 1 s; ${GIVE_UP_RUNS} runs each, interleaved; load average ${load()}):`,
    )
    for (const [name, , , code] of giveUp) {
      const xs = gaveUp.get(name)
      console.log(
        `  ${name.padEnd(32)} exit ${code}  wall ${median(xs.map((s) => s.wall))
          .toFixed(0)
          .padStart(5)} ms  cpu ${median(xs.map((s) => s.cpu))
          .toFixed(0)
          .padStart(4)} ms`,
      )
    }
  } finally {
    await dead.close()
    await emu.close()
    rmSync(home, { recursive: true, force: true })
  }
}
