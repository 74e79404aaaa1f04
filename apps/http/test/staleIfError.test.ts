// Stale-if-error for group reads. On the TestClock: past its TTL, while ARM (or IMDS, for ARM's token)
// fails or is slow, the last good read is served — stale — for up to AZMI_HTTP_STALE_IF_ERROR_MS,
// while one background refresh retries. Over HTTP: such a read says so with Age and Warning.
import { type ArmError, ArmRequestFailed, ResourceGroups } from "@azmi/core"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Context, Effect, Exit, Fiber, Layer, ManagedRuntime, Ref, TestClock } from "effect"
import { afterEach } from "vitest"
import { createApp } from "../src/app.js"
import { defaultConfig } from "../src/config.js"
import * as GroupReads from "../src/services/GroupReads.js"
import { fakeServices, groupOf, sub } from "./fixtures.js"

const ttlMs = 5_000
const staleMs = 300_000

/** GroupReads (TTL 5 s, stale-if-error 5 min) over a fake ARM that records when it was asked. */
const setup = Effect.gen(function* () {
  const asked = yield* Ref.make<ReadonlyArray<number>>([])
  const fail = yield* Ref.make(false)
  const delayMs = yield* Ref.make(0)
  const arm = Layer.succeed(
    ResourceGroups,
    ResourceGroups.of({
      get: (subscriptionId, name) =>
        Effect.gen(function* () {
          const at = yield* Clock.currentTimeMillis
          const n = (yield* Ref.updateAndGet(asked, (a) => [...a, at])).length
          const delay = yield* Ref.get(delayMs)
          if (delay > 0) yield* Effect.sleep(delay)
          if (yield* Ref.get(fail))
            return yield* Effect.fail<ArmError>(
              new ArmRequestFailed({
                status: 503,
                code: "ServiceUnavailable",
                armMessage: "down",
                attempts: 5,
              }),
            )
          return {
            value: groupOf(subscriptionId, name, { read: String(n) }),
            metadata: { requestId: `arm-${n}` },
          }
        }),
      exists: () => Effect.die("not used"),
      list: () => Effect.die("not used") as never,
    }),
  )
  const context = yield* Layer.build(Layer.provide(GroupReads.layer(ttlMs, staleMs), arm))
  const reads = Context.get(context, GroupReads.GroupReads)
  return { reads, asked: Effect.map(Ref.get(asked), (a) => a.map((t) => t / 1000)), fail, delayMs }
})

const settle = Effect.gen(function* () {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
})

