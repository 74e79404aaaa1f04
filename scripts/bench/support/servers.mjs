// Shared by the azmi-http benchmarks (http.mjs, imds.mjs) and workload-identity.mjs: child servers that
// print their URL, the emulator (Azure's side) as a child process, /proc readings and the figures' arithmetic.
import { spawn } from "node:child_process"
import { closeSync, openSync, readFileSync } from "node:fs"
import { loadavg } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import autocannon from "autocannon"

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..")
export const httpMain = join(root, "apps", "http", "dist", "main.js")

/** How azmi-http's Node runs wherever it is deployed (deploy/node-runtime.json). */
export const deployedRuntime = JSON.parse(readFileSync(join(root, "deploy", "node-runtime.json"), "utf8"))

// The ceiling: hono on @hono/node-server, one route (BENCH_ROUTE) answering a fixed JSON body
// (BENCH_BODY), nothing else.
export const bareServer = `
import { serve } from "@hono/node-server"
import { Hono } from "hono"
const body = process.env.BENCH_BODY
// BENCH_HEADERS: more [name, value] pairs to send (the headers of azmi-http's answer, values and
// all, but the per-response id); BENCH_REQUEST_ID: also an X-Request-Id per response, made as
// cheaply as azmi-http's.
const headers = JSON.parse(process.env.BENCH_HEADERS ?? "[]")
const idPrefix = process.env.BENCH_REQUEST_ID === "1" ? crypto.randomUUID().slice(0, 24) : undefined
let next = 0
const app = new Hono().get(process.env.BENCH_ROUTE, (c) => {
  for (const [name, value] of headers) c.header(name, value)
  c.header("Content-Type", "application/json; charset=utf-8")
  if (idPrefix !== undefined) c.header("X-Request-Id", idPrefix + (next++).toString(16).padStart(12, "0"))
  return c.body(body, 200)
})
const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info) =>
  console.log(JSON.stringify({ url: "http://127.0.0.1:" + info.port })))
process.once("SIGTERM", () => server.close(() => process.exit(0)))
`

// Azure's side: the emulator with IMDS and ARM limits lifted (the figure is azmi-http's, not the
// emulator's throttling), and Reader for the VM on the group that is read.
export const emulatorServer = `
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
export const emulatorCount = async (emu, query) => {
  const res = await fetch(`${emu.url}/_emulator/requests?${new URLSearchParams(query)}`)
  if (!res.ok) throw new Error(`emulator control API: ${res.status}`)
  return (await res.json()).counts.total
}

/**
 * Starts a server child process that prints `{ "url", … }` as its first line. With `logFile`, its
 * stdout (the access log) goes to that file instead of a pipe to this process: reading ~10 MB/s of
 * log here would take CPU from the load generator, which the server under test is not to blame for.
 */
export const startChild = (args, env, logFile) =>
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
      let info
      try {
        info = JSON.parse(buffered.slice(0, newline))
      } catch {
        child.kill("SIGKILL")
        reject(new Error(`server's first line is not JSON: ${buffered.slice(0, Math.min(newline, 200))}`))
        return
      }
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

// CPU seconds (user + system) a process has used so far, from /proc (Linux); undefined elsewhere.
export const cpuSeconds = (pid) => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return undefined
  }
}

export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export const fmt = (n, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })

/** Resident set size of a process in bytes (Linux /proc), NaN elsewhere. */
export const rssOf = (pid) => {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return m === null ? Number.NaN : Number(m[1]) * 1024
  } catch {
    return Number.NaN
  }
}

