import { randomUUID } from "node:crypto"
import { readFileSync } from "node:fs"
import { AuthorizationManagementClient } from "@azure/arm-authorization"
import { ResourceManagementClient } from "@azure/arm-resources"
import { ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential } from "@azure/identity"

const info = JSON.parse(readFileSync(process.env.AZMI_EMULATOR_INFO, "utf8"))
const admin = new ClientSecretCredential(info.admin.tenantId, info.admin.clientId, info.admin.clientSecret)
const auth = new AuthorizationManagementClient(admin, info.subscriptionId)
const scope = `/subscriptions/${info.subscriptionId}/resourceGroups/DevTest`
await auth.roleAssignments.create(scope, randomUUID(), {
  roleDefinitionId: `/subscriptions/${info.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7`,
  principalId: info.vm.systemAssigned.principalId,
  principalType: "ServicePrincipal",
})
for (const cred of [new ManagedIdentityCredential(), new DefaultAzureCredential()]) {
  const client = new ResourceManagementClient(cred, info.subscriptionId)
  const g = await client.resourceGroups.get("DevTest")
  console.log(cred.constructor.name, g.name, g.location)
}
