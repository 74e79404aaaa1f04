// The quickstart with azmi: 403 with the fix → Reader granted by the admin → token → the resource group.
// The same steps run on the simulated VM (no configuration) and in the fallback (endpoints in the environment).
import { azmi, check, dim, title } from "./terminal.mjs"

/**
 * @param {{ vmEnv: Record<string, string>, adminEnv: Record<string, string>, adminNote: string,
 *   principalId: string, subscriptionId: string, resourceGroup: string }} vm
 */
export const azmiFlow = async (vm) => {
  const scope = `/subscriptions/${vm.subscriptionId}/resourceGroups/${vm.resourceGroup}`

  title("Use the VM's identity to call Resource Manager (no access granted yet)")
  const denied = await azmi(["group", "show"], vm.vmEnv)
  check(denied.code === 4, `expected exit 4 (authorization failed), got ${denied.code}`)
  check(
    /AuthorizationFailed|Authorization failed/.test(denied.stderr),
    "expected the AuthorizationFailed error",
  )
  check(/HINT: .*azmi role assignment create/.test(denied.stderr), "expected the hint with the grant command")

  title("Grant your VM access to a Resource Group in Azure Resource Manager")
  console.log(dim(`  (${vm.adminNote})`))
  const grant = await azmi(
    [
      "role",
      "assignment",
      "create",
      "--assignee-object-id",
      vm.principalId,
      "--role",
      "Reader",
      "--scope",
      scope,
      "-o",
      "table",
    ],
    vm.adminEnv,
  )
  check(grant.code === 0, `expected the role assignment to succeed, got exit ${grant.code}`)

  title("Get an access token using the VM's system-assigned managed identity")
  const query = "claims.{aud: aud, oid: oid, exp: exp}"
  const token = await azmi(["token", "--decode", "--query", query], vm.vmEnv, {
    shown: ["token", "--decode", "--query", `'${query}'`],
  })
  check(token.code === 0, `expected a token, got exit ${token.code}`)
  check(JSON.parse(token.stdout).oid === vm.principalId, "expected the token to be the VM identity's")

  title("Use the access token to call Resource Manager and read the Resource Group")
  // No names given: subscription and group default to the VM's own, read from instance metadata.
  const group = await azmi(["group", "show"], vm.vmEnv)
  check(group.code === 0, `expected the group, got exit ${group.code}`)
  check(JSON.parse(group.stdout).name === vm.resourceGroup, `expected the ${vm.resourceGroup} group`)
}
