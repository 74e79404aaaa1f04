// azmi-http benchmark (loopback only, bounded, closes everything):
//  1. cached resource-group reads: throughput and p99 of azmi-http next to a bare hono route returning
//     the same JSON (the ceiling), as a ratio (medians of interleaved rounds) — both servers are child
//     processes, the load generator (autocannon) runs here;
//  2. the IMDS and ARM requests a cold azmi-http makes while serving 10,000 reads at concurrency 100.
// The emulator (Azure's side) runs in a child process of its own: in this one, its work on each ARM
// refresh (a TLS handshake, a token check) would stall the load generator and show up as latency of
// whichever server is being measured.
import { spawn } from "node:child_process"
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import autocannon from "autocannon"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const httpMain = join(root, "apps", "http", "dist", "main.js")
const ttlMs = 5_000
const durationSeconds = 5
// Interleaved measuring rounds (each: one run of each server); BENCH_HTTP_ROUNDS overrides.
const rounds = Math.max(1, Number(process.env.BENCH_HTTP_ROUNDS ?? 6) || 6)
const connections = 100

// The ceiling: hono on @hono/node-server, one route answering a fixed JSON body, nothing else.
const bareServer = `
import { serve } from "@hono/node-server"
import { Hono } from "hono"
const body = process.env.BENCH_BODY
const app = new Hono().get("/v1/subscriptions/:sub/resourceGroups/:rg", (c) => {
  c.header("Content-Type", "application/json; charset=utf-8")
  return c.body(body, 200)
})
const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info) =>
  console.log(JSON.stringify({ url: "http://127.0.0.1:" + info.port })))
process.once("SIGTERM", () => server.close(() => process.exit(0)))
`

// Azure's side: the emulator with IMDS and ARM limits lifted (the figure is azmi-http's, not the
// emulator's throttling), and Reader for the VM on the group that is read.
const emulatorServer = `
import { startEmulator } from "@azmi/emulator"
const emu = await startEmulator({
  limits: { imdsRequestsPerSecond: Infinity, imdsConcurrency: Infinity, armReadBucket: Infinity },
})
emu.world.putRoleAssignment({
  name: crypto.randomUUID(),
  scope: "/subscriptions/" + emu.subscriptionId + "/resourceGroups/DevTest",
  roleDefinitionId: "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7",
  principalId: emu.vm.systemAssigned.principalId,
  principalType: "ServicePrincipal",
})
const { imdsUrl, armUrl, controlUrl, caCertPath, subscriptionId } = emu
console.log(JSON.stringify({ url: controlUrl, imdsUrl, armUrl, caCertPath, subscriptionId }))
process.once("SIGTERM", () => emu.close().then(() => process.exit(0)))
`

/** Requests the emulator has logged that match `query` (its control API). */
const emulatorCount = async (emu, query) => {
  const res = await fetch(`${emu.url}/_emulator/requests?${new URLSearchParams(query)}`)
  if (!res.ok) throw new Error(`emulator control API: ${res.status}`)
  return (await res.json()).counts.total
}

/**
 * Starts a server child process that prints `{ "url", … }` as its first line. With `logFile`, its
 * stdout (the access log) goes to that file instead of a pipe to this process: reading ~10 MB/s of
 * log here would take CPU from the load generator, which the server under test is not to blame for.
 */
const startChild = (args, env, logFile) =>
  new Promise((resolve, reject) => {
    const out = logFile === undefined ? "pipe" : openSync(logFile, "w")
    const child = spawn(process.execPath, args, {
      cwd: root,
      env: { PATH: process.env.PATH, ...env },
      stdio: ["ignore", out, "pipe"],
    })
    if (typeof out === "number") closeSync(out)
    let buffered = ""
    let err = ""
    let started = false
    let poll
    const timer = setTimeout(() => {
      clearInterval(poll)
      child.kill("SIGKILL")
      reject(new Error(`server did not start: ${err.slice(-500)}`))
    }, 30_000)
    child.stderr.on("data", (d) => {
      err += d
    })
    const firstLine = (text) => {
      if (started) return
      buffered += text
      const newline = buffered.indexOf("\n")
      if (newline < 0) return
      started = true
      clearTimeout(timer)
      clearInterval(poll)
      const info = JSON.parse(buffered.slice(0, newline))
      resolve({
        ...info,
        pid: child.pid,
        stop: () =>
          new Promise((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done()
            const kill = setTimeout(() => child.kill("SIGKILL"), 15_000)
            child.once("exit", () => {
              clearTimeout(kill)
              done()
            })
            child.kill("SIGTERM")
          }),
      })
    }
    if (logFile === undefined)
      child.stdout.on("data", firstLine) // later lines: drained, not kept
    else
      poll = setInterval(() => {
        buffered = ""
        firstLine(readFileSync(logFile, "utf8"))
      }, 20)
    child.once("exit", (code) => {
      if (!started) {
        clearTimeout(timer)
        clearInterval(poll)
        reject(new Error(`server exited ${code}: ${err.slice(-500)}`))
      }
    })
  })

const startAzmiHttp = (emu, logFile) =>
  startChild(
    [httpMain],
    {
      NODE_EXTRA_CA_CERTS: emu.caCertPath,
      AZMI_HTTP_HOST: "127.0.0.1",
      AZMI_HTTP_PORT: "0",
      AZMI_IMDS_ENDPOINT: emu.imdsUrl,
      AZMI_ARM_ENDPOINT: emu.armUrl,
      AZMI_HTTP_CACHE_TTL_MS: String(ttlMs),
    },
    logFile,
  )

// CPU seconds (user + system) a process has used so far, from /proc (Linux); undefined elsewhere.
const cpuSeconds = (pid) => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return undefined
  }
}

