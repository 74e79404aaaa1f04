// Stale-if-error on the TestClock: past its expiry a value is still served by getServable — marked
// stale — while its one refresh fails or is slow, for up to staleIfErrorMs; get and peek never serve it.
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Fiber, Option, Ref, TestClock } from "effect"
import * as RefreshAheadCache from "../src/RefreshAheadCache.js"

interface V {
  readonly n: number
  readonly expiresOn: number
  readonly refreshOn: number
}

const TTL = 5_000
const STALE = 300_000

/** A lookup of values living `TTL` (refresh due at 4/5), counting its calls with their times. */
const makeLookup = Effect.gen(function* () {
  const calls = yield* Ref.make<ReadonlyArray<number>>([])
  const mode = yield* Ref.make({ fail: false, delayMs: 0 })
  const lookup = (_key: string) =>
    Effect.gen(function* () {
      const started = yield* Clock.currentTimeMillis
      const n = (yield* Ref.updateAndGet(calls, (c) => [...c, started])).length
      const m = yield* Ref.get(mode)
      if (m.delayMs > 0) yield* Effect.sleep(Duration.millis(m.delayMs))
      if (m.fail) return yield* Effect.fail(`fetch ${n} failed` as const)
      const now = yield* Clock.currentTimeMillis
      return { n, expiresOn: now + TTL, refreshOn: now + (TTL * 4) / 5 } satisfies V
    })
  return { calls, mode, lookup }
})

const settle = Effect.gen(function* () {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
})

const make = (lookup: (key: string) => Effect.Effect<V, string>, staleWaitMs = 500) =>
  RefreshAheadCache.make({
    lookup,
    staleIfErrorMs: STALE,
    staleWaitMs,
    refreshBaseDelayMs: 1_000,
    refreshMaxDelayMs: 10_000,
  })

