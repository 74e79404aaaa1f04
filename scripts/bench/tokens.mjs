// Token benchmark against the emulator (loopback only), azmi vs @azure/identity 4.13.1 ManagedIdentityCredential:
//  1. IMDS requests caused by 1000 concurrent cold getToken calls (counted by the emulator);
//  2. the cost of a cached getToken: azmi's Effect API, azmi's Promise facade, @azure/identity; and the ratios.
// The emulator's IMDS throttling is switched off so the cold case measures the clients, not the limiter.
// Bounded: fixed iteration counts; everything started here is closed here.
import { startEmulator } from "@azmi/emulator"

const ARM = "https://management.azure.com/"
const SCOPE = "https://management.azure.com/.default"
const COLD = 1000

const ROUNDS = 3

// The best of ROUNDS timed runs (this machine is shared; the minimum is the least disturbed figure).
const bestNsPerCall = async (calls, run) => {
  let best = Number.POSITIVE_INFINITY
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint()
    await run(calls)
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / calls)
  }
  return best
}

export default async function tokens() {
  const emu = await startEmulator({
    armTls: false,
    limits: { imdsRequestsPerSecond: Number.POSITIVE_INFINITY, imdsConcurrency: Number.POSITIVE_INFINITY },
  })
  // @azure/identity reads its endpoint from the environment when it is first used: point it at the
  // emulator, like a user on a pod would, and clear every variable that would send it elsewhere
  // (App Service, Cloud Shell, Arc, Service Fabric, workload identity, a user-assigned client id).
  const sdkEnv = {
    AZURE_POD_IDENTITY_AUTHORITY_HOST: emu.imdsUrl,
    IDENTITY_ENDPOINT: undefined,
    IDENTITY_HEADER: undefined,
    IDENTITY_SERVER_THUMBPRINT: undefined,
    IMDS_ENDPOINT: undefined,
    MSI_ENDPOINT: undefined,
    MSI_SECRET: undefined,
    AZURE_CLIENT_ID: undefined,
    AZURE_FEDERATED_TOKEN_FILE: undefined,
  }
  const previousEnv = Object.fromEntries(Object.keys(sdkEnv).map((k) => [k, process.env[k]]))
  const setEnv = (vars) => {
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
  setEnv(sdkEnv)
  const rows = []
  try {
    const { Effect, ManagedRuntime } = await import("effect")
    const core = await import("@azmi/core")
    const { ManagedIdentityCredential } = await import("@azure/identity")

    // --- azmi, Effect API ---
    const runtime = ManagedRuntime.make(core.ManagedIdentity.layer({ imdsEndpoint: emu.imdsUrl }))
    let effectCold
    let effectNs
    try {
      emu.requests.reset()
      const cold = Effect.flatMap(core.TokenProvider, (tp) =>
        Effect.all(
          Array.from({ length: COLD }, () => tp.getToken(ARM)),
          { concurrency: "unbounded" },
        ),
      )
      await runtime.runPromise(cold)
      effectCold = emu.requests.count({ target: "imds-token" })
      const loop = (n) =>
        Effect.flatMap(core.TokenProvider, (tp) =>
          Effect.gen(function* () {
            for (let i = 0; i < n; i++) yield* tp.getToken(ARM)
          }),
        )
      await runtime.runPromise(loop(20_000)) // warm-up
      effectNs = await bestNsPerCall(200_000, (n) => runtime.runPromise(loop(n)))
    } finally {
      await runtime.dispose()
    }

    // --- azmi, Promise facade ---
    const credential = core.createManagedIdentityCredential({ imdsEndpoint: emu.imdsUrl })
    let facadeCold
    let facadeNs
    try {
      emu.requests.reset()
      await Promise.all(Array.from({ length: COLD }, () => credential.getToken(SCOPE)))
      facadeCold = emu.requests.count({ target: "imds-token" })
      for (let i = 0; i < 20_000; i++) await credential.getToken(SCOPE)
      facadeNs = await bestNsPerCall(200_000, async (n) => {
        for (let i = 0; i < n; i++) await credential.getToken(SCOPE)
      })
    } finally {
      await credential.close()
    }

    // --- @azure/identity ---
    const sdk = new ManagedIdentityCredential()
    emu.requests.reset()
    await Promise.all(Array.from({ length: COLD }, () => sdk.getToken(SCOPE)))
    const sdkCold = emu.requests.count({ target: "imds-token" })
    for (let i = 0; i < 5_000; i++) await sdk.getToken(SCOPE)
    const sdkNs = await bestNsPerCall(20_000, async (n) => {
      for (let i = 0; i < n; i++) await sdk.getToken(SCOPE)
    })

    rows.push(
      { client: "azmi (Effect API)", coldImdsRequests: effectCold, cachedNsPerCall: effectNs },
      { client: "azmi (Promise facade)", coldImdsRequests: facadeCold, cachedNsPerCall: facadeNs },
      { client: "@azure/identity 4.13.1", coldImdsRequests: sdkCold, cachedNsPerCall: sdkNs },
    )
    console.log(
      `IMDS requests for ${COLD} concurrent cold getToken calls, and the cost of a cached getToken (best of ${ROUNDS} runs):`,
    )
    console.table(
      rows.map((r) => ({
        client: r.client,
        [`IMDS requests (${COLD} cold calls)`]: r.coldImdsRequests,
        "cached getToken (µs/call)": (r.cachedNsPerCall / 1000).toFixed(3),
        "vs @azure/identity": `${(sdkNs / r.cachedNsPerCall).toFixed(1)}× cheaper`,
      })),
    )
    console.log(
      `cold: azmi ${effectCold} / ${facadeCold} request(s) vs @azure/identity ${sdkCold}; cached: Effect API ${(sdkNs / effectNs).toFixed(1)}×, Promise facade ${(sdkNs / facadeNs).toFixed(1)}× cheaper than @azure/identity`,
    )
    return rows
  } finally {
    setEnv(previousEnv)
    await emu.close()
  }
}
