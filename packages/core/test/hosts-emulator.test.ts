/**
 * What azmi promises on IMDS, on every other host the emulator plays (`startEmulator({ source })`), with
 * exactly the host's environment (`emu.env`) and nothing else: detection picks the host, 1000 concurrent
 * cold getToken calls cause one token request (the Effect API and the Promise facade), tokens stay
 * Redacted; and on a host without IMDS instance metadata says so at once. Arc also runs with a
 * user-assigned identity the emulator echoes back.
 */
import {
  DEFAULT_RESOURCE_GROUP,
  DEFAULT_SUBSCRIPTION_ID,
  defaultWorld,
  type Emulator,
  type EmulatorSource,
  startEmulator,
  userAssignedIdentityResourceId,
  type World,
} from "@azmi/emulator"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import * as Azmi from "../src/Azmi.js"
import { AzureHost } from "../src/AzureHost.js"
import { createManagedIdentityCredential } from "../src/Credential.js"
import { errorCategory } from "../src/Errors.js"
import { IdentitySelector } from "../src/IdentitySelector.js"
import { InstanceMetadata } from "../src/InstanceMetadata.js"
import * as ManagedIdentity from "../src/ManagedIdentity.js"
import { TokenProvider } from "../src/TokenProvider.js"

const ARM = "https://management.azure.com/"
const UAMI_CLIENT = "7e6d5c4b-3a29-4817-8f6e-5d4c3b2a1908"

type Host = "workload-identity" | "app-service" | "arc" | "service-fabric" | "cloud-shell" | "azure-ml"
const HOSTS: ReadonlyArray<readonly [Host & EmulatorSource, string, boolean]> = [
  // An AKS node has an IMDS too (the emulator's env names it); the pod's tokens come from Entra.
  ["workload-identity", "workload identity", true],
  ["app-service", "App Service", false],
  ["arc", "Azure Arc", false],
  ["service-fabric", "Service Fabric", true],
  ["cloud-shell", "Cloud Shell", false],
  ["azure-ml", "Azure ML", true],
]

/** The default world plus an Arc server with a system-assigned and a user-assigned identity. */
const arcWorld = (): World => {
  const w = defaultWorld()
  const uami = {
    name: "arcWorkload",
    subscriptionId: DEFAULT_SUBSCRIPTION_ID,
    resourceGroup: DEFAULT_RESOURCE_GROUP,
    principalId: "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d",
    clientId: UAMI_CLIENT,
  }
  return {
    ...w,
    userAssignedIdentities: [uami],
    hosts: [
      {
        kind: "arc",
        name: "myArcServer",
        subscriptionId: DEFAULT_SUBSCRIPTION_ID,
        resourceGroup: DEFAULT_RESOURCE_GROUP,
        systemAssigned: {
          principalId: "5b3e4c6a-8d9f-4a0b-9c2d-3e4f5a6b7c83",
          clientId: "6c4f5d7b-9e0a-4b1c-8d3e-4f5a6b7c8d94",
        },
        userAssigned: [userAssignedIdentityResourceId(uami)],
      },
    ],
  }
}

/**
 * The host's variables as the whole environment — plus, since this process started before the emulator
 * (Node reads `NODE_EXTRA_CA_CERTS` only at start-up), its CA as `AZMI_CA_CERT_FILE` for Entra over https.
 */
const hostEnv = (env: Readonly<Record<string, string>>): Record<string, string> =>
  env.NODE_EXTRA_CA_CERTS === undefined ? { ...env } : { ...env, AZMI_CA_CERT_FILE: env.NODE_EXTRA_CA_CERTS }

/** Runs `effect` with the host's variables as the whole environment. */
const onHost = (env: Readonly<Record<string, string>>) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(hostEnv(env)))))

