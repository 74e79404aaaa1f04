/**
 * The one retry engine: Azure's retry rules for every call azmi makes (IMDS, App Service, the
 * service-principal login, instance metadata, ARM) and for the token cache's background refresh.
 *
 * Backoff is an Effect `Schedule` ({@link backoffSchedule}): `exponential` from the base delay, capped,
 * `jitteredWith` the policy's factor range, capped again and rounded to the millisecond, `recurs`
 * `maxRetries` times. A separate 429 budget is a second such schedule. Written by hand here only what no
 * `Schedule` gives:
 * - 410 ("IMDS is updating, available within 70 s"): a fixed interval (default 10 s after each 410)
 *   until a 410 arrives at least the window (default 70 s) after the first one. The window is judged
 *   by when the 410s arrived, so neither jitter nor response time can shorten it: slow answers only
 *   lengthen it.
 * - A server's `Retry-After` (seconds or HTTP-date) replacing the computed delay; one too long to wait
 *   for ends a throttled call at once.
 * - One immediate retry with a refreshed token after a 401 for an expired or revoked token.
 * - Every attempt has a budget and the whole call a deadline; no sleep runs past the deadline.
 *
 * Everything else (400, 401, 403, …) is never retried: the caller classifies each failed attempt into an
 * {@link AttemptFailure} and the engine decides. All waiting is `Effect.sleep` and all randomness
 * `Random`, so tests drive it with `TestClock` (and a jitter range of `[1, 1]` makes delays exact).
 * @module
 */
import {
  Clock,
  Context,
  Duration,
  Effect,
  type Fiber,
  Metric,
  Schedule,
  ScheduleDecision,
  ScheduleIntervals,
} from "effect"
import { Timeout } from "./Errors.js"
import * as Metrics from "./Metrics.js"

/** Exponential backoff: `baseDelayMs · 2ⁿ` capped at `maxDelayMs`, times a random factor in `jitter`. */
export interface Backoff {
  /** First delay. */
  readonly baseDelayMs: number
  /** Cap of one delay, before and after jitter. */
  readonly maxDelayMs: number
  /** Each delay is multiplied by a random factor in `[min, max]`; `[1, 1]` is no jitter. */
  readonly jitter: readonly [min: number, max: number]
  /** How many delays the schedule gives before it is done (`Infinity`: never done). */
  readonly maxRetries: number
}

/**
 * The delays of `backoff` as a `Schedule`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Retry } from "@azmi/core"
 * // 1, 2, 4, 8, 16 s ±20 %, five times:
 * const flaky = Effect.fail("busy").pipe(
 *   Effect.retry(Retry.backoffSchedule({ baseDelayMs: 1_000, maxDelayMs: 16_000, jitter: [0.8, 1.2], maxRetries: 5 })),
 * )
 * ```
 */
export const backoffSchedule = (backoff: Backoff): Schedule.Schedule<unknown, unknown> => {
  const cap = (d: Duration.Duration) => Math.min(backoff.maxDelayMs, Duration.toMillis(d))
  const [min, max] = backoff.jitter
  const exponential = Schedule.exponential(Duration.millis(backoff.baseDelayMs)).pipe(
    Schedule.modifyDelay((_, d) => cap(d)),
  )
  const jittered = min === 1 && max === 1 ? exponential : Schedule.jitteredWith(exponential, { min, max })
  const rounded = Schedule.modifyDelay(jittered, (_, d) => Math.round(cap(d)))
  return Number.isFinite(backoff.maxRetries)
    ? Schedule.intersect(rounded, Schedule.recurs(backoff.maxRetries))
    : rounded
}

/** The knobs of the managed-identity calls (IMDS, App Service, login, instance metadata). */
export interface RetryPolicy {
  /** Retries after ordinary retryable failures (not counting 410 retries). */
  readonly maxRetries: number
  /** First backoff delay; doubled on each retry. */
  readonly baseDelayMs: number
  /** Cap of one backoff delay (after jitter). */
  readonly maxDelayMs: number
  /** Jitter as a fraction: each delay is multiplied by a random factor in [1 - jitter, 1 + jitter]. */
  readonly jitter: number
  /** Interval between retries while the endpoint answers 410. */
  readonly goneIntervalMs: number
  /** 410s are retried until one arrives at least this long after the first. */
  readonly goneWindowMs: number
  /** Timeout of one attempt. */
  readonly attemptTimeoutMs: number
  /** Deadline of the whole call. */
  readonly deadlineMs: number
}

