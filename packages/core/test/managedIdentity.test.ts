import { HttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Logger, LogLevel, Metric, Redacted, TestClock } from "effect"
import { IdentitySelector } from "../src/IdentitySelector.js"
import * as Imds from "../src/Imds.js"
import * as ManagedIdentity from "../src/ManagedIdentity.js"
import { ManagedIdentitySource } from "../src/ManagedIdentitySource.js"
import * as Metrics from "../src/Metrics.js"
import { imdsPolicy } from "../src/Retry.js"
import { TokenProvider } from "../src/TokenProvider.js"
import { makeFake, type Step, token } from "./fixtures/fakeHttp.js"

const SECRET = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.super-secret-payload.signature"

const providerWith = (
  respond: (n: number, at: number) => Step,
  selector = IdentitySelector.SystemAssigned(),
  refreshMaxDelayMs?: number,
) => {
  const fake = makeFake((n, r) => respond(n, r.at))
  const layer = Layer.scoped(
    TokenProvider,
    ManagedIdentity.make({ identity: selector, refreshMaxDelayMs }),
  ).pipe(
    Layer.provide(
      Layer.effect(ManagedIdentitySource, Imds.make({ endpoint: "http://127.0.0.1:1", policy: imdsPolicy })),
    ),
    Layer.provide(Layer.succeed(HttpClient.HttpClient, fake.client)),
  )
  return { fake, layer }
}

const ok = (_n: number, at: number): Step => ({ status: 200, body: token(at, 86_400, SECRET) })

