// Every Azure host the emulator plays, side by side: 1000 concurrent cold getToken calls in a fresh process
// whose environment is exactly the host's (`startEmulator({ source }).env`), azmi's Promise facade
// (createManagedIdentityCredential) vs @azure/identity 4.13.1 ManagedIdentityCredential — and how many
// requests each made to the host's token endpoint (counted by the emulator; for Arc both the challenged and
// the answered request count; workload identity's go to the login server). Bounded: one run per client and
// host; everything started here is closed here.
import { spawn } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { EMULATOR_SOURCES, startEmulator } from "@azmi/emulator"

const COLD = 1000
const child = join(dirname(fileURLToPath(import.meta.url)), "hosts", "cold.mjs")

const cold = (client, env) =>
  new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, client, String(COLD)], {
      env: { ...env, PATH: process.env.PATH ?? "" },
      stdio: ["ignore", "pipe", "pipe"],
    })
    let stdout = ""
    let stderr = ""
    p.stdout.on("data", (d) => {
      stdout += d
    })
    p.stderr.on("data", (d) => {
      stderr += d
    })
    p.once("error", reject)
    p.once("close", (code) => {
      try {
        resolve(JSON.parse(stdout.trim().split("\n").pop() ?? ""))
      } catch {
        resolve({ ok: 0, tokens: 0, error: `exit ${code}: ${stderr.trim().split("\n").pop() ?? ""}` })
      }
    })
  })

export default async function hosts() {
  const rows = []
  const errors = []
  for (const source of EMULATOR_SOURCES) {
    const emu = await startEmulator({
      source,
      limits: { imdsRequestsPerSecond: Number.POSITIVE_INFINITY, imdsConcurrency: Number.POSITIVE_INFINITY },
    })
    try {
      const target = source === "workload-identity" ? "login" : `${source}-token`
      const row = { host: source }
      for (const client of ["azmi", "@azure/identity"]) {
        emu.requests.reset()
        const outcome = await cold(client, emu.env)
        const requests = emu.requests.count({ target })
        row[`${client}: requests`] = requests
        row[`${client}: ok`] = `${outcome.ok}/${COLD}`
        if (outcome.error !== undefined) errors.push(`${source}, ${client}: ${outcome.error}`)
      }
      rows.push(row)
    } finally {
      await emu.close()
    }
  }
  console.log(`Token requests for ${COLD} concurrent cold getToken calls, per host (fresh process each):`)
  console.table(rows)
  for (const e of errors) console.log(`first error — ${e}`)
  return rows
}