/** IMDS defaults: 1, 2, 4, 8, 16 s (±20 %, capped at 16 s); 410 every 10 s for 70 s; 10 s per attempt; 120 s overall. */
export const imdsPolicy: RetryPolicy = {
  maxRetries: 5,
  baseDelayMs: 1_000,
  maxDelayMs: 16_000,
  jitter: 0.2,
  goneIntervalMs: 10_000,
  goneWindowMs: 70_000,
  attemptTimeoutMs: 10_000,
  deadlineMs: 120_000,
}

/**
 * The other managed-identity hosts (Azure Arc, Service Fabric, Azure ML, Cloud Shell): IMDS's backoff and
 * budgets, and no 410 window — "410: updating, retry within 70 s" is IMDS's own answer, not theirs.
 */
export const hostPolicy: RetryPolicy = { ...imdsPolicy, goneWindowMs: 0 }

/** Everything the engine needs to know about one kind of call. */
export interface RetryPlan {
  /** Delays and budget of ordinary retries (`backoff` failures). */
  readonly backoff: Backoff
  /** Delays and budget of 429 retries, counted apart; absent: `throttled` failures use `backoff`. */
  readonly throttle?: Backoff | undefined
  /**
   * The longest `Retry-After` waited for. A longer one ends a `throttled` call at once and is ignored
   * (the schedule's delay is used) for a `backoff` one. Default: no limit.
   */
  readonly maxRetryAfterMs?: number | undefined
  /**
   * The 410 window: the interval after each 410, and how long after the first 410 one must arrive
   * before they stop being retried. Absent: a `gone` failure is not retried.
   */
  readonly gone?: { readonly intervalMs: number; readonly windowMs: number } | undefined
  /** Budget of one attempt. */
  readonly attemptTimeoutMs: number
  /** Deadline of the whole call. */
  readonly deadlineMs: number
  /**
   * What a retry that would wait past the deadline fails with: the failure at hand (`last-error`, what a
   * token source reports) or `Timeout` (what an ARM call reports).
   */
  readonly pastDeadline: "last-error" | "timeout"
}

/** The {@link RetryPlan} of a {@link RetryPolicy}. */
export const planOf = (policy: RetryPolicy): RetryPlan => ({
  backoff: {
    baseDelayMs: policy.baseDelayMs,
    maxDelayMs: policy.maxDelayMs,
    jitter: [1 - policy.jitter, 1 + policy.jitter],
    maxRetries: policy.maxRetries,
  },
  gone: { intervalMs: policy.goneIntervalMs, windowMs: policy.goneWindowMs },
  attemptTimeoutMs: policy.attemptTimeoutMs,
  deadlineMs: policy.deadlineMs,
  pastDeadline: "last-error",
})

/** How one failed attempt should be treated. */
export interface AttemptFailure<E> {
  /**
   * `no`: give up now; `backoff`: an ordinary retry; `throttled`: a 429 retry (its own budget when the
   * plan has one); `gone`: the 410 window; `refresh`: retry at once with a refreshed credential (once).
   */
  readonly retry: "no" | "backoff" | "throttled" | "gone" | "refresh"
  /** What to fail with if this is the last attempt; gets the number of attempts made. */
  readonly error: (attempts: number) => E
  /** A server-supplied delay (Retry-After), in ms. */
  readonly retryAfterMs?: number | undefined
  /** HTTP status, for logs. */
  readonly status?: number | undefined
  /** Short reason for logs (never a token). */
  readonly reason: string
  /** The attempt ran out of its budget (an attempt that enforces its own `timeoutMs` says so). */
  readonly timedOut?: boolean | undefined
}

/** What one attempt is told. */
export interface AttemptContext {
  /** 1-based. */
  readonly attempt: number
  /** Its budget: the attempt timeout, or less when the deadline is nearer. */
  readonly timeoutMs: number
  /** This is the retry after a `refresh` failure: use a freshly fetched credential. */
  readonly refresh: boolean
  /** The one `refresh` retry has been used (a `refresh` verdict now gives up). */
  readonly refreshUsed: boolean
}

