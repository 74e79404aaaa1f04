import { describe, expect, it } from "@effect/vitest"
import { Clock, Deferred, Duration, Effect, Exit, Fiber, Metric, Ref, TestClock } from "effect"
import * as RefreshAheadCache from "../src/RefreshAheadCache.js"

interface V {
  readonly n: number
  readonly expiresOn: number
  readonly refreshOn: number
}

const HOUR = 3_600_000

/** A lookup that counts calls and can be switched to fail or to take time. */
const makeLookup = Effect.gen(function* () {
  const calls = yield* Ref.make(0)
  const mode = yield* Ref.make<{ fail: boolean; delayMs: number; lifetimeMs: number }>({
    fail: false,
    delayMs: 0,
    lifetimeMs: 24 * HOUR,
  })
  const lookup = (_key: string) =>
    Effect.gen(function* () {
      const n = yield* Ref.updateAndGet(calls, (c) => c + 1)
      const m = yield* Ref.get(mode)
      if (m.delayMs > 0) yield* Effect.sleep(Duration.millis(m.delayMs))
      if (m.fail) return yield* Effect.fail(`fetch ${n} failed` as const)
      const now = yield* Clock.currentTimeMillis
      return { n, expiresOn: now + m.lifetimeMs, refreshOn: now + m.lifetimeMs / 2 } satisfies V
    })
  return { calls, mode, lookup }
})

/** Let forked fibers run without moving the clock. */
const settle = Effect.gen(function* () {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
})

