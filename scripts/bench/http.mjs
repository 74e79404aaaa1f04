// azmi-http benchmark (loopback only, bounded, closes everything):
//  1. cached resource-group reads: throughput and p99 of azmi-http next to a bare hono route returning
//     the same JSON (the ceiling), as a ratio (medians of interleaved rounds) — all servers are child
//     processes, the load generator (autocannon) runs here. In the same rounds: azmi-http with its
//     access log off, and the bare route sending azmi-http's whole response (its headers too), which
//     separate what the log and the extra headers cost from what azmi-http's serving path does;
//  2. the IMDS and ARM requests a cold azmi-http makes while serving 10,000 reads at concurrency 100.
// The emulator (Azure's side) runs in a child process of its own: in this one, its work on each ARM
// refresh (a TLS handshake, a token check) would stall the load generator and show up as latency of
// whichever server is being measured.
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  bareServer,
  emulatorCount,
  emulatorServer,
  fmt,
  httpMain,
  load,
  median,
  pairedRounds,
  printPaired,
  startChild,
} from "./support/servers.mjs"

const ttlMs = 5_000
const durationSeconds = 5
// Interleaved measuring rounds (each: one run of each server); BENCH_HTTP_ROUNDS overrides.
const rounds = Math.max(1, Number(process.env.BENCH_HTTP_ROUNDS ?? 6) || 6)
const connections = 100

const startAzmiHttp = (emu, logFile, env = {}) =>
  startChild(
    [httpMain],
    {
      NODE_EXTRA_CA_CERTS: emu.caCertPath,
      AZMI_HTTP_HOST: "127.0.0.1",
      AZMI_HTTP_PORT: "0",
      AZMI_IMDS_ENDPOINT: emu.imdsUrl,
      AZMI_ARM_ENDPOINT: emu.armUrl,
      AZMI_HTTP_CACHE_TTL_MS: String(ttlMs),
      ...env,
    },
    logFile,
  )

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
    const burst = await load(`${cold.url}${path}`, { connections, amount: 10_000 })
    const burstSeconds = (performance.now() - started) / 1000
    const imds = await emulatorCount(emu, { target: "imds-token" })
    const arm = await emulatorCount(emu, { target: "arm", method: "GET" })
    const non2xx = burst.non2xx + burst.errors
    const hit = await fetch(`${cold.url}${path}`)
    const body = await hit.text()

    // --- 1: cached reads, azmi-http vs the bare route ----------------------------------------------
    const bare = await startChild(["--input-type=module", "-e", bareServer], {
      BENCH_BODY: body,
      BENCH_ROUTE: "/v1/subscriptions/:sub/resourceGroups/:rg",
    })
    servers.push(bare)
    const bareBody = await (await fetch(`${bare.url}${path}`)).text()
    if (bareBody !== body) throw new Error("the bare route does not return the same JSON")
    // The bare route with azmi-http's whole answer to a hit: its headers (but the per-response id) too.
    const sameResponse = await startChild(["--input-type=module", "-e", bareServer], {
      BENCH_BODY: body,
      BENCH_ROUTE: "/v1/subscriptions/:sub/resourceGroups/:rg",
      BENCH_HEADERS: JSON.stringify(
        ["age", "cache-control", "x-ms-request-id"].map((name) => [name, hit.headers.get(name) ?? ""]),
      ),
      BENCH_REQUEST_ID: "1",
    })
    servers.push(sameResponse)
    const names = (h) => [...h.keys()].filter((n) => !["date", "x-request-id"].includes(n)).sort()
    const sameHeaders = await fetch(`${sameResponse.url}${path}`)
    if (
      (await sameHeaders.text()) !== body ||
      names(sameHeaders.headers).join() !== names(hit.headers).join()
    )
      throw new Error("the bare route does not send azmi-http's response")
    const quiet = await startAzmiHttp(emu, join(logDir, "quiet.log"), { AZMI_HTTP_ACCESS_LOG: "off" })
    servers.push(quiet)
    await fetch(`${quiet.url}${path}`)
    const result = await pairedRounds({
      rounds,
      durationSeconds,
      connections,
      // In this order each ratio's two runs are next to each other: azmi-http between the two bare
      // routes, the quiet azmi-http after the plain one.
      servers: {
        bareSameResponse: { url: `${sameResponse.url}${path}`, pid: sameResponse.pid },
        azmi: { url: `${cold.url}${path}`, pid: cold.pid },
        bare: { url: `${bare.url}${path}`, pid: bare.pid },
        quiet: { url: `${quiet.url}${path}`, pid: quiet.pid },
      },
    })
    const { azmi, bare: bareSummary, ratio, loadBefore, loadAfter } = result

    console.log(
      `cached group read, ${connections} connections, median of ${rounds} interleaved rounds × ${durationSeconds} s each (loopback; load average ${loadBefore.map((l) => fmt(l, 2)).join(" ")} before, ${loadAfter.map((l) => fmt(l, 2)).join(" ")} after):`,
    )
    // Issue 12's goal for cached group reads: as fast as the bare route.
    printPaired(result, "azmi-http (TTL 5 s)", 1, [
      { name: "quiet", label: "azmi-http, access log off" },
      { name: "bareSameResponse", label: "bare hono, same response" },
    ])
    const sameRatios = result.ratiosOf.azmi.map((r, i) => r / result.ratiosOf.bareSameResponse[i])
    console.log(
      `  ratio azmi-http / bare hono sending the same response: ${fmt(median(sameRatios), 2)} (rounds ${sameRatios.map((x) => fmt(x, 2)).join(" ")})`,
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
      quietRatio: median(result.ratiosOf.quiet),
      sameResponseRatio: median(sameRatios),
      imds,
      arm,
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()))
    rmSync(logDir, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchHttp()
