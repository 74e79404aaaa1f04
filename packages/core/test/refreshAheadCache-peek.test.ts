import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Exit, Metric, Ref, Scope, TestClock } from "effect"
import * as RefreshAheadCache from "../src/RefreshAheadCache.js"

interface V {
  readonly n: number
  readonly expiresOn: number
  readonly refreshOn: number
}

/** A lookup that counts calls; values live 10 s and are due for refresh after 6 s. */
const makeLookup = Effect.gen(function* () {
  const calls = yield* Ref.make(0)
  const lookup = (_key: string) =>
    Effect.gen(function* () {
      const n = yield* Ref.updateAndGet(calls, (c) => c + 1)
      const now = yield* Clock.currentTimeMillis
      return { n, expiresOn: now + 10_000, refreshOn: now + 6_000 } satisfies V
    })
  return { calls, lookup }
})

describe("RefreshAheadCache.peek", () => {
  it.scoped("answers nothing for a cold key and starts no lookup", () =>
    Effect.gen(function* () {
      const { calls, lookup } = yield* makeLookup
      const cache = yield* RefreshAheadCache.make({ lookup })
      expect(cache.peek("k")).toBeUndefined()
      expect(yield* Ref.get(calls)).toBe(0)
      expect(yield* cache.size).toBe(0)
    }),
  )

  it.scoped(
    "answers the valid value synchronously (by the cache's clock), a new one after refresh-ahead",
    () =>
      Effect.gen(function* () {
        const { calls, lookup } = yield* makeLookup
        const cache = yield* RefreshAheadCache.make({ lookup })
        const first = yield* cache.get("k")
        expect(cache.peek("k")).toBe(first)
        expect(cache.peek("other")).toBeUndefined()
        yield* TestClock.adjust("5999 millis")
        expect(cache.peek("k")).toBe(first)
        expect(yield* Ref.get(calls)).toBe(1)
        // Due for refresh: peek still answers the cached value and starts one background refresh.
        yield* TestClock.adjust("1 millis")
        expect(cache.peek("k")).toBe(first)
        expect(cache.peek("k")).toBe(first)
        yield* Effect.yieldNow()
        expect(yield* Ref.get(calls)).toBe(2)
        const second = cache.peek("k")
        expect(second?.n).toBe(2)
        expect(second?.refreshOn).toBe(first.refreshOn + 6_000)
        expect(yield* Ref.get(calls)).toBe(2)
      }),
  )

  it.scoped("a refresh started by peek that fails leaves the valid value served and is retried", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make(0)
      const lookup = (_key: string) =>
        Effect.gen(function* () {
          const n = yield* Ref.updateAndGet(calls, (c) => c + 1)
          if (n === 2) return yield* Effect.fail("unavailable" as const)
          const now = yield* Clock.currentTimeMillis
          return { n, expiresOn: now + 10_000, refreshOn: now + 6_000 } satisfies V
        })
      const cache = yield* RefreshAheadCache.make({ lookup, refreshBaseDelayMs: 1_000 })
      yield* cache.get("k")
      yield* TestClock.adjust("6 seconds")
      expect(cache.peek("k")?.n).toBe(1)
      yield* Effect.yieldNow()
      expect(yield* Ref.get(calls)).toBe(2) // failed, retry scheduled in 1 s
      expect(cache.peek("k")?.n).toBe(1) // no second refresh while the first retries
      expect(yield* Ref.get(calls)).toBe(2)
      yield* TestClock.adjust("1 second")
      expect(yield* Ref.get(calls)).toBe(3)
      expect(cache.peek("k")?.n).toBe(3)
    }),
  )

  it.effect("closing the cache's scope interrupts a refresh that peek started", () =>
    Effect.gen(function* () {
      const interrupted = yield* Ref.make(false)
      const calls = yield* Ref.make(0)
      const lookup = (_key: string) =>
        Effect.gen(function* () {
          const n = yield* Ref.updateAndGet(calls, (c) => c + 1)
          if (n === 2) return yield* Effect.onInterrupt(Effect.never, () => Ref.set(interrupted, true))
          const now = yield* Clock.currentTimeMillis
          return { n, expiresOn: now + 10_000, refreshOn: now + 6_000 } satisfies V
        })
      const scope = yield* Scope.make()
      const cache = yield* Scope.extend(RefreshAheadCache.make({ lookup }), scope)
      yield* cache.get("k")
      yield* TestClock.adjust("6 seconds")
      expect(cache.peek("k")?.n).toBe(1)
      yield* Effect.yieldNow()
      expect(yield* Ref.get(calls)).toBe(2)
      yield* Scope.close(scope, Exit.void)
      expect(yield* Ref.get(interrupted)).toBe(true)
    }),
  )

  it.scoped("never answers an expired value (expiry skew included)", () =>
    Effect.gen(function* () {
      const { lookup } = yield* makeLookup
      // With a 5 s skew the value counts as expired before its refresh time.
      const cache = yield* RefreshAheadCache.make({ lookup, expirySkewMs: 5_000 })
      yield* cache.get("k")
      yield* TestClock.adjust("4999 millis")
      expect(cache.peek("k")?.n).toBe(1)
      yield* TestClock.adjust("1 millis")
      expect(cache.peek("k")).toBeUndefined()
    }),
  )

  it.scoped("counts a hit for every answer and nothing for a miss", () =>
    Effect.gen(function* () {
      const { lookup } = yield* makeLookup
      const hits = Metric.counter("test_peek_hits", { incremental: true })
      const misses = Metric.counter("test_peek_misses", { incremental: true })
      const cache = yield* RefreshAheadCache.make({ lookup, hits, misses })
      const h0 = (yield* Metric.value(hits)).count
      const m0 = (yield* Metric.value(misses)).count
      expect(cache.peek("k")).toBeUndefined()
      yield* cache.get("k")
      cache.peek("k")
      cache.peek("k")
      expect((yield* Metric.value(hits)).count - h0).toBe(2)
      expect((yield* Metric.value(misses)).count - m0).toBe(1)
    }),
  )

  it.scoped("a peeked key counts as used, so the least recently used other key is evicted", () =>
    Effect.gen(function* () {
      const { calls, lookup } = yield* makeLookup
      const cache = yield* RefreshAheadCache.make({ lookup, capacity: 2 })
      yield* cache.get("a")
      yield* TestClock.adjust("1 millis")
      yield* cache.get("b")
      yield* TestClock.adjust("1 millis")
      expect(cache.peek("a")?.n).toBe(1)
      yield* TestClock.adjust("1 millis")
      yield* cache.get("c") // evicts b, not a
      expect(cache.peek("a")?.n).toBe(1)
      expect(cache.peek("b")).toBeUndefined()
      expect(yield* Ref.get(calls)).toBe(3)
    }),
  )
})
