// @azure/identity ManagedIdentityCredential, configured by the environment only.
import { ManagedIdentityCredential } from "@azure/identity"
import { report } from "./report.mjs"

const token = await new ManagedIdentityCredential().getToken("https://management.azure.com/.default")
await report(token.token)