describe("stale-if-error for group reads (TestClock)", () => {
  it.scoped(
    "ARM fails from 4 s: reads past the TTL get the last good group at once, marked stale; ARM sees one refresh retrying, not one call per read",
    () =>
      Effect.gen(function* () {
        const { reads, asked, fail } = yield* setup
        const first = yield* reads.getServable(sub, "DevTest")
        expect(first.stale).toBe(false)
        yield* Ref.set(fail, true)
        yield* TestClock.adjust("4000 millis")
        yield* reads.getServable(sub, "DevTest") // due: starts the background refresh, which fails
        yield* settle
        yield* TestClock.adjust("2000 millis")
        for (let i = 0; i < 1_000; i++) {
          const served = yield* reads.getServable(sub, "DevTest")
          expect(served.read).toBe(first.read)
          expect(served.stale).toBe(true)
          expect(served.refreshFailed).toBe(true)
        }
        // The hot path's peek never answers past the TTL (it falls through to the route).
        expect(reads.peek(sub, "DevTest")).toBeUndefined()
        yield* TestClock.adjust("60000 millis")
        yield* settle
        expect(yield* asked).toEqual([0, 4, 5, 7, 11, 19, 29, 39, 49, 59])
      }),
  )

  it.scoped("ARM back: the next retry refreshes the read, and reads are fresh again", () =>
    Effect.gen(function* () {
      const { reads, fail } = yield* setup
      yield* reads.getServable(sub, "DevTest")
      yield* Ref.set(fail, true)
      yield* TestClock.adjust("4000 millis")
      yield* reads.getServable(sub, "DevTest")
      yield* settle
      yield* TestClock.adjust("2000 millis")
      expect((yield* reads.getServable(sub, "DevTest")).stale).toBe(true)
      yield* Ref.set(fail, false)
      yield* TestClock.adjust("1000 millis") // the retry at 7 s
      yield* settle
      const served = yield* reads.getServable(sub, "DevTest")
      expect(served.stale).toBe(false)
      expect(served.read.group.tags).toEqual({ read: "4" })
    }),
  )

  it.scoped("a refresh stuck in retries (an IMDS 410 wait for ARM's token): reads do not wait for it", () =>
    Effect.gen(function* () {
      const { reads, delayMs } = yield* setup
      const first = yield* reads.getServable(sub, "DevTest")
      yield* Ref.set(delayMs, 20_000)
      yield* TestClock.adjust("4000 millis")
      yield* reads.getServable(sub, "DevTest")
      yield* TestClock.adjust("1000 millis")
      // Past the TTL at 5 s with the refresh still under way: answered now, stale.
      const served = yield* reads.getServable(sub, "DevTest")
      expect(served.read).toBe(first.read)
      expect(served).toMatchObject({ stale: true, refreshFailed: false })
      yield* TestClock.adjust("19000 millis")
      yield* settle
      expect((yield* reads.getServable(sub, "DevTest")).stale).toBe(false)
    }),
  )

  it.scoped("after five minutes past the TTL the stale group is gone: the error reaches the reader", () =>
    Effect.gen(function* () {
      const { reads, fail } = yield* setup
      yield* reads.getServable(sub, "DevTest")
      yield* Ref.set(fail, true)
      yield* TestClock.adjust("4000 millis")
      yield* reads.getServable(sub, "DevTest")
      yield* settle
      yield* TestClock.adjust(ttlMs + staleMs - 4_000 - 1)
      expect((yield* reads.getServable(sub, "DevTest")).stale).toBe(true)
      yield* TestClock.adjust("1 millis")
      const fiber = yield* Effect.fork(Effect.exit(reads.getServable(sub, "DevTest")))
      yield* TestClock.adjust("120000 millis")
      const exit = yield* Fiber.join(fiber)
      expect(Exit.isFailure(exit)).toBe(true)
    }),
  )

  it.scoped("with AZMI_HTTP_STALE_IF_ERROR_MS=0 a read past its TTL waits for ARM and gets its error", () =>
    Effect.gen(function* () {
      const arm = Layer.succeed(
        ResourceGroups,
        ResourceGroups.of({
          get: () =>
            Effect.fail<ArmError>(
              new ArmRequestFailed({
                status: 503,
                code: "ServiceUnavailable",
                armMessage: "down",
                attempts: 5,
              }),
            ),
          exists: () => Effect.die("not used"),
          list: () => Effect.die("not used") as never,
        }),
      )
      const reads = Context.get(
        yield* Layer.build(Layer.provide(GroupReads.layer(ttlMs, 0), arm)),
        GroupReads.GroupReads,
      )
      expect(Exit.isFailure(yield* Effect.exit(reads.getServable(sub, "DevTest")))).toBe(true)
    }),
  )
})

describe("a stale group read over HTTP", () => {
  const runtimes: Array<ManagedRuntime.ManagedRuntime<unknown, unknown>> = []
  afterEach(async () => {
    await Promise.all(runtimes.splice(0).map((r) => r.dispose()))
  })

  /** The app over the fakes, with GroupReads answering `served` (a read fetched `ageMs` ago). */
  const appServing = (ageMs: number, stale: boolean, refreshFailed: boolean) => {
    const { layer, config } = fakeServices()
    const read: GroupReads.CachedGroup = {
      group: groupOf(sub, "DevTest"),
      body: JSON.stringify(groupOf(sub, "DevTest")),
      metadata: { requestId: "arm-1" },
      fetchedAt: Date.now() - ageMs,
      expiresOn: 0,
      refreshOn: 0,
    }
    const reads = Layer.succeed(
      GroupReads.GroupReads,
      GroupReads.GroupReads.of({
        get: () => Effect.succeed(read),
        getServable: () => Effect.succeed({ read, stale, refreshFailed }),
        peek: () => undefined,
        ttlSeconds: ttlMs / 1000,
      }),
    )
    const runtime = ManagedRuntime.make(Layer.merge(layer, reads))
    runtimes.push(runtime as ManagedRuntime.ManagedRuntime<unknown, unknown>)
    return createApp({ runtime, config: { ...defaultConfig, ...config }, log: () => {} })
  }

  it("says how old it is (Age) and that it is stale (Warning 110, and 111 once a refresh failed)", async () => {
    for (const [refreshFailed, warning] of [
      [true, '110 - "Response is Stale", 111 - "Revalidation Failed"'],
      [false, '110 - "Response is Stale"'],
    ] as const) {
      const app = appServing(7_400, true, refreshFailed)
      const res = await app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest`)
      expect(res.status).toBe(200)
      expect(res.headers.get("age")).toBe("7")
      expect(res.headers.get("warning")).toBe(warning)
      expect(res.headers.get("cache-control")).toBe("private, max-age=5")
      expect(await res.json()).toMatchObject({ name: "DevTest" })
    }
  })

  it("a fresh read carries no Warning", async () => {
    const res = await appServing(1_000, false, false).request(
      `/v1/subscriptions/${sub}/resourceGroups/DevTest`,
    )
    expect(res.headers.get("warning")).toBeNull()
    expect(res.headers.get("age")).toBe("1")
  })
})
