// @azure/identity DefaultAzureCredential, configured by the environment only (what most programs use).
import { DefaultAzureCredential } from "@azure/identity"
import { report } from "./report.mjs"

const token = await new DefaultAzureCredential().getToken("https://management.azure.com/.default")
await report(token.token)
