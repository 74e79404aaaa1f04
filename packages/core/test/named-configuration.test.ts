/**
 * Errors and hints name what the user actually set: the option or variable that chose an endpoint or
 * holds a secret, and the budget that actually ran out. A refusal by the identity endpoint (401/403) is an
 * authentication failure, not a transient one.
 */
import type { HttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Fiber, Layer, Redacted, TestClock } from "effect"
import * as AppService from "../src/AppService.js"
import * as ArmClient from "../src/ArmClient.js"
import { AzmiConfig, type ConfigOptions } from "../src/Config.js"
import { errorCategory, type ImdsUnavailable, Timeout, TokenRequestFailed } from "../src/Errors.js"
import { IdentitySelector } from "../src/IdentitySelector.js"
import * as Imds from "../src/Imds.js"
import type { ManagedIdentitySource } from "../src/ManagedIdentitySource.js"
import { imdsPolicy } from "../src/Retry.js"
import { armLayer, fakeArm, fakeTokens } from "./arm-fixtures.js"
import type { Step } from "./fixtures/fakeHttp.js"
import { failureOf, runSource } from "./fixtures/runSource.js"

const resolve = (env: Record<string, string>, options: ConfigOptions = {}) =>
  AzmiConfig.make(options).pipe(
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
  )

/** One token request through `source`, the fake answering every attempt with `step`. */
const tokenFrom = (
  make: Effect.Effect<ManagedIdentitySource["Type"], never, HttpClient.HttpClient>,
  step: Step,
) =>
  Effect.map(
    runSource(make, () => step, IdentitySelector.SystemAssigned()),
    ({ exit, requests }) => ({
      exit,
      requests: requests.length,
    }),
  )

describe("configuration remembers who set what", () => {
  it.effect("each endpoint and secret is named by the option or variable that set it; defaults by none", () =>
    Effect.gen(function* () {
      expect((yield* resolve({})).setBy).toEqual({
        imdsEndpoint: undefined,
        identityEndpoint: undefined,
        identityHeader: undefined,
        armEndpoint: undefined,
      })
      const env = yield* resolve({
        IDENTITY_ENDPOINT: "http://127.0.0.1:41741/msi/token",
        IDENTITY_HEADER: "h",
        AZMI_ARM_ENDPOINT: "https://127.0.0.1:8443",
        AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://127.0.0.1:9090",
      })
      expect(env.setBy).toEqual({
        imdsEndpoint: "AZURE_POD_IDENTITY_AUTHORITY_HOST",
        identityEndpoint: "IDENTITY_ENDPOINT",
        identityHeader: "IDENTITY_HEADER",
        armEndpoint: "AZMI_ARM_ENDPOINT",
      })
      const options = yield* resolve(
        { IDENTITY_HEADER: "h" },
        { identityEndpoint: "http://127.0.0.1:1/msi/token", armEndpoint: "https://127.0.0.1:8443" },
      )
      expect(options.setBy).toMatchObject({
        identityEndpoint: "identityEndpoint",
        identityHeader: "IDENTITY_HEADER",
        armEndpoint: "armEndpoint",
      })
    }),
  )
})

describe("the identity endpoint refuses the caller", () => {
  it.effect(
    "App Service 401 (wrong X-IDENTITY-HEADER): one attempt, AuthenticationFailed, hint names the header's variable",
    () =>
      Effect.gen(function* () {
        const { exit, requests } = yield* tokenFrom(
          AppService.make({
            endpoint: "http://127.0.0.1:1/msi/token",
            header: Redacted.make("wrong"),
            policy: imdsPolicy,
            headerVariable: "IDENTITY_HEADER",
          }),
          { status: 401, body: { statusCode: 401, message: "Unauthorized" } },
        )
        expect(requests).toBe(1)
        const e = failureOf(exit) as TokenRequestFailed
        expect(e).toMatchObject({
          _tag: "TokenRequestFailed",
          status: 401,
          secretVariable: "IDENTITY_HEADER",
        })
        expect(errorCategory(e)).toBe("AuthenticationFailed")
        expect(e.hint).toMatch(/set IDENTITY_HEADER to the secret it expects/)
      }),
  )

  it("401 and 403 are authentication failures; other statuses stay transient", () => {
    const failed = (status: number) => new TokenRequestFailed({ endpoint: "e", status, attempts: 1 })
    expect(errorCategory(failed(401))).toBe("AuthenticationFailed")
    expect(errorCategory(failed(403))).toBe("AuthenticationFailed")
    expect(errorCategory(failed(500))).toBe("Transient")
    expect(failed(403).hint).toBeDefined()
    expect(failed(500).hint).toBe("The endpoint is having trouble; try again later.")
  })
})

