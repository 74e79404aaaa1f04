// Runs ON the simulated VM (`azmi-emulator run -- node scripts/demo/vm.mjs seed|azmi`), with no Azure
// configuration: 169.254.169.254 and management.azure.com are the emulator, its CA is trusted, and nothing
// else is reachable. The admin's credentials (for the grant, the quickstart's portal step) come from the file
// AZMI_EMULATOR_INFO names, set for that one command only.
import { readFileSync } from "node:fs"
import { fillSeedArmCurl, seedTokenCurl } from "../../test/src/seed-quickstart.mjs"
import { azmiFlow } from "./azmi-flow.mjs"
import { azmi, check, dim, part, sh, title } from "./terminal.mjs"

const info = JSON.parse(readFileSync(process.env.AZMI_EMULATOR_INFO ?? "", "utf8"))
const principalId = info.vm.systemAssigned.principalId
const adminEnv = {
  ...process.env,
  AZURE_TENANT_ID: info.admin.tenantId,
  AZURE_CLIENT_ID: info.admin.clientId,
  AZURE_CLIENT_SECRET: info.admin.clientSecret,
}
const adminNote =
  "as the emulator's admin, Owner of the subscription: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET from $AZMI_EMULATOR_INFO, for this command only"

/** The quickstart's curl commands, character for character. */
const seed = async () => {
  part("Part 1. The quickstart's own commands, verbatim, on a simulated Azure VM — nothing configured")

  title("Grant your VM access to a Resource Group in Azure Resource Manager")
  console.log(dim(`  (the quickstart does this in the portal; here: ${adminNote})`))
  const scope = `/subscriptions/${info.subscriptionId}/resourceGroups/${info.vm.resourceGroup}`
  const grant = await azmi(
    [
      "role",
      "assignment",
      "create",
      "--assignee-object-id",
      principalId,
      "--role",
      "Reader",
      "--scope",
      scope,
      "-o",
      "none",
    ],
    adminEnv,
  )
  check(grant.code === 0, `expected the role assignment to succeed, got exit ${grant.code}`)

  title("Get an access token using the VM's system-assigned managed identity")
  const token = await sh("/bin/sh", ["-c", seedTokenCurl], {
    shown: seedTokenCurl,
    quietStderr: true,
    // Shown like the quickstart shows it: the token itself cut short.
    hide: (s) => s.replace(/("access_token":")([^"]{10})[^"]*"/, '$1$2..."'),
  })
  check(token.code === 0, `expected the token, got curl exit ${token.code}`)
  const response = JSON.parse(token.stdout)
  check(response.token_type === "Bearer", "expected a Bearer token")

  title("Use it to call Resource Manager and read the Resource Group")
  console.log(
    dim("  (<SUBSCRIPTION ID>, <RESOURCE GROUP> and <ACCESS TOKEN> filled in, the token from a variable)"),
  )
  const armCurl = fillSeedArmCurl({
    subscriptionId: info.subscriptionId,
    resourceGroup: info.vm.resourceGroup,
    accessToken: "$ACCESS_TOKEN",
  })
  const group = await sh("/bin/sh", ["-c", armCurl], {
    env: { ...process.env, ACCESS_TOKEN: response.access_token },
    shown: armCurl,
    quietStderr: true,
  })
  check(group.code === 0, `expected the group, got curl exit ${group.code}`)
  check(
    JSON.parse(group.stdout).name === info.vm.resourceGroup,
    `expected the ${info.vm.resourceGroup} group`,
  )
}

const withAzmi = async () => {
  part("Part 2. The same with azmi, on a fresh simulated Azure VM — nothing configured")
  await azmiFlow({
    vmEnv: process.env,
    adminEnv,
    adminNote,
    principalId,
    subscriptionId: info.subscriptionId,
    resourceGroup: info.vm.resourceGroup,
  })
}

try {
  await (process.argv[2] === "seed" ? seed() : withAzmi())
} catch (e) {
  console.error(`\ndemo failed: ${e instanceof Error ? e.message : String(e)}`)
  process.exitCode = 1
}