/** A retry about to wait, or one given up because the wait would pass the deadline. */
export interface RetryEvent {
  /** The attempt that failed. */
  readonly attempt: number
  readonly delayMs: number
  readonly reason: string
  readonly status?: number | undefined
  /** What that attempt failed with, were it the last. */
  readonly error: unknown
}

/** Options of {@link run}. */
export interface RunOptions<A, E> {
  readonly plan: RetryPlan
  /** Named in `Timeout` errors and logs, e.g. `IMDS token request` (a function: built only when needed). */
  readonly operation: string | (() => string)
  readonly attempt: (context: AttemptContext) => Effect.Effect<A, AttemptFailure<E>>
  /**
   * When given, the engine cuts each attempt at its budget and classifies the cut with this; without it
   * the attempt must enforce `timeoutMs` itself (and set `timedOut` on the failure).
   */
  readonly onAttemptTimeout?: ((millis: number) => AttemptFailure<E>) | undefined
  /** Runs before each wait. Default: count it in `azmi_retries_total` and log it at info level. */
  readonly onRetry?: ((event: RetryEvent) => Effect.Effect<void>) | undefined
  /** Runs when a retry is given up because its wait would pass the deadline (or `until`). Default: a debug line. */
  readonly onGiveUp?: ((event: RetryEvent) => Effect.Effect<void>) | undefined
  /** A second deadline, read at each wait: no retry waits until or past it. */
  readonly until?: (() => number) | undefined
}

// Read only when a name is needed (an options object may compute it in a getter).
const nameOf = (operation: string | (() => string)) =>
  typeof operation === "string" ? operation : operation()

const countAndLog =
  (operation: string | (() => string)) =>
  (event: RetryEvent): Effect.Effect<void> =>
    Effect.zipRight(
      Metric.increment(Metrics.retries),
      Effect.logInfo(`${nameOf(operation)} failed (${event.reason}); retrying in ${event.delayMs} ms`).pipe(
        Effect.annotateLogs({ attempt: event.attempt, status: event.status, waitMs: event.delayMs }),
      ),
    )

const logGiveUp = (event: RetryEvent): Effect.Effect<void> =>
  Effect.logDebug("not retrying: the wait would pass the deadline").pipe(
    Effect.annotateLogs({ attempt: event.attempt, status: event.status, waitMs: event.delayMs }),
  )

/** A schedule driven one step at a time: the next delay, or `undefined` once it is done. */
const stepper = (schedule: Schedule.Schedule<unknown, unknown>) => {
  let state: unknown = schedule.initial
  return (now: number): Effect.Effect<number | undefined> =>
    Effect.map(schedule.step(now, undefined, state), ([next, _, decision]) => {
      state = next
      return ScheduleDecision.isDone(decision) ? undefined : ScheduleIntervals.start(decision.intervals) - now
    })
}

const DEADLINE = Symbol("deadline")

/**
 * The engine: run `attempt` until it succeeds, its failure says not to retry, its budget is spent or
 * the deadline is near. Plain code on the first attempt (no fiber or generator work until something
 * fails): ARM calls run through here on their hot path.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Retry } from "@azmi/core"
 * const call = Retry.run({
 *   plan: Retry.planOf(Retry.imdsPolicy),
 *   operation: "IMDS token request",
 *   attempt: () => Effect.succeed("token"),
 * })
 * ```
 */
export const run = <A, E>(options: RunOptions<A, E>): Effect.Effect<A, E | Timeout> =>
  loop(options, (millis) => Effect.fail(new Timeout({ operation: nameOf(options.operation), millis })))

const loop = <A, E, D>(
  options: RunOptions<A, E>,
  timeout: (millis: number) => Effect.Effect<never, D>,
): Effect.Effect<A, E | D> =>
  Effect.withFiberRuntime<A, E | D>((fiber) => new Call(options, timeout, fiber).next(false))

/**
 * One call's state, as an object rather than closures: a call that succeeds at once (ARM's hot path)
 * allocates this and the first attempt, nothing else.
 */