describe("RefreshAheadCache", () => {
  it.scoped("1000 concurrent cold callers cause exactly one lookup", () =>
    Effect.gen(function* () {
      const { calls, mode, lookup } = yield* makeLookup
      yield* Ref.update(mode, (m) => ({ ...m, delayMs: 100 }))
      const cache = yield* RefreshAheadCache.make({ lookup })
      const fiber = yield* Effect.fork(
        Effect.all(
          Array.from({ length: 1000 }, () => cache.get("k")),
          { concurrency: "unbounded" },
        ),
      )
      yield* TestClock.adjust("200 millis")
      const values = yield* Fiber.join(fiber)
      expect(yield* Ref.get(calls)).toBe(1)
      expect(new Set(values.map((v) => v.n))).toEqual(new Set([1]))
    }),
  )

  it.scoped("keys are independent", () =>
    Effect.gen(function* () {
      const { calls, lookup } = yield* makeLookup
      const cache = yield* RefreshAheadCache.make({ lookup })
      yield* cache.get("a")
      yield* cache.get("b")
      yield* cache.get("a")
      expect(yield* Ref.get(calls)).toBe(2)
    }),
  )

  it.scoped("failures are never cached", () =>
    Effect.gen(function* () {
      const { calls, mode, lookup } = yield* makeLookup
      const cache = yield* RefreshAheadCache.make({ lookup })
      yield* Ref.update(mode, (m) => ({ ...m, fail: true }))
      expect(Exit.isFailure(yield* Effect.exit(cache.get("k")))).toBe(true)
      yield* Ref.update(mode, (m) => ({ ...m, fail: false }))
      const v = yield* cache.get("k")
      expect(v.n).toBe(2)
      expect(yield* Ref.get(calls)).toBe(2)
    }),
  )

  it.scoped(
    "after refreshOn the caller gets the cached value at once while one background refresh runs",
    () =>
      Effect.gen(function* () {
        const { calls, mode, lookup } = yield* makeLookup
        const cache = yield* RefreshAheadCache.make({ lookup })
        const first = yield* cache.get("k")
        yield* TestClock.adjust(Duration.millis(first.refreshOn + 1))
        // The refresh takes 10 s; no caller may wait for it.
        yield* Ref.update(mode, (m) => ({ ...m, delayMs: 10_000 }))
        const callers = yield* Effect.fork(
          Effect.all(
            Array.from({ length: 50 }, () => cache.get("k")),
            { concurrency: "unbounded" },
          ),
        )
        yield* settle
        const polled = callers.unsafePoll()
        expect(polled).not.toBeNull()
        expect(polled !== null && Exit.isSuccess(polled) && polled.value.every((v) => v.n === 1)).toBe(true)
        expect(yield* Ref.get(calls)).toBe(2) // exactly one background refresh for 50 callers
        yield* TestClock.adjust("10 seconds")
        yield* settle
        const next = yield* cache.get("k")
        expect(next.n).toBe(2)
        expect(yield* Ref.get(calls)).toBe(2)
      }),
  )

  it.scoped("an outage while the value is valid is invisible; refresh is retried with backoff", () =>
    Effect.gen(function* () {
      const { calls, mode, lookup } = yield* makeLookup
      const cache = yield* RefreshAheadCache.make({
        lookup,
        refreshBaseDelayMs: 1_000,
        refreshMaxDelayMs: 600_000,
      })
      const first = yield* cache.get("k")
      yield* Ref.update(mode, (m) => ({ ...m, fail: true }))
      yield* TestClock.adjust(Duration.millis(first.refreshOn + 1))
      // Callers every 30 minutes until just before expiry: all get the cached value at once.
      let failures = 0
      for (let t = first.refreshOn + 1; t < first.expiresOn - 1_000; t += 1_800_000) {
        const fiber = yield* Effect.fork(cache.get("k"))
        yield* settle
        const exit = fiber.unsafePoll()
        if (exit === null || Exit.isFailure(exit) || exit.value.n !== 1) failures++
        yield* TestClock.adjust("30 minutes")
      }
      expect(failures).toBe(0)
      const attempts = yield* Ref.get(calls)
      // Backoff 1, 2, 4 … s capped at 10 min over ~12 h: about 80 attempts, not one per caller or per second.
      expect(attempts).toBeGreaterThan(60)
      expect(attempts).toBeLessThan(12 * 6 + 20)
      // After expiry the failure surfaces (and is not cached).
      yield* TestClock.adjust(Duration.millis(first.expiresOn))
      yield* settle
      const after = yield* Effect.exit(cache.get("k"))
      expect(Exit.isFailure(after)).toBe(true)
    }),
  )

  it.scoped(
    "forceRefresh fetches even when the value is valid; concurrent forced callers share the fetch",
    () =>
      Effect.gen(function* () {
        const { calls, lookup } = yield* makeLookup
        const cache = yield* RefreshAheadCache.make({ lookup })
        yield* cache.get("k")
        const forced = yield* Effect.all(
          Array.from({ length: 10 }, () => cache.get("k", { forceRefresh: true })),
          { concurrency: "unbounded" },
        )
        expect(yield* Ref.get(calls)).toBe(2)
        expect(forced.every((v) => v.n === 2)).toBe(true)
        expect((yield* cache.get("k")).n).toBe(2)
      }),
  )

  it.scoped("an expired value is fetched again", () =>
    Effect.gen(function* () {
      const { calls, mode, lookup } = yield* makeLookup
      yield* Ref.update(mode, (m) => ({ ...m, lifetimeMs: 60_000 }))
      const cache = yield* RefreshAheadCache.make({ lookup })
      yield* cache.get("k")
      yield* TestClock.adjust("61 seconds")
      const v = yield* cache.get("k")
      expect(v.n).toBe(2)
      expect(yield* Ref.get(calls)).toBe(2)
    }),
  )

  it.scoped("the first caller being interrupted does not break the shared fetch", () =>
    Effect.gen(function* () {
      const { calls, mode, lookup } = yield* makeLookup
      yield* Ref.update(mode, (m) => ({ ...m, delayMs: 1_000 }))
      const cache = yield* RefreshAheadCache.make({ lookup })
      const first = yield* Effect.fork(cache.get("k"))
      yield* settle
      const second = yield* Effect.fork(cache.get("k"))
      yield* settle
      yield* Fiber.interrupt(first)
      yield* TestClock.adjust("1 second")
      const v = yield* Fiber.join(second)
      expect(v.n).toBe(1)
      expect(yield* Ref.get(calls)).toBe(1)
    }),
  )

  it.scoped("holds at most `capacity` keys", () =>
    Effect.gen(function* () {
      const { lookup } = yield* makeLookup
      const cache = yield* RefreshAheadCache.make({ lookup, capacity: 3 })
      for (const k of ["a", "b", "c", "d", "e"]) yield* cache.get(k)
      expect(yield* cache.size).toBe(3)
    }),
  )

  it.scoped("evicts the least recently used key first", () =>
    Effect.gen(function* () {
      const { calls, lookup } = yield* makeLookup
      const cache = yield* RefreshAheadCache.make({ lookup, capacity: 2 })
      yield* cache.get("a")
      yield* TestClock.adjust("1 second")
      yield* cache.get("b")
      yield* TestClock.adjust("1 second")
      yield* cache.get("a") // a is now more recent than b
      yield* TestClock.adjust("1 second")
      yield* cache.get("c") // evicts b
      expect(yield* Ref.get(calls)).toBe(3)
      yield* cache.get("a")
      expect(yield* Ref.get(calls)).toBe(3)
      yield* cache.get("b")
      expect(yield* Ref.get(calls)).toBe(4)
    }),
  )

  it.scoped("counts hits and misses in the given metrics", () =>
    Effect.gen(function* () {
      const hits = Metric.counter("test_hits", { incremental: true })
      const misses = Metric.counter("test_misses", { incremental: true })
      const { lookup } = yield* makeLookup
      const cache = yield* RefreshAheadCache.make({ lookup, hits, misses })
      const h0 = (yield* Metric.value(hits)).count
      const m0 = (yield* Metric.value(misses)).count
      yield* cache.get("k")
      yield* cache.get("k")
      yield* cache.get("k")
      expect((yield* Metric.value(hits)).count - h0).toBe(2)
      expect((yield* Metric.value(misses)).count - m0).toBe(1)
    }),
  )

  it.scoped("closing the scope interrupts a pending fetch instead of leaving callers hanging", () =>
    Effect.gen(function* () {
      const { mode, lookup } = yield* makeLookup
      yield* Ref.update(mode, (m) => ({ ...m, delayMs: 1_000_000 }))
      const done = yield* Deferred.make<Exit.Exit<V, string>>()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const cache = yield* RefreshAheadCache.make({ lookup })
          yield* Effect.fork(
            Effect.exit(cache.get("k")).pipe(Effect.flatMap((e) => Deferred.succeed(done, e))),
          )
          yield* settle
        }),
      )
      yield* settle
      const exit = yield* Deferred.await(done)
      expect(Exit.isInterrupted(exit)).toBe(true)
    }),
  )

  it.effect("a cache whose scope is closed fails callers instead of hanging", () =>
    Effect.gen(function* () {
      const { lookup } = yield* makeLookup
      const cache = yield* Effect.scoped(RefreshAheadCache.make({ lookup }))
      const exit = yield* Effect.exit(cache.get("k"))
      expect(Exit.isInterrupted(exit)).toBe(true)
    }),
  )
})
