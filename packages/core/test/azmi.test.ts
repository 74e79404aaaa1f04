/**
 * `Azmi.layer` wires configuration, transport, credential and the ARM services: checked end to end
 * against the emulator.
 */
import { type Emulator, startEmulator } from "@azmi/emulator"
import { ConfigProvider, Effect, Either, Layer, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Azmi from "../src/Azmi.js"
import * as HttpTransport from "../src/HttpTransport.js"
import { ResourceGroups } from "../src/ResourceGroups.js"
import { RoleAssignments } from "../src/RoleAssignments.js"
import { TokenProvider } from "../src/TokenProvider.js"
import { adminLayer } from "./arm-emulator-fixtures.js"
import { fakeArm, rg } from "./arm-fixtures.js"

let emu: Emulator
beforeAll(async () => {
  emu = await startEmulator()
})
afterAll(async () => {
  await emu?.close()
})

const vmOptions = (): Azmi.AzmiOptions => ({
  credential: "managed-identity",
  imdsEndpoint: emu.imdsUrl,
  armEndpoint: emu.armUrl,
  caCert: emu.caCert,
})

/** Runs with an empty environment, so the machine's variables cannot leak into the test. */
const run = <A, E, R>(effect: Effect.Effect<A, E, R>, layer: Layer.Layer<R, unknown>) =>
  Effect.runPromise(
    Effect.either(Effect.provide(effect, layer)).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map())),
    ),
  )