describe("nothing listens at an endpoint the user set", () => {
  it.effect("the hint names the variable that chose the endpoint, or none when it is IMDS's own", () =>
    Effect.gen(function* () {
      const refused = { transport: "ECONNREFUSED" } as const
      const named = yield* tokenFrom(
        Imds.make({
          endpoint: "http://127.0.0.1:1",
          policy: imdsPolicy,
          endpointVariable: "AZMI_IMDS_ENDPOINT",
        }),
        refused,
      )
      expect((failureOf(named.exit) as ImdsUnavailable).hint).toMatch(
        /^Nothing answers at AZMI_IMDS_ENDPOINT \(/,
      )
      const broker = yield* tokenFrom(
        AppService.make({
          endpoint: "http://127.0.0.1:1/msi/token",
          header: Redacted.make("h"),
          policy: imdsPolicy,
          endpointVariable: "identityEndpoint",
        }),
        refused,
      )
      const hint = (failureOf(broker.exit) as ImdsUnavailable).hint ?? ""
      expect(hint).toMatch(/^Nothing answers at identityEndpoint \(/)
      expect(hint).not.toContain("AZMI_IMDS_ENDPOINT")
      const imds = yield* tokenFrom(
        Imds.make({ endpoint: "http://127.0.0.1:1", policy: imdsPolicy }),
        refused,
      )
      expect((failureOf(imds.exit) as ImdsUnavailable).hint).toMatch(/^Run on an Azure VM/)
    }),
  )

  it.effect("ARM unreachable names AZMI_ARM_ENDPOINT only when an endpoint was set", () =>
    Effect.gen(function* () {
      const unreachable = <E>(layer: Layer.Layer<ArmClient.ArmClient, E>) =>
        Effect.gen(function* () {
          const fiber = yield* Effect.fork(
            Effect.flip(
              Effect.flatMap(ArmClient.ArmClient, (arm) =>
                arm.send({ method: "GET", path: ["subscriptions"], apiVersion: "2022-12-01" }),
              ).pipe(Effect.provide(layer)),
            ),
          )
          yield* TestClock.adjust("1 minute")
          return yield* Fiber.join(fiber)
        })
      const once = { retry: { maxRetries: 0 } }
      const set = yield* unreachable(
        armLayer(fakeArm(["reset"]), fakeTokens(), { ...once, endpointVariable: "AZMI_ARM_ENDPOINT" }),
      )
      expect(set).toMatchObject({ _tag: "ArmUnreachable", endpointVariable: "AZMI_ARM_ENDPOINT" })
      expect(set.hint).toMatch(/^Check AZMI_ARM_ENDPOINT \(https:\/\/arm\.test\)/)
      // The default endpoint: the fake answers in its place, so nothing is dialled.
      const byDefault = yield* unreachable(
        ArmClient.layer(once).pipe(Layer.provide(Layer.merge(fakeArm(["reset"]).layer, fakeTokens().layer))),
      )
      expect(byDefault).toMatchObject({ _tag: "ArmUnreachable", endpointVariable: undefined })
      expect(byDefault.hint).not.toContain("AZMI_ARM_ENDPOINT")
    }),
  )
})

describe("a timeout names the budget that ran out", () => {
  it.effect("every attempt timing out points at AZMI_ATTEMPT_TIMEOUT_MS, not --timeout", () =>
    Effect.gen(function* () {
      const { exit } = yield* tokenFrom(
        Imds.make({ endpoint: "http://127.0.0.1:1", policy: { ...imdsPolicy, maxRetries: 1, jitter: 0 } }),
        { status: 200, delayMs: 600_000 },
      )
      const e = failureOf(exit) as Timeout
      expect(e).toMatchObject({ _tag: "Timeout", budget: "attempt", millis: 10_000 })
      expect(e.hint).toMatch(/AZMI_ATTEMPT_TIMEOUT_MS/)
      expect(new Timeout({ operation: "o", millis: 1 }).hint).toMatch(/--timeout/)
    }),
  )
})
