// ARM benchmark against the emulator (loopback only):
//  1. resource-group `get` throughput, azmi vs @azure/arm-resources 7.0.0 (+ ManagedIdentityCredential), as a ratio;
//  2. token requests made for 1000 concurrent group reads on a cold start, both libraries.
// Each measurement runs in a fresh child process (scripts/bench/arm/worker.mjs) that trusts the emulator's
// CA through NODE_EXTRA_CA_CERTS. The emulator's throttling is switched off so it measures the clients.
import { spawn } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const worker = join(dirname(fileURLToPath(import.meta.url)), "arm", "worker.mjs")

const runWorker = (emu, lib, mode, extraEnv = {}) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [worker, lib, mode], {
      env: {
        PATH: process.env.PATH,
        NODE_EXTRA_CA_CERTS: emu.caCertPath,
        AZURE_POD_IDENTITY_AUTHORITY_HOST: emu.imdsUrl,
        BENCH_ARM_URL: emu.armUrl,
        BENCH_IMDS_URL: emu.imdsUrl,
        BENCH_CA_FILE: emu.caCertPath,
        BENCH_SUB: emu.subscriptionId,
        BENCH_GROUP: "DevTest",
        ...extraEnv,
      },
      stdio: ["ignore", "pipe", "pipe"],
    })
    let out = ""
    let err = ""
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000)
    child.stdout.on("data", (d) => {
      out += d
    })
    child.stderr.on("data", (d) => {
      err += d
    })
    child.on("close", (code) => {
      clearTimeout(timer)
      const line = out.trim().split("\n").pop() ?? ""
      try {
        resolve(JSON.parse(line))
      } catch {
        reject(new Error(`${lib} ${mode} worker exited ${code}: ${err.slice(-800) || out.slice(-800)}`))
      }
    })
  })

/** Reader for the VM on DevTest, granted through azmi as the admin service principal (client secret). */
const grantReader = async (emu) => {
  await grantWithAzmi(emu)
  return "azmi (client secret)"
}

const grantWithAzmi = async (emu) => {
  const { Azmi, RoleAssignments } = await import("@azmi/core")
  const { Effect } = await import("effect")
  const grant = Effect.flatMap(RoleAssignments, (ra) =>
    ra.create({
      scope: `/subscriptions/${emu.subscriptionId}/resourceGroups/DevTest`,
      principalId: emu.vm.systemAssigned.principalId,
      role: "Reader",
    }),
  )
  await Effect.runPromise(
    grant.pipe(
      Effect.provide(
        Azmi.layer({
          credential: "client-secret",
          tenantId: emu.admin.tenantId,
          clientId: emu.admin.clientId,
          clientSecret: emu.admin.clientSecret,
          authorityHost: emu.loginUrl,
          imdsEndpoint: emu.imdsUrl,
          armEndpoint: emu.armUrl,
          caCert: emu.caCert,
        }),
      ),
    ),
  )
}

const fmt = (x, digits = 0) => x.toLocaleString("en-US", { maximumFractionDigits: digits })

export default async function armBench() {
  const { startEmulator } = await import("@azmi/emulator")
  const emu = await startEmulator({
    limits: {
      imdsRequestsPerSecond: Number.POSITIVE_INFINITY,
      imdsConcurrency: Number.POSITIVE_INFINITY,
      armReadBucket: Number.POSITIVE_INFINITY,
      armReadRefillPerSecond: Number.POSITIVE_INFINITY,
    },
  })
  try {
    const grantedVia = await grantReader(emu)
    console.log(`  VM granted Reader on DevTest via ${grantedVia}`)

    // Throughput: alternate the libraries over several rounds and take each one's median; the machine is
    // shared, so client CPU per get (less sensitive to other load than wall time) is reported as well.
    const n = 3000
    const concurrency = 32
    const rounds = 3
    const runs = { azmi: [], sdk: [] }
    for (let round = 1; round <= rounds; round++) {
      for (const lib of ["azmi", "sdk"]) {
        const r = await runWorker(emu, lib, "throughput", {
          BENCH_N: String(n),
          BENCH_CONCURRENCY: String(concurrency),
        })
        if (r.failed > 0) throw new Error(`${lib} throughput: ${r.failed} failed (${r.firstError})`)
        console.log(
          `  round ${round} ${lib.padEnd(4)}: ${fmt(r.perSecond)} gets/s, ${fmt(r.cpuMicrosPerGet)} µs client CPU per get`,
        )
        runs[lib].push(r)
      }
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
    const best = Object.fromEntries(
      Object.entries(runs).map(([lib, rs]) => [
        lib,
        {
          perSecond: median(rs.map((r) => r.perSecond)),
          cpuMicrosPerGet: median(rs.map((r) => r.cpuMicrosPerGet)),
        },
      ]),
    )

    // Cold start: fresh process, nothing cached, 1000 concurrent reads; count IMDS token requests.
    const cold = {}
    for (const lib of ["azmi", "sdk"]) {
      emu.requests.reset()
      const r = await runWorker(emu, lib, "cold", { BENCH_N: "1000" })
      cold[lib] = { ...r, tokenRequests: emu.requests.count({ target: "imds-token" }) }
    }

    console.log(
      `\nresource-group get against the emulator (HTTPS on 127.0.0.1, ${n} gets at concurrency ${concurrency}, median of ${rounds})`,
    )
    console.log(
      `  azmi                          ${fmt(best.azmi.perSecond).padStart(8)} gets/s  ${fmt(best.azmi.cpuMicrosPerGet).padStart(6)} µs CPU/get`,
    )
    console.log(
      `  @azure/arm-resources 7.0.0    ${fmt(best.sdk.perSecond).padStart(8)} gets/s  ${fmt(best.sdk.cpuMicrosPerGet).padStart(6)} µs CPU/get`,
    )
    console.log(
      `  ratio azmi / sdk (throughput) ${fmt(best.azmi.perSecond / best.sdk.perSecond, 2).padStart(8)}x`,
    )
    console.log("\n1000 concurrent group reads on a cold start")
    for (const lib of ["azmi", "sdk"]) {
      const c = cold[lib]
      const name = lib === "azmi" ? "azmi" : "@azure/arm-resources + identity"
      console.log(
        `  ${name.padEnd(32)} ${String(c.tokenRequests).padStart(5)} token request(s), ${c.ok} ok / ${c.failed} failed, ${fmt(c.ms)} ms${c.firstError ? ` (first error: ${c.firstError})` : ""}`,
      )
    }
    return { throughput: best, cold }
  } finally {
    await emu.close()
  }
}