/** Megabytes, one decimal. */
export const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`

/** One autocannon run against `url` (options as autocannon takes them). */
export const load = (url, options) =>
  new Promise((resolve, reject) => {
    autocannon({ url, ...options }, (error, result) => (error ? reject(error) : resolve(result)))
  })

/**
 * Throughput of servers side by side, each against `bare`: all warmed (JIT, connections), then
 * measured in rounds alternating the order (forward, then backward), medians reported — the machine
 * is shared, and a neighbour's burst should not decide the figure. A server's ratio is the median of
 * each round's ratio to `bare` (a round runs the servers one after another, in the order given, then
 * reversed: list the servers so that each one's run is next to `bare`'s). Each server:
 * `{ url, pid, headers? }`; `azmi` and `bare` are required, any others are measured the same way.
 * Returns per name `summaries` and `ratiosOf` (each round's), and `azmi`, `bare`, `ratio`, `ratios`
 * for the first pair.
 */
export const pairedRounds = async ({ rounds, durationSeconds, connections, servers }) => {
  const names = Object.keys(servers)
  const run = (name, options) =>
    load(servers[name].url, { connections, headers: servers[name].headers, ...options })
  for (const name of names) await run(name, { duration: 1 })
  const loadBefore = loadavg()
  const runs = Object.fromEntries(names.map((name) => [name, []]))
  const ratiosOf = Object.fromEntries(names.filter((n) => n !== "bare").map((name) => [name, []]))
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? names : [...names].reverse()
    const result = {}
    for (const name of order) {
      const cpuBefore = cpuSeconds(servers[name].pid)
      const r = await run(name, { duration: durationSeconds })
      const cpuAfter = cpuSeconds(servers[name].pid)
      if (r.non2xx + r.errors > 0) throw new Error(`${name}: ${r.non2xx} non-2xx, ${r.errors} errors`)
      // Server CPU per request: independent of how much CPU the load generator and neighbours take.
      r.cpuMicros =
        cpuBefore === undefined || cpuAfter === undefined
          ? undefined
          : ((cpuAfter - cpuBefore) * 1e6) / r.requests.total
      runs[name].push(r)
      result[name] = r
    }
    for (const name of Object.keys(ratiosOf))
      ratiosOf[name].push(result[name].requests.average / result.bare.requests.average)
  }
  const loadAfter = loadavg()
  const summary = (list) => ({
    rps: median(list.map((r) => r.requests.average)),
    p50: median(list.map((r) => r.latency.p50)),
    p99: median(list.map((r) => r.latency.p99)),
    cpuMicros: list.some((r) => r.cpuMicros === undefined) ? undefined : median(list.map((r) => r.cpuMicros)),
  })
  const summaries = Object.fromEntries(names.map((name) => [name, summary(runs[name])]))
  return {
    summaries,
    ratiosOf,
    azmi: summaries.azmi,
    bare: summaries.bare,
    ratio: median(ratiosOf.azmi),
    ratios: ratiosOf.azmi,
    loadBefore,
    loadAfter,
  }
}

/**
 * Prints {@link pairedRounds}' result: a row per server (req/s, p50, p99, server CPU per request), the
 * ratio against `goal` with every round's, and the server CPU ratio. `others` adds rows for more
 * servers measured in the same rounds: `[{ name, label, goal? }]` (a `bare…` name is a baseline:
 * no ratio is printed for it).
 */
export const printPaired = (
  { azmi, bare, ratio, ratios, summaries, ratiosOf },
  azmiLabel,
  goal,
  others = [],
) => {
  const rows = [
    [azmiLabel, azmi],
    ["bare hono, same JSON", bare],
    ...others.map(({ name, label }) => [label, summaries[name]]),
  ]
  const width = Math.max(22, ...rows.map(([label]) => label.length))
  console.log(`  ${"".padEnd(width)}      req/s     p50 ms   p99 ms   server CPU µs/req`)
  for (const [label, r] of rows)
    console.log(
      `  ${label.padEnd(width)} ${fmt(r.rps).padStart(10)}   ${fmt(r.p50, 1).padStart(7)}  ${fmt(r.p99, 1).padStart(7)}   ${r.cpuMicros === undefined ? "n/a" : fmt(r.cpuMicros, 0).padStart(6)}`,
    )
  const line = (label, value, list, goalOf) =>
    console.log(
      `  ratio ${label} / bare: ${fmt(value, 2)} (${goalOf === undefined ? "" : `goal ≥ ${fmt(goalOf, 2)}; `}rounds ${list.map((x) => fmt(x, 2)).join(" ")})`,
    )
  line(azmiLabel, ratio, ratios, goal)
  for (const { name, label, goal: goalOf } of others)
    if (!name.startsWith("bare")) line(label, median(ratiosOf[name]), ratiosOf[name], goalOf)
  if (azmi.cpuMicros !== undefined && bare.cpuMicros !== undefined)
    console.log(`  server CPU per request, bare / ${azmiLabel}: ${fmt(bare.cpuMicros / azmi.cpuMicros, 2)}`)
}
