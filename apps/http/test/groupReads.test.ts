// The group-read cache on the TestClock: single-flight, TTL, refresh-ahead, failures not kept.
import { type ArmError, ArmRequestFailed, ResourceGroups } from "@azmi/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Ref, TestClock } from "effect"
import * as GroupReads from "../src/services/GroupReads.js"
import { groupOf, sub } from "./fixtures.js"

const ttlMs = 5_000

/** GroupReads over a fake ARM that counts reads; `fail` makes the next reads fail, `delayMs` slows them. */
const setup = Effect.gen(function* () {
  const reads = yield* Ref.make(0)
  const fail = yield* Ref.make(false)
  const delayMs = yield* Ref.make(0)
  const arm = ResourceGroups.layerTest({
    get: (subscriptionId, name) =>
      Effect.gen(function* () {
        const n = yield* Ref.updateAndGet(reads, (r) => r + 1)
        const delay = yield* Ref.get(delayMs)
        if (delay > 0) yield* Effect.sleep(delay)
        if (yield* Ref.get(fail))
          return yield* Effect.fail<ArmError>(
            new ArmRequestFailed({
              status: 500,
              code: "InternalServerError",
              armMessage: "boom",
              attempts: 1,
            }),
          )
        return {
          value: groupOf(subscriptionId, name, { read: String(n) }),
          metadata: { requestId: `arm-${n}` },
        }
      }),
  })
  const groupReads = yield* Layer.build(Layer.provide(GroupReads.layer(ttlMs), arm)).pipe(
    Effect.map((ctx) => ctx.unsafeMap.get(GroupReads.GroupReads.key) as typeof GroupReads.GroupReads.Service),
  )
  return { groupReads, reads: Ref.get(reads), fail, delayMs }
})

describe("GroupReads", () => {
  it.scoped("a burst of concurrent reads of one group costs one ARM read", () =>
    Effect.gen(function* () {
      const { groupReads, reads, delayMs } = yield* setup
      yield* Ref.set(delayMs, 100)
      const fiber = yield* Effect.fork(
        Effect.all(
          Array.from({ length: 50 }, () => groupReads.get(sub, "DevTest")),
          { concurrency: "unbounded" },
        ),
      )
      yield* TestClock.adjust("100 millis")
      const got = yield* Fiber.join(fiber)
      expect(new Set(got).size).toBe(1)
      expect(yield* reads).toBe(1)
    }),
  )

  it.scoped("a read is served without ARM until 4/5 of the TTL, then refreshed in the background", () =>
    Effect.gen(function* () {
      const { groupReads, reads, delayMs } = yield* setup
      const first = yield* groupReads.get(sub, "DevTest")
      yield* TestClock.adjust(ttlMs * 0.8 - 1)
      expect(groupReads.peek(sub, "DevTest")).toBe(first)
      expect(yield* reads).toBe(1)
      // Due: the reader is answered at once, one refresh runs (slowly) while reads keep coming.
      yield* Ref.set(delayMs, 300)
      yield* TestClock.adjust(1)
      expect(groupReads.peek(sub, "DevTest")).toBe(first)
      expect(yield* groupReads.get(sub, "DevTest")).toBe(first)
      yield* TestClock.adjust(299)
      expect(groupReads.peek(sub, "DevTest")).toBe(first)
      expect(yield* reads).toBe(2)
      yield* TestClock.adjust(1)
      const second = groupReads.peek(sub, "DevTest")
      expect(second?.group.tags).toEqual({ read: "2" })
      expect(second?.metadata.requestId).toBe("arm-2")
      expect(yield* reads).toBe(2)
    }),
  )

  it.scoped("a group nobody reads is not refreshed; after the TTL the next reader waits for ARM", () =>
    Effect.gen(function* () {
      const { groupReads, reads } = yield* setup
      yield* groupReads.get(sub, "DevTest")
      yield* TestClock.adjust(ttlMs)
      expect(yield* reads).toBe(1)
      expect(groupReads.peek(sub, "DevTest")).toBeUndefined()
      const again = yield* groupReads.get(sub, "DevTest")
      expect(again.group.tags).toEqual({ read: "2" })
      expect(yield* reads).toBe(2)
    }),
  )

  it.scoped(
    "a failed read is not kept, and a failed refresh leaves the cached read served until the TTL",
    () =>
      Effect.gen(function* () {
        const { groupReads, reads, fail } = yield* setup
        yield* Ref.set(fail, true)
        expect((yield* Effect.flip(groupReads.get(sub, "DevTest")))._tag).toBe("ArmRequestFailed")
        yield* Ref.set(fail, false)
        const ok = yield* groupReads.get(sub, "DevTest")
        expect(yield* reads).toBe(2)
        yield* Ref.set(fail, true)
        yield* TestClock.adjust(ttlMs * 0.8)
        expect(groupReads.peek(sub, "DevTest")).toBe(ok)
        yield* TestClock.adjust(ttlMs * 0.2 - 1)
        expect(groupReads.peek(sub, "DevTest")).toBe(ok)
        yield* TestClock.adjust(1)
        expect(groupReads.peek(sub, "DevTest")).toBeUndefined()
        expect((yield* Effect.flip(groupReads.get(sub, "DevTest")))._tag).toBe("ArmRequestFailed")
      }),
  )

  it.scoped("different groups are different entries", () =>
    Effect.gen(function* () {
      const { groupReads, reads } = yield* setup
      const a = yield* groupReads.get(sub, "A")
      const b = yield* groupReads.get(sub, "B")
      expect(a.group.name).toBe("A")
      expect(b.group.name).toBe("B")
      expect(groupReads.peek(sub, "A")).toBe(a)
      expect(groupReads.peek(sub, "B")).toBe(b)
      expect(groupReads.peek(sub, "C")).toBeUndefined()
      expect(yield* reads).toBe(2)
    }),
  )
})
