import { HttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Redacted, TestClock } from "effect"
import * as ClientSecret from "../src/ClientSecret.js"
import { TokenProvider } from "../src/TokenProvider.js"
import { makeFake, type Step } from "./fixtures/fakeHttp.js"

const SECRET = "sp-secret-value-1234"
const config = {
  tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
  clientId: "b3c1e2d4-5f6a-4b7c-8d9e-0a1b2c3d4e5f",
  clientSecret: Redacted.make(SECRET),
  authorityHost: "https://127.0.0.1:8443",
}

const providerWith = (respond: (n: number) => Step) => {
  const fake = makeFake((n) => respond(n))
  const layer = Layer.scoped(TokenProvider, ClientSecret.make(config)).pipe(
    Layer.provide(Layer.succeed(HttpClient.HttpClient, fake.client)),
  )
  return { fake, layer }
}

const failure = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined

describe("ClientSecret token provider", () => {
  it.effect(
    "POSTs client credentials to {authority}/{tenant}/oauth2/v2.0/token with the .default scope; single-flight",
    () => {
      const { fake, layer } = providerWith(() => ({
        status: 200,
        body: { token_type: "Bearer", expires_in: 3599, ext_expires_in: 3599, access_token: "eyJ.sp.sig" },
        delayMs: 10,
      }))
      return Effect.gen(function* () {
        const tp = yield* TokenProvider
        const fiber = yield* Effect.fork(
          Effect.all(
            Array.from({ length: 100 }, () => tp.getToken("https://management.azure.com/")),
            {
              concurrency: "unbounded",
            },
          ),
        )
        yield* TestClock.adjust("1 second")
        const [t] = yield* Fiber.join(fiber)
        expect(fake.requests).toHaveLength(1)
        const r = fake.requests[0]!
        expect(r.method).toBe("POST")
        expect(r.url.href).toBe(`https://127.0.0.1:8443/${config.tenantId}/oauth2/v2.0/token`)
        const form = new URLSearchParams(r.body)
        expect(Object.fromEntries(form)).toEqual({
          client_id: config.clientId,
          client_secret: SECRET,
          scope: "https://management.azure.com/.default",
          grant_type: "client_credentials",
        })
        expect(Redacted.value(t!.token)).toBe("eyJ.sp.sig")
        expect(t!.resource).toBe("https://management.azure.com/")
        // expires_in counts from when the response arrived (10 ms after the request).
        expect(t!.expiresOn - r.at).toBe(3_599_010)
      }).pipe(Effect.provide(layer))
    },
  )

  it.effect(
    "invalid_client is ClientAuthenticationFailed, not retried, without the secret in the message",
    () => {
      const { fake, layer } = providerWith(() => ({
        status: 401,
        body: {
          error: "invalid_client",
          error_description: "AADSTS7000215: Invalid client secret provided.",
        },
      }))
      return Effect.gen(function* () {
        const exit = yield* Effect.exit(
          Effect.flatMap(TokenProvider, (tp) => tp.getToken("https://management.azure.com/")),
        )
        const error = failure(exit) as Error
        expect(error).toMatchObject({
          _tag: "ClientAuthenticationFailed",
          status: 401,
          error: "invalid_client",
        })
        expect(fake.requests).toHaveLength(1)
        expect(error.message).not.toContain(SECRET)
        expect(JSON.stringify(error)).not.toContain(SECRET)
      }).pipe(Effect.provide(layer))
    },
  )

  it.effect(
    "an unknown client id (AADSTS700016) is ApplicationNotFound naming it and the tenant, not retried (the same Entra decoder as workload identity)",
    () => {
      const { fake, layer } = providerWith(() => ({
        status: 400,
        body: {
          error: "unauthorized_client",
          error_description: `AADSTS700016: Application with identifier '${config.clientId}' was not found in the directory '${config.tenantId}'.\r\nTrace ID: x`,
          error_codes: [700016],
        },
      }))
      return Effect.gen(function* () {
        const exit = yield* Effect.exit(
          Effect.flatMap(TokenProvider, (tp) => tp.getToken("https://management.azure.com/")),
        )
        const error = failure(exit) as Error & { hint: string }
        expect(error).toMatchObject({
          _tag: "ApplicationNotFound",
          clientId: config.clientId,
          tenantId: config.tenantId,
          credential: "client-secret",
        })
        expect(error.hint).toContain("not its object id")
        expect(fake.requests).toHaveLength(1)
      }).pipe(Effect.provide(layer))
    },
  )

  it.effect(
    "503 is retried with backoff; an unreachable authority is TokenRequestFailed, not ImdsUnavailable",
    () => {
      const { fake, layer } = providerWith((n) =>
        n === 1
          ? { status: 503 }
          : n === 2
            ? { status: 200, body: { access_token: "a", expires_in: 60 } }
            : { transport: "ECONNREFUSED" },
      )
      return Effect.gen(function* () {
        const tp = yield* TokenProvider
        const fiber = yield* Effect.fork(tp.getToken("https://management.azure.com/"))
        yield* TestClock.adjust("5 seconds")
        yield* Fiber.join(fiber)
        expect(fake.requests).toHaveLength(2)
        const wait = fake.requests[1]!.at - fake.requests[0]!.at
        expect(wait).toBeGreaterThanOrEqual(800) // 1 s ± 20 % jitter
        expect(wait).toBeLessThanOrEqual(1_200)
        const exit = yield* Effect.exit(tp.getToken("https://vault.azure.net"))
        expect(failure(exit)).toMatchObject({ _tag: "TokenRequestFailed", status: 0, error: "network_error" })
      }).pipe(Effect.provide(layer))
    },
  )
})
