/**
 * A token that is already expired (or expires within TokenResponse.MIN_REMAINING_LIFETIME_MS) is refused
 * with TokenAlreadyExpired by every source, never handed on as a success.
 */
import { HttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Fiber, Layer, Redacted, TestClock } from "effect"
import * as AppService from "../src/AppService.js"
import * as ClientSecret from "../src/ClientSecret.js"
import { errorCategory, type TokenAlreadyExpired } from "../src/Errors.js"
import { IdentitySelector } from "../src/IdentitySelector.js"
import * as Imds from "../src/Imds.js"
import { imdsPolicy } from "../src/Retry.js"
import * as TokenResponse from "../src/TokenResponse.js"
import { makeFake, type Step } from "./fixtures/fakeHttp.js"

const ARM = "https://management.azure.com/"
const NOW = Date.UTC(2026, 0, 1)

describe("TokenResponse.decode refuses a token with no useful life left", () => {
  const decode = (body: object) => TokenResponse.decode({ access_token: "tok", ...body }, NOW, ARM)
  it("expires_on in the past, now, or within the minimum remaining lifetime", () => {
    for (const expiresOn of [NOW - 3_600_000, NOW, NOW + TokenResponse.MIN_REMAINING_LIFETIME_MS - 1_000]) {
      expect(decode({ expires_on: String(expiresOn / 1000) })).toEqual(
        Either.left({ field: "expires_on", detail: "the token is already expired", expiredAt: expiresOn }),
      )
    }
    expect(decode({ expires_in: "0" })).toMatchObject({ left: { expiredAt: NOW } })
  })
  it("accepts one that still has the minimum remaining lifetime", () => {
    const expiresOn = NOW + TokenResponse.MIN_REMAINING_LIFETIME_MS
    expect(decode({ expires_on: String(expiresOn / 1000) })).toMatchObject({ right: { expiresOn } })
  })
})

/** The fake answers every attempt with a token that expired an hour before the TestClock's now. */
const expired = (_n: number, at: number): Step => ({
  status: 200,
  body: {
    access_token: "eyJ.stale.sig",
    expires_on: String(Math.floor(at / 1000) - 3_600),
    token_type: "Bearer",
  },
})

const attempt = <E>(
  make: (client: HttpClient.HttpClient) => Effect.Effect<unknown, E>,
): Effect.Effect<{ error: unknown; requests: number }> =>
  Effect.gen(function* () {
    yield* TestClock.setTime(NOW)
    const fake = makeFake((n, r) => expired(n, r.at))
    const fiber = yield* Effect.fork(Effect.exit(make(fake.client)))
    for (let i = 0; i < 100 && fiber.unsafePoll() === null; i++) yield* TestClock.adjust("1 second")
    const exit = yield* Fiber.join(fiber)
    return {
      error: Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined,
      requests: fake.requests.length,
    }
  })

const expectRefused = (r: { error: unknown; requests: number }, endpoint: string) => {
  expect(r.requests).toBe(1)
  expect(r.error).toMatchObject({
    _tag: "TokenAlreadyExpired",
    endpoint,
    expiresOn: NOW - 3_600_000,
    receivedAt: NOW,
  })
  const e = r.error as TokenAlreadyExpired
  expect(e.message).toContain("2025-12-31T23:00:00.000Z")
  expect(e.message).not.toContain("stale")
  expect(e.hint).toMatch(/clock/)
  expect(errorCategory(e)).toBe("Transient")
}

const provide = (client: HttpClient.HttpClient) =>
  Effect.provide(Layer.succeed(HttpClient.HttpClient, client))

describe("every source refuses an expired token", () => {
  it.effect("IMDS", () =>
    Effect.gen(function* () {
      const r = yield* attempt((client) =>
        Effect.flatMap(Imds.make({ endpoint: "http://127.0.0.1:1", policy: imdsPolicy }), (s) =>
          s.requestToken(ARM, IdentitySelector.SystemAssigned()),
        ).pipe(provide(client)),
      )
      expectRefused(r, "http://127.0.0.1:1/metadata/identity/oauth2/token")
    }),
  )

  it.effect("App Service", () =>
    Effect.gen(function* () {
      const r = yield* attempt((client) =>
        Effect.flatMap(
          AppService.make({
            endpoint: "http://127.0.0.1:1/msi/token",
            header: Redacted.make("h"),
            policy: imdsPolicy,
          }),
          (s) => s.requestToken(ARM, IdentitySelector.SystemAssigned()),
        ).pipe(provide(client)),
      )
      expectRefused(r, "http://127.0.0.1:1/msi/token")
    }),
  )

  it.effect("service principal", () =>
    Effect.gen(function* () {
      const config = {
        tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
        clientId: "b3c1e2d4-5f6a-4b7c-8d9e-0a1b2c3d4e5f",
        clientSecret: Redacted.make("s"),
        authorityHost: "https://127.0.0.1:8443",
      }
      const r = yield* attempt((client) => ClientSecret.requestToken(client, config, ARM, imdsPolicy))
      expectRefused(r, `https://127.0.0.1:8443/${config.tenantId}/oauth2/v2.0/token`)
    }),
  )
})
