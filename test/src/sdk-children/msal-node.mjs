// MSAL Node ManagedIdentityApplication (system-assigned), configured by the environment only.
import { ManagedIdentityApplication } from "@azure/msal-node"
import { report } from "./report.mjs"

const result = await new ManagedIdentityApplication({}).acquireToken({
  resource: "https://management.azure.com/",
})
await report(result.accessToken)
