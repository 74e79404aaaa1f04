// Runs inside a process whose environment is `azmi-emulator --source workload-identity`'s start-up line
// `env` (the webhook's variables and the emulator's CA in NODE_EXTRA_CA_CERTS, read when Node starts).
// For each client: COLD concurrent getToken calls on a fresh credential, then SEQUENTIAL calls on the same
// one; the token requests each phase made, counted by the emulator (POSTs to /oauth2/v2.0/token).
// Prints one JSON line.
const COLD = Number(process.env.BENCH_COLD ?? 1000)
const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 1000)
const control = process.env.AZMI_BENCH_CONTROL_URL
const SCOPE = "https://management.azure.com/.default"
const ARM = "https://management.azure.com/"

const tokenRequests = async () => {
  const q = new URLSearchParams({ target: "login", method: "POST", pathIncludes: "/oauth2/v2.0/token" })
  const res = await fetch(`${control}/_emulator/requests?${q}`)
  return (await res.json()).counts.total
}
const resetRequests = () => fetch(`${control}/_emulator/requests`, { method: "DELETE" })

/** COLD concurrent calls then SEQUENTIAL calls of `getToken`, with the token requests and time of each. */
const phases = async (getToken) => {
  await resetRequests()
  const t0 = performance.now()
  await Promise.all(Array.from({ length: COLD }, () => getToken()))
  const coldMs = performance.now() - t0
  const cold = await tokenRequests()
  await resetRequests()
  const t1 = performance.now()
  for (let i = 0; i < SEQUENTIAL; i++) await getToken()
  const sequentialMs = performance.now() - t1
  const sequential = await tokenRequests()
  return { cold, coldMs, sequential, sequentialMs }
}

const { Effect, Layer, ManagedRuntime } = await import("effect")
const core = await import("@azmi/core")
const { ManagedIdentityCredential, WorkloadIdentityCredential } = await import("@azure/identity")

const rows = []

// azmi, Effect API: the workload-identity credential from the webhook's variables.
{
  const runtime = ManagedRuntime.make(
    core.WorkloadIdentity.layer({
      _tag: "WorkloadIdentity",
      tokenFile: process.env.AZURE_FEDERATED_TOKEN_FILE,
      tenantId: process.env.AZURE_TENANT_ID,
      clientId: process.env.AZURE_CLIENT_ID,
      authorityHost: process.env.AZURE_AUTHORITY_HOST,
    }).pipe(Layer.provide(core.HttpTransport.layer())),
  )
  try {
    const getToken = () => runtime.runPromise(Effect.flatMap(core.TokenProvider, (tp) => tp.getToken(ARM)))
    rows.push({ client: "azmi WorkloadIdentity (Effect API)", ...(await phases(getToken)) })
  } finally {
    await runtime.dispose()
  }
}

// azmi, Promise facade: detects workload identity from the environment like @azure/identity.
{
  const credential = core.createManagedIdentityCredential()
  try {
    rows.push({
      client: "azmi createManagedIdentityCredential (Promise)",
      ...(await phases(() => credential.getToken(SCOPE))),
    })
  } finally {
    await credential.close()
  }
}

// @azure/identity's own workload-identity credential (MSAL's in-memory cache, no single-flight). Instance
// discovery off: it would ask login.microsoftonline.com, which must not be dialled.
{
  const credential = new WorkloadIdentityCredential({ disableInstanceDiscovery: true })
  rows.push({
    client: "@azure/identity WorkloadIdentityCredential",
    ...(await phases(() => credential.getToken(SCOPE))),
  })
}

// @azure/identity's ManagedIdentityCredential on AKS: a new WorkloadIdentityCredential per call.
{
  const credential = new ManagedIdentityCredential({ clientId: process.env.AZURE_CLIENT_ID })
  rows.push({
    client: "@azure/identity ManagedIdentityCredential",
    ...(await phases(() => credential.getToken(SCOPE))),
  })
}

process.stdout.write(`${JSON.stringify(rows)}\n`)
