// azmi-http as the VM's token cache (issue 16): loopback only, bounded, closes everything. Side by side:
//  1. upstream token requests made by many unmodified IMDS clients — 24 concurrent azure-identity
//     (Python, Debian's python3-azure) processes, and 300 concurrent @azure/identity credentials in one
//     process — all with AZURE_POD_IDENTITY_AUTHORITY_HOST at the emulator's IMDS directly, then at a
//     fresh azmi-http (AZMI_HTTP_IMDS=1) in front of it, counted by the emulator;
//  2. throughput of the IMDS token route next to a bare hono route returning the same JSON (medians of
//     interleaved rounds);
//  3. memory: idle RSS of azmi-http next to a bare hono server's (fresh processes, interleaved, medians),
//     its RSS after the throughput rounds, and `npm run soak`'s idle and end RSS.
// azmi-http runs as deployed: deploy/node-runtime.json's Node flags and malloc settings.
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import {
  bareServer,
  deployedRuntime,
  emulatorCount,
  emulatorServer,
  fmt,
  httpMain,
  mb,
  median,
  pairedRounds,
  printPaired,
  root,
  rssOf,
  startChild,
} from "./support/servers.mjs"

const PYTHON = "/usr/bin/python3"
const PYTHON_PROCESSES = 24
const JS_CREDENTIALS = 300
const rounds = Math.max(1, Number(process.env.BENCH_HTTP_ROUNDS ?? 6) || 6)
const durationSeconds = 5
const connections = 100
const soakSeconds = Math.max(5, Number(process.env.BENCH_SOAK_SECONDS ?? 30) || 30)
const tokenPath =
  "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F"

const settle = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const run = (command, args, env, cwd = root) =>
  new Promise((resolve, reject) =>
    execFile(
      command,
      args,
      { env: { PATH: process.env.PATH, ...env }, cwd, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) =>
        error
          ? reject(new Error(`${command} failed: ${error.message}\n${stderr.slice(-1000)}`))
          : resolve(stdout),
    ),
  )

const pythonClient = [
  "from azure.identity import ManagedIdentityCredential",
  'ManagedIdentityCredential().get_token("https://management.azure.com/.default")',
].join("\n")

// MSAL keeps one token cache per process but coalesces no cold requests: N credentials at once, N requests.
const jsClient = `
import { ManagedIdentityCredential } from "@azure/identity"
const n = Number(process.argv[1])
await Promise.all(Array.from({ length: n }, () =>
  new ManagedIdentityCredential().getToken("https://management.azure.com/.default")))
`

const startImdsHttp = (emu, logFile) =>
  startChild(
    [...deployedRuntime.nodeOptions, httpMain],
    {
      ...deployedRuntime.env,
      NODE_EXTRA_CA_CERTS: emu.caCertPath,
      AZMI_HTTP_HOST: "127.0.0.1",
      AZMI_HTTP_PORT: "0",
      AZMI_HTTP_IMDS: "1",
      AZMI_IMDS_ENDPOINT: emu.imdsUrl,
      AZMI_ARM_ENDPOINT: emu.armUrl,
    },
    logFile,
  )

const startBare = (body) =>
  startChild(["--input-type=module", "-e", bareServer], {
    BENCH_BODY: body,
    BENCH_ROUTE: "/metadata/identity/oauth2/token",
  })

