// ARM benchmark against the emulator (loopback only):
//  1. resource-group `get`: client CPU per read and throughput of azmi over its two ARM wires (the undici
//     bypass, the default, and @effect/platform's HttpClient) and of @azure/arm-resources 7.0.0
//     (+ ManagedIdentityCredential), beside the floor (a bare undici GET and a JSON parse), in interleaved
//     rounds, with paired ratios;
//  2. token requests made for 1000 concurrent group reads on a cold start, both libraries.
// Each measurement runs in a fresh child process (scripts/bench/arm/worker.mjs) that trusts the emulator's
// CA through NODE_EXTRA_CA_CERTS. The emulator's throttling is switched off so it measures the clients.
import { spawn } from "node:child_process"
import { availableParallelism, loadavg } from "node:os"
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

    // Every side runs once per round, in a rotating order, each in a fresh process; the median of each is
    // reported, and the ratios are taken per round (paired) before their median. The machine is shared:
    // client CPU per read (what the client itself costs) is steadier than reads per second.
    const n = 3000
    const concurrency = 32
    const rounds = 5
    const sides = [
      { key: "floor", label: "floor: bare undici GET + JSON.parse", lib: "floor" },
      { key: "azmi", label: "azmi, undici wire (default)", lib: "azmi", env: { BENCH_TRANSPORT: "undici" } },
      {
        key: "platform",
        label: "azmi, @effect/platform HttpClient wire",
        lib: "azmi",
        env: { BENCH_TRANSPORT: "http-client" },
      },
      { key: "sdk", label: "@azure/arm-resources 7.0.0", lib: "sdk" },
    ]
    const load = [loadavg()[0]]
    const runs = Object.fromEntries(sides.map((s) => [s.key, []]))
    for (let round = 0; round < rounds; round++) {
      const order = sides.map((_, i) => sides[(i + round) % sides.length])
      for (const side of order) {
        const r = await runWorker(emu, side.lib, "throughput", {
          BENCH_N: String(n),
          BENCH_CONCURRENCY: String(concurrency),
          ...side.env,
        })
        if (r.failed > 0) throw new Error(`${side.key} throughput: ${r.failed} failed (${r.firstError})`)
        console.log(
          `  round ${round + 1} ${side.key.padEnd(8)}: ${fmt(r.perSecond).padStart(6)} gets/s, ${fmt(r.cpuMicrosPerGet).padStart(4)} µs client CPU per get`,
        )
        runs[side.key].push(r)
      }
      load.push(loadavg()[0])
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
    const best = Object.fromEntries(
      sides.map(({ key }) => [
        key,
        {
          perSecond: median(runs[key].map((r) => r.perSecond)),
          cpuMicrosPerGet: median(runs[key].map((r) => r.cpuMicrosPerGet)),
        },
      ]),
    )
    const paired = (over, under) =>
      median(runs[over].map((r, i) => r.cpuMicrosPerGet / runs[under][i].cpuMicrosPerGet))
    const ratios = {
      sdkOverAzmi: paired("sdk", "azmi"),
      platformOverUndici: paired("platform", "azmi"),
      azmiOverFloor: paired("azmi", "floor"),
    }

    // Cold start: fresh process, nothing cached, 1000 concurrent reads; count IMDS token requests.
    const cold = {}
    for (const lib of ["azmi", "sdk"]) {
      emu.requests.reset()
      const r = await runWorker(emu, lib, "cold", { BENCH_N: "1000" })
      cold[lib] = { ...r, tokenRequests: emu.requests.count({ target: "imds-token" }) }
    }

    console.log(
      `\nresource-group get against the emulator (HTTPS on 127.0.0.1, ${n} gets at concurrency ${concurrency}, median of ${rounds} interleaved rounds; load average ${load.map((l) => l.toFixed(1)).join(" → ")} on ${availableParallelism()} cores)`,
    )
    console.log(
      `  ${"".padEnd(40)} ${"gets/s".padStart(8)} ${"µs CPU/get".padStart(11)} ${"× floor".padStart(8)}`,
    )
    for (const { key, label } of sides) {
      const b = best[key]
      console.log(
        `  ${label.padEnd(40)} ${fmt(b.perSecond).padStart(8)} ${fmt(b.cpuMicrosPerGet).padStart(11)} ${fmt(b.cpuMicrosPerGet / best.floor.cpuMicrosPerGet, 2).padStart(8)}`,
      )
    }
    console.log(
      `  CPU per get, paired per round: @azure/arm-resources / azmi ${fmt(ratios.sdkOverAzmi, 2)}x (goal ≥ 1.5), platform HttpClient wire / undici wire ${fmt(ratios.platformOverUndici, 2)}x, azmi / floor ${fmt(ratios.azmiOverFloor, 2)}x`,
    )
    console.log("\n1000 concurrent group reads on a cold start")
    for (const lib of ["azmi", "sdk"]) {
      const c = cold[lib]
      const name = lib === "azmi" ? "azmi" : "@azure/arm-resources + identity"
      console.log(
        `  ${name.padEnd(32)} ${String(c.tokenRequests).padStart(5)} token request(s), ${c.ok} ok / ${c.failed} failed, ${fmt(c.ms)} ms${c.firstError ? ` (first error: ${c.firstError})` : ""}`,
      )
    }
    return { throughput: best, ratios, cold }
  } finally {
    await emu.close()
  }
}
