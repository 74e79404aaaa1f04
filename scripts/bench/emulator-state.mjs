// Concurrent resource-group creates against `azmi-emulator` (loopback, plain HTTP), with and without
// `--state`: what answering a change only once it is on disk (fsync, group commit) costs. 8 writers, each with
// its own keep-alive connection, PUT new groups for a fixed time; every 201 counts. The emulator runs in its own
// process (the built bin), as a user runs it. The two sides are interleaved over BENCH_ROUNDS rounds (default 3)
// of BENCH_SECONDS each (default 5); the median ratio is the figure. BENCH_EMULATOR_BIN measures another build.
import { spawn } from "node:child_process"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { loadavg, tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { Agent, fetch } from "undici"

// BENCH_EMULATOR_BIN: another build of the bin to measure (e.g. an older commit's, for before/after figures).
const bin =
  process.env.BENCH_EMULATOR_BIN ??
  join(
    dirname(fileURLToPath(import.meta.url)),
    "..",
    "..",
    "packages",
    "emulator",
    "bin",
    "azmi-emulator.mjs",
  )
const WRITERS = Number(process.env.BENCH_WRITERS ?? 8)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)

const startBin = (args) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, "--no-tls", ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stderr.on("data", (d) => {
      err += d
      if (process.env.BENCH_STDERR) process.stderr.write(d)
    })
    child.stdout.on("data", (d) => {
      out += d
      const nl = out.indexOf("\n")
      if (nl !== -1) resolve({ child, info: JSON.parse(out.slice(0, nl)) })
    })
    child.on("close", (code) => reject(new Error(`azmi-emulator exited ${code}: ${err}`)))
  })

const stop = (child) =>
  new Promise((resolve) => {
    child.removeAllListeners("close")
    child.on("close", resolve)
    child.kill("SIGTERM")
  })

const adminToken = async (info) => {
  const res = await fetch(`${info.loginUrl}/${info.admin.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: info.admin.clientId,
      client_secret: info.admin.clientSecret,
      scope: "https://management.azure.com/.default",
    }).toString(),
  })
  return (await res.json()).access_token
}

/** CPU time (user + system, ms) the process has used so far; undefined off Linux. */
const cpuMs = async (pid) => {
  try {
    const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1].split(" ")
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100 // utime + stime, in clock ticks of 10 ms
  } catch {
    return undefined
  }
}

/** One measurement: 8 writers for SECONDS against a fresh emulator started with `args`. */
const measure = async (args) => {
  const { child, info } = await startBin(args)
  try {
    const token = await adminToken(info)
    const until = Date.now() + SECONDS * 1000
    const latencies = []
    let failed = 0
    const writer = async (w) => {
      const dispatcher = new Agent({ connections: 1 })
      try {
        for (let i = 0; Date.now() < until; i++) {
          const started = performance.now()
          const res = await fetch(
            `${info.armUrl}/subscriptions/${info.subscriptionId}/resourceGroups/bench-${w}-${i}?api-version=2021-04-01`,
            {
              method: "PUT",
              headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
              body: '{"location":"westus"}',
              dispatcher,
            },
          )
          await res.arrayBuffer()
          if (res.status === 201) latencies.push(performance.now() - started)
          else failed++
        }
      } finally {
        await dispatcher.close()
      }
    }
    const cpuBefore = await cpuMs(child.pid)
    const started = performance.now()
    await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)))
    const elapsed = (performance.now() - started) / 1000
    const cpuAfter = await cpuMs(child.pid)
    latencies.sort((a, b) => a - b)
    const p = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0
    if (failed > 0) throw new Error(`${failed} creates failed`)
    const cpuMicrosPerCreate =
      cpuBefore === undefined || cpuAfter === undefined
        ? undefined
        : ((cpuAfter - cpuBefore) * 1000) / latencies.length
    return { perSecond: latencies.length / elapsed, p50: p(0.5), p99: p(0.99), cpuMicrosPerCreate }
  } finally {
    await stop(child)
  }
}

const showLoad = (load) => load.map((l) => l.toFixed(2)).join(" ")

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

export default async function emulatorStateBench() {
  const dir = await mkdtemp(join(tmpdir(), "azmi-bench-state-"))
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
  const loadAtStart = loadavg()
  try {
    console.log(
      `resource-group creates, ${WRITERS} concurrent writers for ${SECONDS} s per run, ${rounds} rounds (azmi-emulator --no-tls${process.env.BENCH_EMULATOR_BIN ? `, bin ${process.env.BENCH_EMULATOR_BIN}` : ""})`,
    )
    const runs = { memory: [], state: [] }
    for (let round = 1; round <= rounds; round++) {
      // Interleaved, so both sides see the same machine load.
      for (const side of ["memory", "state"]) {
        const args = side === "memory" ? [] : ["--state", join(dir, `state-${round}.json`)]
        const r = await measure(args)
        runs[side].push(r)
        console.log(
          `  round ${round} ${side === "memory" ? "in memory     " : "--state (disk)"}: ${Math.round(r.perSecond)} creates/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms${r.cpuMicrosPerCreate === undefined ? "" : `, ${Math.round(r.cpuMicrosPerCreate)} µs emulator CPU per create`}`,
        )
      }
    }
    const memory = median(runs.memory.map((r) => r.perSecond))
    const state = median(runs.state.map((r) => r.perSecond))
    const cpu = (side) =>
      runs[side][0].cpuMicrosPerCreate === undefined
        ? ""
        : `, ${Math.round(median(runs[side].map((r) => r.cpuMicrosPerCreate)))} µs CPU/create`
    console.log(
      `\nload average (1, 5, 15 min): ${showLoad(loadAtStart)} at the start, ${showLoad(loadavg())} at the end (a shared machine; the sides were interleaved, so both saw it)`,
    )
    console.log(
      `median: in memory ${Math.round(memory)} creates/s${cpu("memory")}; --state ${Math.round(state)} creates/s${cpu("state")} (every 201 on disk); ratio ${(state / memory).toFixed(2)}`,
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
