/**
 * The retry engine on its own: backoff as a Schedule (exact delays, jitter within its range and equal to
 * the hand-written formulas it replaced), and the rules no Schedule gives (410 window, separate 429
 * budget, one refresh, never waiting past the deadline) on the TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import {
  Clock,
  Effect,
  Exit,
  Fiber,
  Random,
  type Schedule,
  ScheduleDecision,
  ScheduleIntervals,
  TestClock,
} from "effect"
import fc from "fast-check"
import * as Retry from "../src/Retry.js"

/** The delays a schedule gives, stepped as the engine steps it, until it is done (at most `n`). */
const delaysOf = (schedule: Schedule.Schedule<unknown, unknown>, n = 20) =>
  Effect.gen(function* () {
    const delays: Array<number> = []
    let state: unknown = schedule.initial
    for (let now = 0; delays.length < n; ) {
      const [next, , decision] = yield* schedule.step(now, undefined, state)
      if (ScheduleDecision.isDone(decision)) break
      state = next
      const delay = ScheduleIntervals.start(decision.intervals) - now
      delays.push(delay)
      now += delay
    }
    return delays
  })

const imds: Retry.Backoff = { baseDelayMs: 1_000, maxDelayMs: 16_000, jitter: [0.8, 1.2], maxRetries: 5 }
const arm: Retry.Backoff = { baseDelayMs: 500, maxDelayMs: 16_000, jitter: [0.5, 1], maxRetries: 4 }

describe("backoffSchedule", () => {
  it.effect("no jitter: 1, 2, 4, 8, 16 s, then done; the cap holds", () =>
    Effect.gen(function* () {
      expect(yield* delaysOf(Retry.backoffSchedule({ ...imds, jitter: [1, 1] }))).toEqual([
        1_000, 2_000, 4_000, 8_000, 16_000,
      ])
      expect(
        yield* delaysOf(Retry.backoffSchedule({ ...arm, jitter: [1, 1], maxDelayMs: 1_500, maxRetries: 6 })),
      ).toEqual([500, 1_000, 1_500, 1_500, 1_500, 1_500])
      expect(
        yield* delaysOf(
          Retry.backoffSchedule({ ...imds, jitter: [1, 1], maxRetries: Number.POSITIVE_INFINITY }),
          8,
        ),
      ).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 16_000, 16_000, 16_000])
    }),
  )

  it.effect(
    "the random draw sets the factor: 0 gives the low end, 1 the high end (capped after jitter)",
    () =>
      Effect.gen(function* () {
        const low = yield* delaysOf(Retry.backoffSchedule(imds)).pipe(Effect.withRandom(Random.fixed([0])))
        const high = yield* delaysOf(Retry.backoffSchedule(imds)).pipe(Effect.withRandom(Random.fixed([1])))
        expect(low).toEqual([800, 1_600, 3_200, 6_400, 12_800])
        expect(high).toEqual([1_200, 2_400, 4_800, 9_600, 16_000])
        const half = yield* delaysOf(Retry.backoffSchedule(arm)).pipe(Effect.withRandom(Random.fixed([0])))
        expect(half).toEqual([250, 500, 1_000, 2_000])
      }),
  )

  it("with any seed, delays equal the hand-written formulas the schedule replaced", () => {
    // IMDS: round(min(cap, min(cap, base·2ⁿ) · nextRange(0.8, 1.2))); ARM: round(min(cap, base·2ⁿ) · (0.5 + r/2)).
    const formula = (b: Retry.Backoff, seed: number) =>
      Effect.runSync(
        Effect.forEach(
          Array.from({ length: b.maxRetries }, (_, n) => n),
          (n) =>
            Effect.map(Random.next, (r) => {
              const exp = Math.min(b.maxDelayMs, b.baseDelayMs * 2 ** n)
              return Math.round(Math.min(b.maxDelayMs, exp * (b.jitter[0] + (b.jitter[1] - b.jitter[0]) * r)))
            }),
        ).pipe(Effect.withRandom(Random.make(seed))),
      )
    const scheduled = (b: Retry.Backoff, seed: number) =>
      Effect.runSync(delaysOf(Retry.backoffSchedule(b)).pipe(Effect.withRandom(Random.make(seed))))
    // FC_SEED (scripts/fast-check-seed.mjs) when given: this property names its seed, which overrides the global one.
    const seed = fc.readConfigureGlobal().seed ?? Date.now() ^ (Math.random() * 2 ** 31)
    console.log(`backoffSchedule oracle: fast-check seed ${seed}`)
    fc.assert(
      fc.property(fc.integer(), (s) => {
        expect(scheduled(imds, s)).toEqual(formula(imds, s))
        expect(scheduled(arm, s)).toEqual(formula(arm, s))
      }),
      { seed, numRuns: 200 },
    )
  })
})

