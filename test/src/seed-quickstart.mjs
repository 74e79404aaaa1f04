// The seed quickstart's two commands ("Use a Linux VM system-assigned managed identity to access Azure
// Resource Manager"), character for character as it prints them, and the response it shows. Shared by the
// zero-configuration tests (vm-zero-config.test.ts) and `npm run demo`, which run them unchanged inside
// `azmi-emulator run`.

/** Step 3: the access token from the VM's identity. */
export const seedTokenCurl =
  "curl 'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F' -H Metadata:true"

/** Then: read the resource group with it; the quickstart says to replace the three placeholders. */
export const seedArmCurl =
  'curl https://management.azure.com/subscriptions/<SUBSCRIPTION ID>/resourceGroups/<RESOURCE GROUP>?api-version=2016-09-01 -H "Authorization: Bearer <ACCESS TOKEN>"'

/** The quickstart's second command with its placeholders replaced, as its reader does. */
export const fillSeedArmCurl = ({ subscriptionId, resourceGroup, accessToken }) =>
  seedArmCurl
    .replace("<SUBSCRIPTION ID>", subscriptionId)
    .replace("<RESOURCE GROUP>", resourceGroup)
    .replace("<ACCESS TOKEN>", accessToken)

/** The response the quickstart shows for it. */
export const seedGroupResponse = {
  id: "/subscriptions/98f51385-2edc-4b79-bed9-7718de4cb861/resourceGroups/DevTest",
  name: "DevTest",
  location: "westus",
  properties: { provisioningState: "Succeeded" },
}
