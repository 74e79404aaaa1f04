// Concurrent resource-group creates against `azmi-emulator` (loopback, plain HTTP), with and without
// `--state`: what answering a change only once it is on disk (fsync, group commit) costs. 8 writers, each with
// its own keep-alive connection, PUT new groups for a fixed time; every 201 counts. The emulator runs in its own
// process (the built bin), as a user runs it.
import { spawn } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
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
const WRITERS = 8
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

const run = async (label, args) => {
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
    const started = performance.now()
    await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)))
    const elapsed = (performance.now() - started) / 1000
    latencies.sort((a, b) => a - b)
    const p = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0
    console.log(
      `  ${label.padEnd(28)} ${String(Math.round(latencies.length / elapsed)).padStart(6)} creates/s` +
        `  (${latencies.length} in ${elapsed.toFixed(1)} s, p50 ${p(0.5).toFixed(1)} ms, p99 ${p(0.99).toFixed(1)} ms, ${failed} failed)`,
    )
  } finally {
    await stop(child)
  }
}

export default async function emulatorStateBench() {
  const dir = await mkdtemp(join(tmpdir(), "azmi-bench-state-"))
  try {
    console.log(
      `resource-group creates, ${WRITERS} concurrent writers for ${SECONDS} s (azmi-emulator --no-tls)`,
    )
    await run("in memory (no --state)", [])
    await run("--state (durable replies)", ["--state", join(dir, "state.json")])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
