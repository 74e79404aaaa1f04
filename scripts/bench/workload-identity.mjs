// Workload identity (AKS) against the emulator's federation (loopback only): token requests made by azmi vs
// @azure/identity 4.13.1 for 1000 concurrent cold getToken calls on a fresh credential, then 1000 sequential
// calls on the same one — counted by the emulator. azmi: one per token lifetime (single-flight,
// refresh-ahead cache); @azure/identity's ManagedIdentityCredential builds a new WorkloadIdentityCredential
// and makes a token request on every call; its WorkloadIdentityCredential caches (MSAL) but does not
// share a request between concurrent callers.
// The emulator runs as its own process (its CA must be in NODE_EXTRA_CA_CERTS when the measuring process
// starts); the measurement runs in a child whose environment is the emulator's `env` alone. Bounded: fixed
// call counts; both processes are ended here.
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { runNode } from "./lib/child.mjs"
import { startChild } from "./support/servers.mjs"

const here = dirname(fileURLToPath(import.meta.url))
const emulatorBin = join(here, "..", "..", "packages", "emulator", "bin", "azmi-emulator.mjs")
const measure = join(here, "workload-identity", "measure.mjs")

const run = async (env) => {
  const { code, stdout, stderr } = await runNode([measure], env)
  if (code !== 0) throw new Error(`measurement exited ${code}: ${stderr.trim()}`)
  return JSON.parse(stdout)
}

export default async function workloadIdentity() {
  // Its one line (the start-up summary) is JSON; started within 30 s, or killed and the bench fails.
  const emu = await startChild([emulatorBin, "--source", "workload-identity"], {})
  try {
    const rows = await run({
      ...emu.env,
      PATH: process.env.PATH ?? "",
      AZMI_BENCH_CONTROL_URL: emu.controlUrl,
    })
    console.log("Token requests (POST /oauth2/v2.0/token) on AKS workload identity, counted by the emulator:")
    console.table(
      rows.map((r) => ({
        client: r.client,
        "cold (1000 concurrent): requests": r.cold,
        "cold: ms": Math.round(r.coldMs),
        "then 1000 sequential: requests": r.sequential,
        "sequential: ms": Math.round(r.sequentialMs),
      })),
    )
    console.log(rows.map((r) => `${r.client}: ${r.cold} + ${r.sequential}`).join("; "))
    return rows
  } finally {
    await emu.stop()
  }
}
