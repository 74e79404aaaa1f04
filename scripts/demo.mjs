#!/usr/bin/env node
// `npm run demo`: the seed quickstart ("Use a Linux VM system-assigned managed identity to access Azure
// Resource Manager") on a simulated Azure VM, with zero configuration: `azmi-emulator run` makes a private
// network namespace where 169.254.169.254 and management.azure.com are a local emulator and nothing else
// exists. Part 1 runs the quickstart's own curl commands verbatim; part 2 the same flow with azmi (each part on
// a fresh VM, scripts/demo/vm.mjs). Where namespaces cannot be made, it says why and runs the azmi flow against
// an emulator on 127.0.0.1 with its endpoints in the environment instead. Nothing leaves this machine.
// Exits non-zero if any step does not do what the quickstart says.
import { spawn } from "node:child_process"
import { join } from "node:path"
import { simulatedVmUnavailable, startEmulator } from "@azmi/emulator"
import { azmiFlow } from "./demo/azmi-flow.mjs"
import { bold, dim, emulatorBin, part, root } from "./demo/terminal.mjs"

/** One part on a fresh simulated VM: `azmi-emulator run -- node scripts/demo/vm.mjs <which>`. */
const onSimulatedVm = (which) =>
  new Promise((resolve, reject) => {
    console.log(dim(`\n  $ azmi-emulator run -- node scripts/demo/vm.mjs ${which}`))
    const child = spawn(
      process.execPath,
      [emulatorBin, "run", "--", process.execPath, join(root, "scripts", "demo", "vm.mjs"), which],
      { stdio: "inherit" },
    )
    child.once("error", reject)
    child.once("close", (code) => resolve(code === 0))
  })

/** Without namespaces: the azmi flow against an emulator on 127.0.0.1, its endpoints in the environment. */
const configured = async () => {
  const emu = await startEmulator()
  try {
    const vmEnv = {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      AZMI_IMDS_ENDPOINT: emu.imdsUrl,
      AZMI_ARM_ENDPOINT: emu.armUrl,
      NODE_EXTRA_CA_CERTS: emu.caCertPath,
    }
    part("The quickstart with azmi, against an emulator on 127.0.0.1")
    console.log(`  export AZMI_IMDS_ENDPOINT=${emu.imdsUrl}`)
    console.log(`  export AZMI_ARM_ENDPOINT=${emu.armUrl}`)
    console.log(`  export NODE_EXTRA_CA_CERTS=${emu.caCertPath}`)
    await azmiFlow({
      vmEnv,
      adminEnv: {
        ...vmEnv,
        AZURE_TENANT_ID: emu.admin.tenantId,
        AZURE_CLIENT_ID: emu.admin.clientId,
        AZURE_CLIENT_SECRET: emu.admin.clientSecret,
        AZURE_AUTHORITY_HOST: emu.loginUrl,
      },
      adminNote: `as the admin service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST=${emu.loginUrl} set for this command only`,
      principalId: emu.vm.systemAssigned?.principalId ?? "",
      subscriptionId: emu.subscriptionId,
      resourceGroup: emu.vm.resourceGroup,
    })
    return true
  } catch (e) {
    console.error(`\ndemo failed: ${e instanceof Error ? e.message : String(e)}`)
    return false
  } finally {
    await emu.close()
  }
}

console.log(
  bold("azmi demo: use a Linux VM system-assigned managed identity to access Azure Resource Manager"),
)
const unavailable = await simulatedVmUnavailable()
let ok
if (unavailable === undefined) {
  console.log("(on a simulated Azure VM: a private network namespace where every Azure address is the local")
  console.log(" emulator and nothing else exists — no endpoint, variable or certificate to configure)")
  ok = (await onSimulatedVm("seed")) && (await onSimulatedVm("azmi"))
  if (ok) {
    console.log(
      `\n${bold("Done:")} the quickstart's curls, then 403 with its fix → Reader granted → token → the resource group with azmi; nothing configured.`,
    )
  }
} else {
  console.log(`\nNo simulated VM on this machine: ${unavailable}`)
  console.log("Falling back to the emulator on 127.0.0.1, with its endpoints in the environment.")
  ok = await configured()
  if (ok)
    console.log(
      `\n${bold("Done:")} 403 with its fix → Reader granted → token → the resource group, all with azmi.`,
    )
}
process.exitCode = ok ? 0 : 1
