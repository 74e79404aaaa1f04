// How long clients take to give up where there is no IMDS (a laptop, a container): measured inside
// `azmi-emulator run --no-imds`, a private network namespace where packets to 169.254.169.254 are dropped —
// the only place this may be dialled. azmi token (a process, start-up included; `azmi --version` is its
// start-up alone) vs @azure/identity 4.13.1: DefaultAzureCredential (which probes IMDS for 1 s) and a bare
// ManagedIdentityCredential (which does not), each waited for at most CAP_MS.
// Skipped, saying why, where namespaces cannot be made. Bounded: one run of each, CAP_MS at most.
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { simulatedVmUnavailable } from "@azmi/emulator"
import { runNode } from "./lib/child.mjs"

const CAP_MS = 30_000
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const emulatorBin = join(root, "packages", "emulator", "bin", "azmi-emulator.mjs")
const azmiBin = join(root, "apps", "cli", "dist", "azmi.mjs")
const inside = join(dirname(fileURLToPath(import.meta.url)), "no-imds", "inside.mjs")

const run = (args) => runNode(args, { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" })

export default async function noImds() {
  const unavailable = await simulatedVmUnavailable()
  if (unavailable !== undefined) {
    console.log(`skipped: no simulated VM on this machine: ${unavailable}`)
    return
  }
  const r = await run([
    emulatorBin,
    "run",
    "--no-imds",
    "--",
    process.execPath,
    inside,
    azmiBin,
    String(CAP_MS),
  ])
  if (r.code !== 0) throw new Error(`the measurement failed (exit ${r.code}): ${r.stderr.trim()}`)
  const result = JSON.parse(r.stdout)
  const row = (client, { ms, outcome }) => ({
    client,
    "gives up after":
      outcome === "still waiting" ? `> ${CAP_MS / 1000} s (still waiting)` : `${(ms / 1000).toFixed(2)} s`,
    outcome,
  })
  console.table([
    row("azmi --version (process start-up alone)", result.azmiStartup),
    row("azmi token (process)", result.azmiToken),
    row("@azure/identity DefaultAzureCredential", result.defaultAzureCredential),
    row("@azure/identity ManagedIdentityCredential", result.managedIdentityCredential),
  ])
  console.log(
    `no IMDS: azmi token exits 3 after ${(result.azmiToken.ms / 1000).toFixed(2)} s; DefaultAzureCredential gives up after ${(result.defaultAzureCredential.ms / 1000).toFixed(2)} s; a bare ManagedIdentityCredential ${result.managedIdentityCredential.outcome === "still waiting" ? `was still waiting after ${CAP_MS / 1000} s` : `gave up after ${(result.managedIdentityCredential.ms / 1000).toFixed(2)} s`}`,
  )
}