describe("ManagedIdentity token provider", () => {
  it.effect(
    "peekToken: nothing before the first getToken, then the cached token synchronously, with no request",
    () => {
      const { fake, layer } = providerWith(ok)
      return Effect.gen(function* () {
        const tp = yield* TokenProvider
        expect(tp.peekToken?.("https://management.azure.com/")).toBeUndefined()
        const fetched = yield* tp.getToken("https://management.azure.com/")
        expect(tp.peekToken?.("https://management.azure.com/")).toBe(fetched)
        // A spelling getToken has not validated yet is not looked up (getToken validates it, once): the
        // scope of the same resource (`https://management.azure.com/` + `.default`) is then a hit too.
        expect(tp.peekToken?.("https://management.azure.com//.default")).toBeUndefined()
        expect(yield* tp.getToken("https://management.azure.com//.default")).toBe(fetched)
        expect(tp.peekToken?.("https://management.azure.com//.default")).toBe(fetched)
        expect(tp.peekToken?.("https://vault.azure.net")).toBeUndefined()
        expect(fake.requests).toHaveLength(1)
        // Past its expiry the token is not answered.
        yield* TestClock.adjust("24 hours")
        expect(tp.peekToken?.("https://management.azure.com/")).toBeUndefined()
      }).pipe(Effect.provide(layer))
    },
  )

  it.effect("1000 concurrent cold getToken calls send exactly one IMDS request", () => {
    const { fake, layer } = providerWith((n, at) => ({ ...ok(n, at), delayMs: 50 }))
    return Effect.gen(function* () {
      const tp = yield* TokenProvider
      const before = (yield* Metric.value(Metrics.imdsRequests)).count
      const fiber = yield* Effect.fork(
        Effect.all(
          Array.from({ length: 1000 }, () => tp.getToken("https://management.azure.com/")),
          {
            concurrency: "unbounded",
          },
        ),
      )
      yield* TestClock.adjust("1 second")
      const tokens = yield* Fiber.join(fiber)
      expect(tokens).toHaveLength(1000)
      expect(fake.requests).toHaveLength(1)
      expect((yield* Metric.value(Metrics.imdsRequests)).count - before).toBe(1)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a scope is turned into its resource; resource and scope share one cache entry", () => {
    const { fake, layer } = providerWith(ok)
    return Effect.gen(function* () {
      const tp = yield* TokenProvider
      const t = yield* tp.getToken("https://management.azure.com//.default")
      yield* tp.getToken("https://management.azure.com/")
      expect(fake.requests).toHaveLength(1)
      expect(fake.requests[0]!.url.searchParams.get("resource")).toBe("https://management.azure.com/")
      expect(Redacted.value(t.token)).toBe(SECRET)
      yield* tp.getToken("https://vault.azure.net/.default")
      expect(fake.requests[1]!.url.searchParams.get("resource")).toBe("https://vault.azure.net")
    }).pipe(Effect.provide(layer))
  })

  it.effect("invalid resources are InvalidInput and never reach the network", () => {
    const { fake, layer } = providerWith(ok)
    return Effect.gen(function* () {
      const tp = yield* TokenProvider
      for (const bad of [
        "",
        "not a url",
        "https://x/ y",
        "https://x/\u0000",
        "ftp://x/",
        "management",
        "https://u:p@x/",
      ]) {
        const exit = yield* Effect.exit(tp.getToken(bad))
        expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error._tag : "none").toBe(
          "InvalidInput",
        )
      }
      const guid = yield* Effect.exit(tp.getToken("0b8f5c4e-1111-2222-3333-444455556666"))
      expect(Exit.isSuccess(guid)).toBe(true)
      expect(fake.requests).toHaveLength(1)
    }).pipe(Effect.provide(layer))
  })

  it.effect("forceRefresh sends a new request", () => {
    const { fake, layer } = providerWith(ok)
    return Effect.gen(function* () {
      const tp = yield* TokenProvider
      yield* tp.getToken("https://management.azure.com/")
      yield* tp.getToken("https://management.azure.com/", { forceRefresh: true })
      expect(fake.requests).toHaveLength(2)
    }).pipe(Effect.provide(layer))
  })

  it.effect("an IMDS outage during a valid token's life is invisible to callers", () => {
    let down = false
    const { fake, layer } = providerWith(
      (n, at) => (down ? { transport: "ECONNREFUSED" } : ok(n, at)),
      IdentitySelector.SystemAssigned(),
      600_000,
    )
    return Effect.gen(function* () {
      const tp = yield* TokenProvider
      const first = yield* tp.getToken("https://management.azure.com/")
      down = true
      yield* TestClock.adjust("12 hours") // refresh_on: half of the 24 h lifetime
      // Walk through the whole second half of the token's life in 30-minute steps.
      let served = 0
      for (let t = 0; t < 23; t++) {
        yield* TestClock.adjust("30 minutes")
        const fiber = yield* Effect.fork(tp.getToken("https://management.azure.com/"))
        for (let i = 0; i < 10; i++) yield* Effect.yieldNow()
        const exit = fiber.unsafePoll()
        if (exit !== null && Exit.isSuccess(exit) && exit.value.expiresOn === first.expiresOn) served++
      }
      expect(served).toBe(23)
      expect(fake.requests.length).toBeGreaterThan(2) // refresh was attempted, and retried
      down = false
      yield* TestClock.adjust("10 minutes") // the next background retry (backoff capped at 10 min here)
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow()
      const renewed = yield* tp.getToken("https://management.azure.com/")
      expect(renewed.expiresOn).toBeGreaterThan(first.expiresOn)
    }).pipe(Effect.provide(layer))
  })

  it.effect("no log line contains the token, through retries, successes and failures", () => {
    const lines: Array<string> = []
    const capture = Logger.make(({ message, annotations }) => {
      lines.push(JSON.stringify({ message, annotations: Object.fromEntries(annotations) }))
    })
    const { layer } = providerWith((n, at) =>
      n === 1
        ? { status: 500, body: { error: "server_error" } }
        : n === 2
          ? ok(n, at)
          : { status: 200, body: { access_token: SECRET } },
    )
    return Effect.gen(function* () {
      const tp = yield* TokenProvider
      const fiber = yield* Effect.fork(tp.getToken("https://management.azure.com/"))
      yield* TestClock.adjust("5 seconds")
      const t = yield* Fiber.join(fiber)
      yield* Effect.logInfo("got token", t)
      const bad = yield* Effect.exit(tp.getToken("https://vault.azure.net/"))
      expect(Exit.isFailure(bad)).toBe(true)
      if (Exit.isFailure(bad)) yield* Effect.logError("failed", bad.cause)
      expect(lines.length).toBeGreaterThan(3)
      expect(lines.some((l) => l.includes("retrying"))).toBe(true)
      for (const line of lines) expect(line).not.toContain("super-secret-payload")
    }).pipe(
      Effect.provide(layer),
      Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
      Logger.withMinimumLogLevel(LogLevel.All),
    )
  })
})
