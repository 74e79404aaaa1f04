// Every Azure host the emulator plays, side by side: 1000 concurrent cold getToken calls in a fresh process
// whose environment is exactly the host's (`startEmulator({ source }).env`), azmi's Promise facade
// (createManagedIdentityCredential) vs @azure/identity 4.13.1 ManagedIdentityCredential — and how many
// requests each made to the host's token endpoint (counted by the emulator; for Arc both the challenged and
// the answered request count). Workload identity is the `workload-identity` bench's (the same cold calls
// and more: the Effect API, @azure/identity's WorkloadIdentityCredential, 1000 sequential calls), so it is
// not measured twice. Bounded: one run per client and host; everything started here is closed here.
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { EMULATOR_SOURCES, startEmulator } from "@azmi/emulator"
import { runNode } from "./lib/child.mjs"

const COLD = 1000
const child = join(dirname(fileURLToPath(import.meta.url)), "hosts", "cold.mjs")

/** One client's cold calls in a fresh process whose environment is the host's. */
const cold = async (client, env) => {
  const { code, stdout, stderr } = await runNode([child, client, String(COLD)], {
    ...env,
    PATH: process.env.PATH ?? "",
  })
  try {
    return JSON.parse(stdout.trim().split("\n").pop() ?? "")
  } catch {
    return { ok: 0, tokens: 0, error: `exit ${code}: ${stderr.trim().split("\n").pop() ?? ""}` }
  }
}

export default async function hosts() {
  const rows = []
  const errors = []
  for (const source of EMULATOR_SOURCES.filter((s) => s !== "workload-identity")) {
    const emu = await startEmulator({
      source,
      limits: { imdsRequestsPerSecond: Number.POSITIVE_INFINITY, imdsConcurrency: Number.POSITIVE_INFINITY },
    })
    try {
      const target = `${source}-token`
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
  console.log("workload identity: see the workload-identity bench")
  return rows
}