class Call<A, E, D> {
  /** The fiber's clock (TestClock in tests), read without an effect per look. */
  readonly clock: Clock.Clock
  readonly deadlineAt: number
  attempts = 0
  refreshUsed = false
  firstGoneAt: number | undefined = undefined
  // Built on the first retry: a call that succeeds at once never touches a schedule.
  backoff: ReturnType<typeof stepper> | undefined = undefined
  throttle: ReturnType<typeof stepper> | undefined = undefined

  constructor(
    readonly options: RunOptions<A, E>,
    readonly timeout: (millis: number) => Effect.Effect<never, D>,
    fiber: Fiber.RuntimeFiber<A, E | D>,
  ) {
    this.clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
    this.deadlineAt = this.clock.unsafeCurrentTimeMillis() + options.plan.deadlineMs
  }

  deadlineExceeded(): Effect.Effect<never, D> {
    return Effect.suspend(() => this.timeout(this.options.plan.deadlineMs))
  }

  next(refresh: boolean): Effect.Effect<A, E | D> {
    const { plan } = this.options
    const remaining = this.deadlineAt - this.clock.unsafeCurrentTimeMillis()
    if (remaining <= 0) return this.deadlineExceeded()
    const cutByDeadline = remaining < plan.attemptTimeoutMs
    const timeoutMs = cutByDeadline ? remaining : plan.attemptTimeoutMs
    const attempt = ++this.attempts
    const once = this.options.attempt({ attempt, timeoutMs, refresh, refreshUsed: this.refreshUsed })
    if (this.options.onAttemptTimeout === undefined) {
      return Effect.catchAll(once, (failure) =>
        failure.timedOut === true && cutByDeadline ? this.deadlineExceeded() : this.failed(failure, attempt),
      )
    }
    const { options } = this
    return Effect.catchAll(
      Effect.timeoutFail(once, {
        duration: Duration.millis(timeoutMs),
        onTimeout: () => (cutByDeadline ? DEADLINE : options.onAttemptTimeout!(plan.attemptTimeoutMs)),
      }),
      (failure) => (failure === DEADLINE ? this.deadlineExceeded() : this.failed(failure, attempt)),
    )
  }

  /** The delay before the next attempt, or `undefined` to give up. */
  delayFor(failure: AttemptFailure<E>, failedAt: number): Effect.Effect<number | undefined> {
    const { plan } = this.options
    const retryAfter = failure.retryAfterMs
    const maxRetryAfter = plan.maxRetryAfterMs ?? Number.POSITIVE_INFINITY
    switch (failure.retry) {
      case "no":
      case "refresh":
        return Effect.succeed(undefined)
      case "gone": {
        if (plan.gone === undefined) return Effect.succeed(undefined)
        this.firstGoneAt ??= failedAt
        // Judged on arrival times, not on when the next attempt would start: a window "next − first
        // ≤ 70 s" lost a retry to a few ms of latency per answer (60 s and 7 requests in real time).
        return Effect.succeed(
          failedAt - this.firstGoneAt < plan.gone.windowMs
            ? Math.max(plan.gone.intervalMs, retryAfter ?? 0)
            : undefined,
        )
      }
      case "throttled":
        if (plan.throttle !== undefined) {
          if (retryAfter !== undefined && retryAfter > maxRetryAfter) return Effect.succeed(undefined)
          this.throttle ??= stepper(backoffSchedule(plan.throttle))
          return Effect.map(this.throttle(failedAt), (delay) =>
            delay === undefined ? undefined : (retryAfter ?? delay),
          )
        }
        break
      case "backoff":
        break
    }
    this.backoff ??= stepper(backoffSchedule(plan.backoff))
    return Effect.map(this.backoff(failedAt), (delay) =>
      delay === undefined
        ? undefined
        : retryAfter !== undefined && retryAfter <= maxRetryAfter
          ? retryAfter
          : delay,
    )
  }

