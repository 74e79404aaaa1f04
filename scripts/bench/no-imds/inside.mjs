// Runs inside `azmi-emulator run --no-imds` (see ../no-imds.mjs): how long each client takes to give up when
// nothing answers at 169.254.169.254. Prints one JSON line.
import { spawn } from "node:child_process"
import { DefaultAzureCredential, ManagedIdentityCredential } from "@azure/identity"

const SCOPE = "https://management.azure.com/.default"
const [azmiBin, capArg] = process.argv.slice(2)
const capMs = Number(capArg)

const timeGetToken = async (credential) => {
  const started = performance.now()
  const outcome = await Promise.race([
    credential.getToken(SCOPE).then(
      () => "got a token (unexpected)",
      (error) => `${error.name}: ${String(error.message).split("\n")[0].slice(0, 120)}`,
    ),
    new Promise((resolve) => setTimeout(resolve, capMs, "still waiting")).then((r) => r),
  ])
  return { ms: Math.round(performance.now() - started), outcome }
}

const timeAzmi = (args) =>
  new Promise((resolve) => {
    const started = performance.now()
    const child = spawn(process.execPath, [azmiBin, ...args], { stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (d) => {
      stderr += d
    })
    child.once("close", (code) =>
      resolve({
        ms: Math.round(performance.now() - started),
        outcome: `exit ${code}: ${stderr.split("\n")[0]}`,
      }),
    )
  })

const result = {
  azmiStartup: await timeAzmi(["--version"]),
  azmiToken: await timeAzmi(["token"]),
  defaultAzureCredential: await timeGetToken(new DefaultAzureCredential()),
  managedIdentityCredential: await timeGetToken(new ManagedIdentityCredential()),
}
console.log(JSON.stringify(result))
// A ManagedIdentityCredential still waiting keeps sockets open: leave now, the namespace ends with us.
process.exit(0)