export default async function benchImds() {
  const servers = []
  const stop = async (server) => {
    servers.splice(servers.indexOf(server), 1)
    await server.stop()
  }
  const logDir = mkdtempSync(join(tmpdir(), "azmi-bench-imds-"))
  try {
    const emu = await startChild(["--input-type=module", "-e", emulatorServer], {})
    servers.push(emu)
    const reset = async () => {
      const res = await fetch(`${emu.url}/_emulator/requests`, { method: "DELETE" })
      if (!res.ok) throw new Error(`emulator control API: ${res.status}`)
    }
    const tokenRequests = () => emulatorCount(emu, { target: "imds-token" })

    // --- 1: upstream token requests, at the emulator directly vs through azmi-http ----------------
    const counts = {}
    for (const [client, fire] of [
      [
        `${PYTHON_PROCESSES} azure-identity (Python) processes`,
        (host) =>
          Promise.all(
            Array.from({ length: PYTHON_PROCESSES }, () =>
              run(PYTHON, ["-c", pythonClient], { AZURE_POD_IDENTITY_AUTHORITY_HOST: host }),
            ),
          ),
      ],
      [
        `${JS_CREDENTIALS} @azure/identity credentials`,
        (host) =>
          run(
            process.execPath,
            ["--input-type=module", "-e", jsClient, String(JS_CREDENTIALS)],
            { AZURE_POD_IDENTITY_AUTHORITY_HOST: host },
            join(root, "test"),
          ),
      ],
    ]) {
      await reset()
      await fire(emu.imdsUrl)
      const direct = await tokenRequests()
      const http = await startImdsHttp(emu, join(logDir, "access.log"))
      servers.push(http)
      await reset()
      await fire(http.url)
      const through = await tokenRequests()
      await stop(http)
      counts[client] = { direct, through }
    }
    console.log("upstream token requests (all clients at once, AZURE_POD_IDENTITY_AUTHORITY_HOST):")
    console.log("                                               at the emulator   through azmi-http")
    for (const [client, { direct, through }] of Object.entries(counts))
      console.log(`  ${client.padEnd(44)} ${String(direct).padStart(15)}   ${String(through).padStart(17)}`)

    // --- 3a: idle memory, fresh processes, interleaved ---------------------------------------------
    const idle = { azmi: [], bare: [] }
    const sample = JSON.stringify({ access_token: "x".repeat(1_400) })
    for (let i = 0; i < 3; i++) {
      for (const name of i % 2 === 0 ? ["azmi", "bare"] : ["bare", "azmi"]) {
        const server =
          name === "azmi" ? await startImdsHttp(emu, join(logDir, "idle.log")) : await startBare(sample)
        servers.push(server)
        await settle(3_000)
        idle[name].push(rssOf(server.pid))
        await stop(server)
      }
    }

    // --- 2: throughput of the token route vs the bare route, and 3b: RSS after it -----------------
    const http = await startImdsHttp(emu, join(logDir, "access.log"))
    servers.push(http)
    await settle(3_000)
    const rssIdleHere = rssOf(http.pid)
    const body = await (await fetch(`${http.url}${tokenPath}`, { headers: { Metadata: "true" } })).text()
    const bare = await startBare(body)
    servers.push(bare)
    const {
      azmi,
      bare: bareSummary,
      ratio,
      ratios,
      loadBefore,
      loadAfter,
    } = await pairedRounds({
      rounds,
      durationSeconds,
      connections,
      servers: {
        azmi: { url: `${http.url}${tokenPath}`, pid: http.pid, headers: { Metadata: "true" } },
        bare: { url: `${bare.url}${tokenPath}`, pid: bare.pid, headers: { Metadata: "true" } },
      },
    })
    const rssAfterLoad = rssOf(http.pid)
    console.log(
      `IMDS token route, cached token, ${connections} connections, median of ${rounds} interleaved rounds × ${durationSeconds} s (load average ${loadBefore.map((l) => fmt(l, 2)).join(" ")} before, ${loadAfter.map((l) => fmt(l, 2)).join(" ")} after):`,
    )
    printPaired({ azmi, bare: bareSummary, ratio, ratios }, "azmi-http IMDS route", 0.8)
    await stop(bare)
    await stop(http)

    // --- 3c: the soak's idle and end RSS -------------------------------------------------------------
    const soak = await run(
      process.execPath,
      [join(root, "scripts", "soak.mjs"), "--seconds", String(soakSeconds)],
      {},
    )
    const soakRss = /azmi-http RSS idle \/ start \/ end: (.*)$/m.exec(soak)?.[1] ?? "(not printed)"
    const soakLatency = /latency p50 \/ p99: +(.*)$/m.exec(soak)?.[1] ?? "(not printed)"

    const idleAzmi = median(idle.azmi)
    const idleBare = median(idle.bare)
    console.log(
      `memory (RSS; azmi-http with ${deployedRuntime.nodeOptions.join(" ")} and ${Object.entries(
        deployedRuntime.env,
      )
        .map(([k, v]) => `${k}=${v}`)
        .join(" ")}, as deployed):`,
    )
    console.log(
      `  idle, fresh process (median of 3):  azmi-http ${mb(idleAzmi)}, bare hono ${mb(idleBare)}: ${fmt(idleAzmi / idleBare, 2)}× (goal ≤ 1.50)`,
    )
    console.log(
      `  after the throughput rounds:        ${mb(rssAfterLoad)} (idle ${mb(rssIdleHere)}: ${rssAfterLoad >= rssIdleHere ? "+" : ""}${fmt(((rssAfterLoad - rssIdleHere) / rssIdleHere) * 100, 0)} %)`,
    )
    console.log(`  npm run soak (${soakSeconds} s), idle / start / end: ${soakRss}`)
    console.log(`  npm run soak latency: ${soakLatency}`)
    console.log(
      `load average now: ${loadavg()
        .map((l) => fmt(l, 2))
        .join(" ")}`,
    )
    return { counts, ratio, idleAzmi, idleBare, rssAfterLoad, rssIdleHere }
  } finally {
    await Promise.all(servers.map((s) => s.stop()))
    rmSync(logDir, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchImds()