/** Runs `run` to completion on the TestClock; the attempt times (ms since start) are recorded. */
const drive = <A, E>(make: (times: Array<number>) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const times: Array<number> = []
    const start = yield* Clock.currentTimeMillis
    const fiber = yield* Effect.fork(Effect.exit(make(times)))
    for (let i = 0; i < 300 && fiber.unsafePoll() === null; i++) yield* TestClock.adjust("1 second")
    return { exit: yield* Fiber.join(fiber), times: times.map((t) => t - start) }
  })

const plan: Retry.RetryPlan = {
  backoff: { ...arm, jitter: [1, 1] },
  throttle: { ...arm, jitter: [1, 1], maxRetries: 2 },
  maxRetryAfterMs: 60_000,
  attemptTimeoutMs: 30_000,
  deadlineMs: 120_000,
  pastDeadline: "timeout",
}

/** An attempt that fails with each verdict in turn (then keeps failing with the last), recording its time. */
const script =
  (
    times: Array<number>,
    verdicts: ReadonlyArray<Retry.AttemptFailure<string>["retry"]>,
    retryAfterMs?: number,
  ) =>
  (context: Retry.AttemptContext) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      times.push(now)
      const retry = verdicts[Math.min(context.attempt - 1, verdicts.length - 1)] ?? "no"
      return Effect.fail<Retry.AttemptFailure<string>>({
        retry,
        retryAfterMs,
        reason: retry,
        error: (n) => `${retry} after ${n}${context.refresh ? " (refreshed)" : ""}`,
      })
    })

describe("Retry.run", () => {
  it.effect("429s and ordinary failures spend separate budgets", () =>
    Effect.gen(function* () {
      const { exit, times } = yield* drive((times) =>
        Retry.run({
          plan,
          operation: "op",
          attempt: script(times, ["backoff", "throttled", "throttled", "throttled"]),
        }),
      )
      // backoff 500, throttle 500, throttle 1000, then the throttle budget (2) is spent.
      expect(times).toEqual([0, 500, 1_000, 2_000])
      expect(exit).toEqual(Exit.fail("throttled after 4"))
    }),
  )

  it.effect(
    "a Retry-After beyond the limit ends a throttled call at once, and is ignored for a backoff",
    () =>
      Effect.gen(function* () {
        const throttled = yield* drive((times) =>
          Retry.run({ plan, operation: "op", attempt: script(times, ["throttled"], 300_000) }),
        )
        expect(throttled.times).toEqual([0])
        const backoff = yield* drive((times) =>
          Retry.run({
            plan: { ...plan, backoff: { ...plan.backoff, maxRetries: 1 } },
            operation: "op",
            attempt: script(times, ["backoff"], 300_000),
          }),
        )
        expect(backoff.times).toEqual([0, 500])
      }),
  )

  it.effect("refresh: retried at once with refresh set, and only once", () =>
    Effect.gen(function* () {
      const { exit, times } = yield* drive((times) =>
        Retry.run({ plan, operation: "op", attempt: script(times, ["refresh"]) }),
      )
      expect(times).toEqual([0, 0])
      expect(exit).toEqual(Exit.fail("refresh after 2 (refreshed)"))
    }),
  )

  it.effect("a wait that would pass the deadline: Timeout, or the failure at hand", () =>
    Effect.gen(function* () {
      const short = { ...plan, deadlineMs: 1_200, backoff: { ...plan.backoff, maxRetries: 10 } }
      const timeout = yield* drive((times) =>
        Retry.run({ plan: short, operation: "op", attempt: script(times, ["backoff"]) }),
      )
      // 0, 500; the next wait (1000 ms) would end at 1500 ≥ 1200.
      expect(timeout.times).toEqual([0, 500])
      expect(Exit.isFailure(timeout.exit) && JSON.stringify(timeout.exit.cause)).toContain('"_tag":"Timeout"')
      const last = yield* drive((times) =>
        Retry.run({
          plan: { ...short, pastDeadline: "last-error" },
          operation: "op",
          attempt: script(times, ["backoff"]),
        }),
      )
      expect(last.exit).toEqual(Exit.fail("backoff after 2"))
    }),
  )

  it.effect("retryUntil: no attempt starts at or after the limit", () =>
    Effect.gen(function* () {
      const { exit, times } = yield* drive((times) =>
        Retry.retryUntil({
          backoff: {
            baseDelayMs: 1_000,
            maxDelayMs: 60_000,
            jitter: [1, 1],
            maxRetries: Number.POSITIVE_INFINITY,
          },
          attempt: (n) =>
            Effect.flatMap(Clock.currentTimeMillis, (now) => {
              times.push(now)
              return Effect.fail(`failed ${n}`)
            }),
          keepUntil: () => 10_000,
        }),
      )
      // 0, 1, 3, 7 s; the next wait (8 s) would wake at 15 s.
      expect(times).toEqual([0, 1_000, 3_000, 7_000])
      expect(exit).toEqual(Exit.fail("failed 4"))
    }),
  )
})
