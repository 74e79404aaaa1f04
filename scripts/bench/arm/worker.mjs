#!/usr/bin/env node
// One measurement in a fresh process (so both libraries start cold and trust the emulator's CA through
// NODE_EXTRA_CA_CERTS, which only works at process start). Prints one JSON line.
//   node worker.mjs <azmi|sdk|floor> <throughput|cold>
// Env: BENCH_ARM_URL, BENCH_IMDS_URL, BENCH_SUB, BENCH_GROUP, BENCH_CA_FILE, BENCH_N, BENCH_CONCURRENCY,
//      BENCH_TRANSPORT (azmi's ARM transport: undici | http-client), BENCH_WARMUP,
//      AZURE_POD_IDENTITY_AUTHORITY_HOST (for the SDK), NODE_EXTRA_CA_CERTS.
import { readFileSync } from "node:fs"
import { performance } from "node:perf_hooks"

const [lib, mode] = process.argv.slice(2)
const env = (name) => {
  const v = process.env[name]
  if (v === undefined || v === "") throw new Error(`${name} is not set`)
  return v
}
const sub = env("BENCH_SUB")
const group = env("BENCH_GROUP")
const envOr = (name, fallback) => process.env[name] ?? fallback
const n = Number(envOr("BENCH_N", "2000"))
const concurrency = Number(envOr("BENCH_CONCURRENCY", "32"))

/** @returns {Promise<{ get: () => Promise<unknown>, close: () => Promise<void> }>} */
const makeAzmi = async () => {
  const { Azmi, ResourceGroups } = await import("@azmi/core")
  const { Effect, ManagedRuntime } = await import("effect")
  const runtime = ManagedRuntime.make(
    Azmi.layer({
      armTransport: envOr("BENCH_TRANSPORT", "undici"),
      credential: "managed-identity",
      imdsEndpoint: env("BENCH_IMDS_URL"),
      armEndpoint: env("BENCH_ARM_URL"),
      caCert: readFileSync(env("BENCH_CA_FILE"), "utf8"),
    }),
  )
  const get = Effect.flatMap(ResourceGroups, (g) => g.get(sub, group))
  return { get: () => runtime.runPromise(get), close: () => runtime.dispose() }
}

const makeSdk = async () => {
  const { ManagedIdentityCredential } = await import("@azure/identity")
  const { ResourceManagementClient } = await import("@azure/arm-resources")
  const client = new ResourceManagementClient(new ManagedIdentityCredential(), sub, {
    endpoint: env("BENCH_ARM_URL"),
    credentialScopes: ["https://management.azure.com/.default"],
  })
  return { get: () => client.resourceGroups.get(group), close: async () => {} }
}

/**
 * The floor: a bare undici GET of the same URL with the same token (fetched once from IMDS) and a JSON
 * parse of the body — no validation, retries, typed errors or request ids. What any client pays.
 */
const makeFloor = async () => {
  const { Agent, request } = await import("undici")
  const { createSecureContext, rootCertificates } = await import("node:tls")
  const resource = encodeURIComponent("https://management.azure.com/")
  const res = await fetch(
    `${env("BENCH_IMDS_URL")}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${resource}`,
    { headers: { Metadata: "true" } },
  )
  const { access_token } = await res.json()
  const ca = [...rootCertificates, readFileSync(env("BENCH_CA_FILE"), "utf8")]
  const agent = new Agent({ connections: 64, connect: { secureContext: createSecureContext({ ca }) } })
  const url = `${env("BENCH_ARM_URL")}/subscriptions/${sub}/resourcegroups/${group}?api-version=2025-04-01`
  const headers = { authorization: `Bearer ${access_token}`, accept: "application/json" }
  return {
    get: async () => {
      const r = await request(url, { dispatcher: agent, headers })
      const body = JSON.parse(await r.body.text())
      if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`)
      return body
    },
    close: () => agent.close(),
  }
}

const client = lib === "azmi" ? await makeAzmi() : lib === "floor" ? await makeFloor() : await makeSdk()
let ok = 0
let failed = 0
let firstError
const one = () =>
  client.get().then(
    () => {
      ok++
    },
    (e) => {
      failed++
      firstError ??= e instanceof Error ? e.message : String(e)
    },
  )

if (mode === "cold") {
  // 1000 concurrent reads on a cold start: how many token requests does each library make?
  const t0 = performance.now()
  await Promise.all(Array.from({ length: n }, one))
  const ms = performance.now() - t0
  console.log(JSON.stringify({ lib, mode, n, ok, failed, ms, firstError }))
} else {
  for (let i = 0; i < Number(envOr("BENCH_WARMUP", "200")); i++) await one() // warm up: token cached, connections open, JIT
  ok = 0
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++
        await one()
      }
    }),
  )
  const ms = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  // Client CPU per request: what the library itself costs, less sensitive to a busy machine than wall time.
  const cpuMicrosPerGet = (cpu.user + cpu.system) / n
  console.log(
    JSON.stringify({
      lib,
      mode,
      n,
      concurrency,
      ok,
      failed,
      ms,
      perSecond: (ok / ms) * 1000,
      cpuMicrosPerGet,
      firstError,
    }),
  )
}
await client.close()
process.exit(0)