const load = (url, options) =>
  new Promise((resolve, reject) => {
    autocannon({ url, connections, ...options }, (error, result) => (error ? reject(error) : resolve(result)))
  })

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

const fmt = (n, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })

export default async function benchHttp() {
  const servers = []
  const logDir = mkdtempSync(join(tmpdir(), "azmi-bench-http-"))
  try {
    const emu = await startChild(["--input-type=module", "-e", emulatorServer], {})
    servers.push(emu)
    const path = `/v1/subscriptions/${emu.subscriptionId}/resourceGroups/DevTest`

    // --- 2 first, on a cold server: IMDS and ARM requests while serving 10,000 reads ---------------
    const cold = await startAzmiHttp(emu, join(logDir, "access.log"))
    servers.push(cold)
    const started = performance.now()
    const burst = await load(`${cold.url}${path}`, { amount: 10_000 })
    const burstSeconds = (performance.now() - started) / 1000
    const imds = await emulatorCount(emu, { target: "imds-token" })
    const arm = await emulatorCount(emu, { target: "arm", method: "GET" })
    const non2xx = burst.non2xx + burst.errors
    const body = await (await fetch(`${cold.url}${path}`)).text()

    // --- 1: cached reads, azmi-http vs the bare route ----------------------------------------------
    const bare = await startChild(["--input-type=module", "-e", bareServer], { BENCH_BODY: body })
    servers.push(bare)
    const bareBody = await (await fetch(`${bare.url}${path}`)).text()
    if (bareBody !== body) throw new Error("the bare route does not return the same JSON")
    // Warm both (JIT, connections), then measure in rounds, alternating which goes first (ABBA), and
    // report medians: the machine is shared, and a neighbour's burst should not decide the figure.
    // The ratio is the median of each round's ratio, whose two runs were taken back to back.
    await load(`${bare.url}${path}`, { duration: 1 })
    await load(`${cold.url}${path}`, { duration: 1 })
    const loadBefore = loadavg()
    const runs = { azmi: [], bare: [] }
    const ratios = []
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? ["azmi", "bare"] : ["bare", "azmi"]
      const pair = {}
      for (const name of order) {
        const server = name === "azmi" ? cold : bare
        const cpuBefore = cpuSeconds(server.pid)
        const r = await load(`${server.url}${path}`, { duration: durationSeconds })
        const cpuAfter = cpuSeconds(server.pid)
        if (r.non2xx + r.errors > 0) throw new Error(`${name}: ${r.non2xx} non-2xx, ${r.errors} errors`)
        // Server CPU per request: independent of how much CPU the load generator and neighbours take.
        r.cpuMicros =
          cpuBefore === undefined || cpuAfter === undefined
            ? undefined
            : ((cpuAfter - cpuBefore) * 1e6) / r.requests.total
        runs[name].push(r)
        pair[name] = r
      }
      ratios.push(pair.azmi.requests.average / pair.bare.requests.average)
    }
    const loadAfter = loadavg()
    const summary = (list) => ({
      rps: median(list.map((r) => r.requests.average)),
      p50: median(list.map((r) => r.latency.p50)),
      p99: median(list.map((r) => r.latency.p99)),
      cpuMicros: list.some((r) => r.cpuMicros === undefined)
        ? undefined
        : median(list.map((r) => r.cpuMicros)),
    })
    const azmi = summary(runs.azmi)
    const bareSummary = summary(runs.bare)
    const ratio = median(ratios)

    console.log(
      `cached group read, ${connections} connections, median of ${rounds} interleaved rounds × ${durationSeconds} s each (loopback; load average ${loadBefore.map((l) => fmt(l, 2)).join(" ")} before, ${loadAfter.map((l) => fmt(l, 2)).join(" ")} after):`,
    )
    console.log("                           req/s        p50 ms   p99 ms   server CPU µs/req")
    for (const [label, r] of [
      ["azmi-http (TTL 5 s)", azmi],
      ["bare hono, same JSON", bareSummary],
    ]) {
      console.log(
        `  ${label.padEnd(22)} ${fmt(r.rps).padStart(10)}   ${fmt(r.p50, 1).padStart(7)}  ${fmt(r.p99, 1).padStart(7)}   ${r.cpuMicros === undefined ? "n/a" : fmt(r.cpuMicros, 0).padStart(6)}`,
      )
    }
    console.log(
      `  ratio azmi-http / bare: ${fmt(ratio, 2)} (goal ≥ 0.80; rounds ${ratios.map((x) => fmt(x, 2)).join(" ")})`,
    )
    if (azmi.cpuMicros !== undefined && bareSummary.cpuMicros !== undefined)
      console.log(
        `  server CPU per request, bare / azmi-http: ${fmt(bareSummary.cpuMicros / azmi.cpuMicros, 2)}`,
      )
    console.log(
      `10,000 reads at concurrency ${connections} on a cold azmi-http (${fmt(burstSeconds, 1)} s, ${non2xx} failed):`,
    )
    console.log(`  IMDS token requests: ${imds} (goal 1)`)
    console.log(
      `  ARM GET requests:    ${arm} (bound by the ${ttlMs / 1000} s TTL, refreshed after 4/5 of it: ≤ ${Math.ceil(burstSeconds / ((0.8 * ttlMs) / 1000)) + 1})`,
    )
    return {
      azmiRps: azmi.rps,
      bareRps: bareSummary.rps,
      azmiP99: azmi.p99,
      azmiCpuMicros: azmi.cpuMicros,
      bareCpuMicros: bareSummary.cpuMicros,
      bareP99: bareSummary.p99,
      ratio,
      imds,
      arm,
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()))
    rmSync(logDir, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchHttp()