  failed(failure: AttemptFailure<E>, attempt: number): Effect.Effect<A, E | D> {
    return Effect.suspend(() => {
      if (failure.retry === "refresh" && !this.refreshUsed) {
        this.refreshUsed = true
        return this.next(true)
      }
      const { options } = this
      const failedAt = this.clock.unsafeCurrentTimeMillis()
      return Effect.flatMap(this.delayFor(failure, failedAt), (delay) => {
        const error = failure.error(this.attempts)
        if (delay === undefined) return Effect.fail(error)
        const event: RetryEvent = {
          attempt,
          delayMs: delay,
          reason: failure.reason,
          status: failure.status,
          error,
        }
        const wakeAt = failedAt + delay
        if (wakeAt >= this.deadlineAt || (options.until !== undefined && wakeAt >= options.until())) {
          const fail: Effect.Effect<never, E | D> =
            options.plan.pastDeadline === "timeout" && wakeAt >= this.deadlineAt
              ? this.deadlineExceeded()
              : Effect.fail(error)
          return Effect.zipRight(
            options.onGiveUp === undefined ? logGiveUp(event) : options.onGiveUp(event),
            fail,
          )
        }
        const onRetry =
          options.onRetry === undefined ? countAndLog(options.operation)(event) : options.onRetry(event)
        return onRetry.pipe(
          Effect.zipRight(Effect.sleep(Duration.millis(delay))),
          Effect.zipRight(Effect.suspend(() => this.next(false))),
        )
      })
    })
  }
}

/**
 * The engine for the managed-identity calls: {@link run} with a {@link RetryPolicy}, each attempt cut at
 * the attempt timeout (reported through `onAttemptTimeout`). The whole call fails with `Timeout` at
 * the deadline.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Retry } from "@azmi/core"
 * const once = Retry.retrying({
 *   policy: Retry.imdsPolicy,
 *   operation: "IMDS token request",
 *   attempt: () => Effect.succeed("token"),
 *   onAttemptTimeout: (ms) => ({ retry: "backoff", reason: "timeout", error: () => new Error(`timed out after ${ms} ms`) }),
 * })
 * ```
 */
export const retrying = <A, E>(options: {
  readonly policy: RetryPolicy
  readonly operation: string
  readonly attempt: (attempt: number) => Effect.Effect<A, AttemptFailure<E>>
  readonly onAttemptTimeout: (millis: number) => AttemptFailure<E>
}): Effect.Effect<A, E | Timeout> =>
  run({
    plan: planOf(options.policy),
    operation: options.operation,
    attempt: (context) => options.attempt(context.attempt),
    onAttemptTimeout: options.onAttemptTimeout,
  })

/**
 * Retry `attempt` with `backoff` for as long as `keepUntil()` (read at each wait) lies beyond the wake-up
 * time: no deadline, no attempt budget, every failure retryable. The token cache's background refresh:
 * retried while the cached value stays valid.
 *
 * @example
 * ```ts
 * Retry.retryUntil({ backoff, attempt: () => lookup(key), keepUntil: () => cached.expiresOn })
 * ```
 */
export const retryUntil = <A, E>(options: {
  readonly backoff: Backoff
  readonly attempt: (attempt: number) => Effect.Effect<A, E>
  /** No retry wakes at or after this time (epoch ms). */
  readonly keepUntil: () => number
  readonly onRetry?: ((event: RetryEvent) => Effect.Effect<void>) | undefined
  readonly onGiveUp?: ((event: RetryEvent) => Effect.Effect<void>) | undefined
}): Effect.Effect<A, E> =>
  loop<A, E, never>(
    {
      plan: {
        backoff: options.backoff,
        attemptTimeoutMs: Number.POSITIVE_INFINITY,
        deadlineMs: Number.POSITIVE_INFINITY,
        pastDeadline: "last-error",
      },
      operation: "retry",
      attempt: ({ attempt }) =>
        Effect.mapError(
          options.attempt(attempt),
          (error): AttemptFailure<E> => ({ retry: "backoff", reason: "failed", error: () => error }),
        ),
      until: options.keepUntil,
      onRetry: options.onRetry ?? (() => Effect.void),
      onGiveUp: options.onGiveUp ?? (() => Effect.void),
    },
    () => Effect.dieMessage("a call without a deadline cannot pass it"),
  )

/**
 * Parse a `Retry-After` header value (delta seconds or HTTP-date) into milliseconds from `nowMs`.
 * Returns `undefined` for an absent or unparseable value; negative results become 0.
 */
export const parseRetryAfter = (value: string | undefined, nowMs: number): number | undefined => {
  if (value === undefined) return undefined
  const v = value.trim()
  if (v === "") return undefined
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000)
  const at = Date.parse(v)
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs)
}
