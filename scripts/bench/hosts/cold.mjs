// One client, 1000 concurrent cold getToken calls, in a process whose environment is exactly the emulated
// host's (so each SDK detects the host itself). Prints one JSON line: how many calls succeeded, how many
// distinct tokens came back, and the first error (if any).
import { createManagedIdentityCredential } from "@azmi/core"
import { ManagedIdentityCredential } from "@azure/identity"

const [client, calls] = [process.argv[2], Number(process.argv[3] ?? 1000)]
const SCOPE = "https://management.azure.com/.default"
const credential = client === "azmi" ? createManagedIdentityCredential() : new ManagedIdentityCredential()
const outcomes = await Promise.allSettled(Array.from({ length: calls }, () => credential.getToken(SCOPE)))
const ok = outcomes.filter((o) => o.status === "fulfilled")
const failed = outcomes.find((o) => o.status === "rejected")
process.stdout.write(
  `${JSON.stringify({
    ok: ok.length,
    tokens: new Set(ok.map((o) => o.value.token)).size,
    error: failed === undefined ? undefined : String(failed.reason?.message ?? failed.reason).slice(0, 200),
  })}\n`,
)
if (client === "azmi") await credential.close()