for (const [source, name, hasImds] of HOSTS) {
  describe(`--source ${source}: detected as ${name}; azmi's promises hold`, () => {
    let emu: Emulator
    beforeAll(async () => {
      emu = await startEmulator({
        source,
        limits: {
          imdsRequestsPerSecond: Number.POSITIVE_INFINITY,
          imdsConcurrency: Number.POSITIVE_INFINITY,
        },
      })
    })
    afterAll(async () => {
      await emu?.close()
    })
    const tokenRequests = () =>
      source === "workload-identity"
        ? emu.requests.count({
            target: "login",
            method: "POST",
            pathIncludes: "/oauth2/v2.0/token",
            status: 200,
          })
        : emu.requests.count({ target: `${source}-token`, status: 200 })

    it.live(
      "1000 concurrent cold getToken calls (Effect API) → one token request; the token is Redacted",
      () =>
        Effect.gen(function* () {
          const before = tokenRequests()
          const tp = yield* TokenProvider
          const tokens = yield* Effect.all(
            Array.from({ length: 1000 }, () => tp.getToken(ARM)),
            { concurrency: "unbounded" },
          )
          expect(tokens).toHaveLength(1000)
          expect(tokenRequests() - before).toBe(1)
          expect(tp.description).toContain(`via ${name}`)
          const t = tokens[0]!
          expect(String(t.token)).toBe("<redacted>")
          expect(JSON.stringify(t)).not.toContain(Redacted.value(t.token))
        }).pipe(Effect.provide(ManagedIdentity.layer().pipe(Layer.provide(onHost(emu.env))))),
    )

    it.live("AzureHost names the host and the variables that decided it", () =>
      Effect.gen(function* () {
        const host = yield* AzureHost
        expect(host.displayName).toBe(name)
        expect(host.decidedBy.length).toBeGreaterThan(0)
        for (const variable of host.decidedBy) expect(emu.env).toHaveProperty(variable)
        // The host's report and the instance-metadata service agree (one rule: Config.hasImds).
        expect(host.hasImds).toBe(hasImds)
        const metadata = yield* Effect.either((yield* InstanceMetadata).compute)
        if (hasImds) {
          expect(metadata._tag).toBe("Right")
        } else {
          expect(metadata._tag).toBe("Left")
          if (metadata._tag === "Left") {
            expect(metadata.left._tag).toBe("NoInstanceMetadata")
            expect(metadata.left.message).toBe(
              `${name} has no instance metadata service (IMDS): there is no VM metadata to read on this host.`,
            )
            expect(errorCategory(metadata.left)).toBe("CredentialUnavailable")
          }
        }
      }).pipe(Effect.provide(Azmi.layer().pipe(Layer.provide(onHost(emu.env))))),
    )

    it("the Promise facade: 1000 concurrent cold getToken calls → one token request", async () => {
      const saved = { ...process.env }
      for (const key of Object.keys(process.env)) delete process.env[key]
      Object.assign(process.env, hostEnv(emu.env))
      const credential = createManagedIdentityCredential()
      try {
        const before = tokenRequests()
        const tokens = await Promise.all(
          Array.from({ length: 1000 }, () => credential.getToken("https://management.azure.com/.default")),
        )
        expect(new Set(tokens.map((t) => t.token)).size).toBe(1)
        expect(tokenRequests() - before).toBe(1)
      } finally {
        await credential.close()
        for (const key of Object.keys(process.env)) delete process.env[key]
        Object.assign(process.env, saved)
      }
    })
  })
}

describe("--source arc with a user-assigned identity: confirmed by the emulator's echo", () => {
  let emu: Emulator
  beforeAll(async () => {
    emu = await startEmulator({ source: "arc", world: arcWorld() })
  })
  afterAll(async () => {
    await emu?.close()
  })
  const withIdentity = (clientId: string) =>
    ManagedIdentity.layer({ identity: IdentitySelector.ClientId({ clientId }) }).pipe(
      Layer.provide(onHost(emu.env)),
    )

  it.live("the server's user-assigned identity, named by client id, gets its own token", () =>
    Effect.gen(function* () {
      const tp = yield* TokenProvider
      const t = yield* tp.getToken(ARM)
      expect(t.clientId).toBe(UAMI_CLIENT)
    }).pipe(Effect.provide(withIdentity(UAMI_CLIENT))),
  )

  it.live("an identity the Arc server does not have is IdentityNotFound", () =>
    Effect.gen(function* () {
      const tp = yield* TokenProvider
      const result = yield* Effect.either(tp.getToken(ARM))
      expect(result._tag === "Left" && result.left._tag).toBe("IdentityNotFound")
    }).pipe(Effect.provide(withIdentity("1e2d3c4b-5a69-4788-8776-a5b4c3d2e1f0"))),
  )
})