describe("Azmi.layer", () => {
  it("runs the seed flow: managed identity token → 403 → (admin grants Reader) → 200", async () => {
    const get = Effect.flatMap(ResourceGroups, (g) => g.get(emu.subscriptionId, "DevTest"))
    const denied = await run(get, Azmi.layer(vmOptions()))
    expect(Either.isLeft(denied) && (denied.left as { _tag: string })._tag).toBe("AuthorizationFailed")

    const principalId = emu.vm.systemAssigned?.principalId as string
    const granted = await run(
      Effect.flatMap(RoleAssignments, (ra) =>
        ra.create({
          scope: `/subscriptions/${emu.subscriptionId}/resourceGroups/DevTest`,
          principalId,
          role: "Reader",
        }),
      ),
      Layer.orDie(adminLayer(emu)),
    )
    expect(Either.isRight(granted)).toBe(true)

    emu.requests.reset()
    const read = await run(get, Azmi.layer(vmOptions()))
    expect(Either.isRight(read) && read.right.value.name).toBe("DevTest")
    // The ARM request carried a token the emulator issued for the management audience.
    expect(emu.requests.count({ target: "imds-token" })).toBe(1)
    expect(emu.requests.count({ target: "arm", pathIncludes: "/DevTest" })).toBe(1)
  })

  it("shares one token between ARM calls and exposes the credential", async () => {
    emu.requests.reset()
    const program = Effect.gen(function* () {
      const tp = yield* TokenProvider
      const g = yield* ResourceGroups
      yield* Effect.all([g.exists(emu.subscriptionId, "DevTest"), g.exists(emu.subscriptionId, "DevTest")], {
        concurrency: 2,
      })
      return tp.description
    })
    const res = await run(program, Azmi.layer(vmOptions()))
    expect(Either.isRight(res) && res.right).toContain("managed identity")
    expect(emu.requests.count({ target: "imds-token" })).toBe(1)
  })

  it("refuses an ARM endpoint that would send the token in clear text", async () => {
    emu.requests.reset()
    const res = await run(
      Effect.flatMap(ResourceGroups, (g) => g.get(emu.subscriptionId, "DevTest")),
      Azmi.layer({ ...vmOptions(), armEndpoint: "http://arm.example.com" }),
    )
    expect(Either.isLeft(res) && (res.left as { _tag: string })._tag).toBe("InvalidConfiguration")
    expect(emu.requests.count()).toBe(0)
  })

  it("a token for the wrong audience is InvalidAuthenticationToken(Audience), not retried", async () => {
    emu.requests.reset()
    const res = await run(
      Effect.flatMap(ResourceGroups, (g) => g.get(emu.subscriptionId, "DevTest")),
      Azmi.layer({ ...vmOptions(), armAudience: "https://storage.azure.com/" }),
    )
    expect(Either.isLeft(res) && res.left).toMatchObject({
      _tag: "InvalidAuthenticationToken",
      reason: "Audience",
    })
    expect(emu.requests.count({ target: "arm" })).toBe(1)
  })

  it("reads AZMI_ARM_ENDPOINT from the environment", async () => {
    const get = Effect.flatMap(ResourceGroups, (g) => g.exists(emu.subscriptionId, "DevTest"))
    const env = ConfigProvider.fromMap(new Map([["AZMI_ARM_ENDPOINT", emu.armUrl]]))
    const { armEndpoint: _drop, ...rest } = vmOptions()
    emu.requests.reset()
    const res = await Effect.runPromise(
      Effect.either(Effect.provide(get, Azmi.layer(rest))).pipe(Effect.withConfigProvider(env)),
    )
    expect(Either.isRight(res) && res.right).toBe(true)
    expect(emu.requests.count({ target: "arm" })).toBe(1)
  })

  it("sends ARM requests through an injected HttpClient layer (armTransport); tokens still come from IMDS", async () => {
    const arm = fakeArm([{ status: 200, body: rg("DevTest") }])
    emu.requests.reset()
    const program = Effect.gen(function* () {
      const read = yield* Effect.flatMap(ResourceGroups, (g) => g.get(emu.subscriptionId, "DevTest"))
      const token = yield* Effect.flatMap(TokenProvider, (tp) => tp.getToken("https://management.azure.com/"))
      return { read, token: Redacted.value(token.token) }
    })
    const res = await run(program, Azmi.layer({ ...vmOptions(), armTransport: arm.layer }))
    expect(Either.isRight(res) && res.right.read.value.name).toBe("DevTest")
    expect(emu.requests.count({ target: "arm" })).toBe(0)
    expect(emu.requests.count({ target: "imds-token" })).toBe(1)
    expect(arm.requests).toHaveLength(1)
    const sent = arm.requests[0]
    expect(sent?.url.href).toBe(
      `${emu.armUrl}/subscriptions/${emu.subscriptionId}/resourcegroups/DevTest?api-version=2025-04-01`,
    )
    // The same headers as the undici wire sends: azmi's user agent, the credential's token, a request id.
    expect(sent?.headers["user-agent"]).toBe(HttpTransport.USER_AGENT)
    expect(sent?.headers.authorization).toBe(`Bearer ${Either.isRight(res) ? res.right.token : "?"}`)
    expect(sent?.headers["x-ms-client-request-id"]).toMatch(/^[0-9a-f-]{36}$/)
  })

  it("reads and fails the same over the platform HttpClient (armTransport: http-client) as over undici", async () => {
    const get = Effect.flatMap(ResourceGroups, (g) => g.get(emu.subscriptionId, "DevTest"))
    const missing = Effect.flatMap(ResourceGroups, (g) => g.get(emu.subscriptionId, "NoSuchGroup"))
    for (const armTransport of ["undici", "http-client"] as const) {
      emu.requests.reset()
      const layer = Azmi.layer({ ...vmOptions(), armTransport })
      const read = await run(get, layer)
      expect(Either.isRight(read) && read.right.value.name, armTransport).toBe("DevTest")
      const absent = await run(missing, layer)
      // Reader on DevTest only: another group is not the VM's to read (ARM says 403, not 404).
      expect(Either.isLeft(absent) && (absent.left as { _tag: string })._tag, armTransport).toBe(
        "AuthorizationFailed",
      )
      expect(emu.requests.count({ target: "arm" }), armTransport).toBe(2)
    }
  })
})