describe("RefreshAheadCache stale-if-error", () => {
  it.scoped(
    "a refresh that fails: the last good value is served stale, at once, while one background refresh retries (1, 2, 4, 8, 10, 10 s)",
    () =>
      Effect.gen(function* () {
        const { calls, mode, lookup } = yield* makeLookup
        const cache = yield* make(lookup)
        expect((yield* cache.getServable("k")).value.n).toBe(1)
        yield* Ref.update(mode, (m) => ({ ...m, fail: true }))
        // At 4/5 of the TTL a read starts the background refresh; it fails and retries.
        yield* TestClock.adjust("4000 millis")
        expect(yield* cache.getServable("k")).toEqual({
          value: expect.objectContaining({ n: 1 }),
          stale: false,
          refreshFailed: false,
        })
        yield* settle
        // Past the TTL: served, stale, without waiting; many reads, still one refresh.
        yield* TestClock.adjust("1500 millis")
        for (let i = 0; i < 100; i++) {
          const served = yield* cache.getServable("k")
          expect(served).toEqual({
            value: expect.objectContaining({ n: 1 }),
            stale: true,
            refreshFailed: true,
          })
        }
        // get and peek never answer with a stale value.
        expect(cache.peek("k")).toBeUndefined()
        yield* TestClock.adjust("35000 millis")
        yield* settle
        const started = (yield* Ref.get(calls)).map((t) => t / 1000)
        expect(started).toEqual([0, 4, 5, 7, 11, 19, 29, 39])
      }),
  )

  it.scoped("the upstream recovers: the next retry brings a fresh value, served fresh", () =>
    Effect.gen(function* () {
      const { mode, lookup } = yield* makeLookup
      const cache = yield* make(lookup)
      yield* cache.getServable("k")
      yield* Ref.update(mode, (m) => ({ ...m, fail: true }))
      yield* TestClock.adjust("4000 millis")
      yield* cache.getServable("k")
      yield* settle
      yield* TestClock.adjust("2000 millis")
      expect((yield* cache.getServable("k")).stale).toBe(true)
      yield* Ref.update(mode, (m) => ({ ...m, fail: false }))
      // The retry due at 7 s succeeds.
      yield* TestClock.adjust("1000 millis")
      yield* settle
      const served = yield* cache.getServable("k")
      expect(served).toEqual({ value: expect.objectContaining({ n: 4 }), stale: false, refreshFailed: false })
    }),
  )

  it.scoped(
    "past the stale window nothing stale is served: the caller waits for a fetch, and its error",
    () =>
      Effect.gen(function* () {
        const { mode, lookup } = yield* makeLookup
        const cache = yield* make(lookup)
        yield* cache.getServable("k")
        yield* Ref.update(mode, (m) => ({ ...m, fail: true }))
        yield* TestClock.adjust(Duration.millis(TTL + STALE))
        yield* settle
        const exit = yield* Effect.exit(cache.getServable("k"))
        expect(Exit.isFailure(exit)).toBe(true)
      }),
  )

  it.scoped(
    "an expired value nobody refreshed: the read starts the refresh and waits for it (up to staleWaitMs) — fresh when it is quick",
    () =>
      Effect.gen(function* () {
        const { calls, mode, lookup } = yield* makeLookup
        const cache = yield* make(lookup)
        yield* cache.getServable("k")
        // Nobody read it while its refresh was due: no refresh ran.
        yield* TestClock.adjust("60000 millis")
        yield* Ref.update(mode, (m) => ({ ...m, delayMs: 100 }))
        const fiber = yield* Effect.fork(cache.getServable("k"))
        yield* TestClock.adjust("100 millis")
        const served = yield* Fiber.join(fiber)
        expect(served).toEqual({
          value: expect.objectContaining({ n: 2 }),
          stale: false,
          refreshFailed: false,
        })
        expect(yield* Ref.get(calls)).toHaveLength(2)
      }),
  )

  it.scoped("…and stale once staleWaitMs has passed without an answer; the refresh goes on and lands", () =>
    Effect.gen(function* () {
      const { mode, lookup } = yield* makeLookup
      const cache = yield* make(lookup)
      yield* cache.getServable("k")
      yield* TestClock.adjust("60000 millis")
      yield* Ref.update(mode, (m) => ({ ...m, delayMs: 20_000 }))
      const fiber = yield* Effect.fork(cache.getServable("k"))
      yield* TestClock.adjust("500 millis")
      const served = yield* Fiber.join(fiber)
      expect(served).toEqual({ value: expect.objectContaining({ n: 1 }), stale: true, refreshFailed: false })
      yield* TestClock.adjust("19500 millis")
      yield* settle
      expect((yield* cache.getServable("k")).value.n).toBe(2)
    }),
  )

  it.scoped(
    "get of an expired value while the stale refresh retries: it fails with one lookup of its own, not after the stale window",
    () =>
      Effect.gen(function* () {
        const { calls, mode, lookup } = yield* makeLookup
        const cache = yield* make(lookup)
        yield* cache.getServable("k")
        // Every answer takes 100 ms; the refresh started at 4 s fails at 4.1 s, 5.2 s, … and retries.
        yield* Ref.set(mode, { fail: true, delayMs: 100 })
        yield* TestClock.adjust("4000 millis")
        yield* cache.getServable("k")
        yield* TestClock.adjust("1500 millis")
        yield* settle
        // 5.5 s: expired; the refresh sleeps until 7.2 s. get looks up once, now, and fails with it.
        const fiber = yield* Effect.fork(Effect.exit(cache.get("k")))
        yield* settle
        yield* TestClock.adjust("100 millis")
        yield* settle
        const polled = Option.getOrUndefined(yield* Fiber.poll(fiber))
        expect(polled !== undefined && Exit.isSuccess(polled) && Exit.isFailure(polled.value)).toBe(true)
        expect((yield* Ref.get(calls)).map((t) => t / 1000)).toEqual([0, 4, 5.1, 5.5])
        // getServable still answers stale at once, and the refresh keeps its own schedule.
        expect((yield* cache.getServable("k")).stale).toBe(true)
        yield* TestClock.adjust("1700 millis")
        yield* settle
        expect((yield* Ref.get(calls)).map((t) => t / 1000)).toEqual([0, 4, 5.1, 5.5, 7.2])
      }),
  )

  it.scoped("…and joins the refresh's attempt when one is running: one lookup for both", () =>
    Effect.gen(function* () {
      const { calls, mode, lookup } = yield* makeLookup
      const cache = yield* make(lookup)
      yield* cache.getServable("k")
      yield* Ref.set(mode, { fail: true, delayMs: 100 })
      yield* TestClock.adjust("4000 millis")
      yield* cache.getServable("k")
      yield* TestClock.adjust("1150 millis")
      yield* settle
      // 5.15 s: the attempt started at 5.1 s is running; get waits for it (until 5.2 s) and fails with it.
      const fiber = yield* Effect.fork(Effect.exit(cache.get("k")))
      yield* settle
      yield* TestClock.adjust("50 millis")
      yield* settle
      const polled = Option.getOrUndefined(yield* Fiber.poll(fiber))
      expect(polled !== undefined && Exit.isSuccess(polled) && Exit.isFailure(polled.value)).toBe(true)
      expect((yield* Ref.get(calls)).map((t) => t / 1000)).toEqual([0, 4, 5.1])
    }),
  )

  it.scoped(
    "…and when its lookup succeeds the value is fresh for everyone; the refresh ends without another lookup",
    () =>
      Effect.gen(function* () {
        const { calls, mode, lookup } = yield* makeLookup
        const cache = yield* make(lookup)
        yield* cache.getServable("k")
        yield* Ref.set(mode, { fail: true, delayMs: 100 })
        yield* TestClock.adjust("4000 millis")
        yield* cache.getServable("k")
        yield* TestClock.adjust("1500 millis")
        yield* settle
        yield* Ref.set(mode, { fail: false, delayMs: 100 })
        const fiber = yield* Effect.fork(cache.get("k"))
        yield* settle
        yield* TestClock.adjust("100 millis")
        const polled = Option.getOrUndefined(yield* Fiber.poll(fiber))
        expect(polled !== undefined && Exit.isSuccess(polled) && polled.value.n).toBe(4)
        expect(yield* cache.getServable("k")).toEqual({
          value: expect.objectContaining({ n: 4 }),
          stale: false,
          refreshFailed: false,
        })
        yield* TestClock.adjust("2000 millis")
        yield* settle
        expect((yield* Ref.get(calls)).map((t) => t / 1000)).toEqual([0, 4, 5.1, 5.5])
        expect((yield* cache.getServable("k")).value.n).toBe(4)
      }),
  )

  it.scoped("without staleIfErrorMs an expired value is never served: getServable is get", () =>
    Effect.gen(function* () {
      const { mode, lookup } = yield* makeLookup
      const cache = yield* RefreshAheadCache.make({ lookup })
      yield* cache.getServable("k")
      yield* Ref.update(mode, (m) => ({ ...m, fail: true }))
      yield* TestClock.adjust(Duration.millis(TTL + 1))
      expect(Exit.isFailure(yield* Effect.exit(cache.getServable("k")))).toBe(true)
    }),
  )
})
