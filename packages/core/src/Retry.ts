/**
 * Azure's retry rules for managed-identity endpoints, in one place.
 *
 * - 404, 408, 429, 5xx and transport errors / attempt timeouts: exponential backoff with jitter and
 *   a cap, `maxRetries` times; a `Retry-After` (seconds or HTTP-date) replaces the computed delay.
 * - 410 ("IMDS is updating, available within 70 s"): a fixed interval (default 10 s after each 410)
 *   until a 410 arrives at least the window (default 70 s) after the first one. The window is judged
 *   by when the 410s arrived, so neither jitter nor response time can shorten it: slow answers only
 *   lengthen it.
 * - 400, 401, 403 and everything else: never retried.
 * - Every attempt has a timeout and the whole call a deadline; no sleep runs past the deadline.
 *
 * All waiting is `Effect.sleep`, so tests drive it with `TestClock`.
 * @module
 */
import { Clock, Duration, Effect, Metric, Random } from "effect"
import { Timeout } from "./Errors.js"
import * as Metrics from "./Metrics.js"

/** The knobs of {@link retrying}. */
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

/** How one failed attempt should be treated. */
export interface AttemptFailure<E> {
  /** `no`: give up now; `backoff`: ordinary retry; `gone`: the 410 window. */
  readonly retry: "no" | "backoff" | "gone"
  /** What to fail with if this is the last attempt; gets the number of attempts made. */
  readonly error: (attempts: number) => E
  /** A server-supplied delay (Retry-After), in ms. */
  readonly retryAfterMs?: number | undefined
  /** HTTP status, for logs. */
  readonly status?: number | undefined
  /** Short reason for logs (never a token). */
  readonly reason: string
}

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

/** The ordinary backoff delay before retry number `retry` (1-based), before jitter. */
export const backoffDelay = (policy: RetryPolicy, retry: number): number =>
  Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1))

/**
 * Run `attempt` under `policy`. `attempt(n)` performs attempt `n` (1-based) and fails with an
 * {@link AttemptFailure} that classifies the failure; each attempt is cut off at the attempt timeout
 * (reported through `onAttemptTimeout`). The whole call fails with `Timeout` at the deadline.
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
  /** Named in `Timeout` errors and logs, e.g. `IMDS token request`. */
  readonly operation: string
  readonly attempt: (attempt: number) => Effect.Effect<A, AttemptFailure<E>>
  readonly onAttemptTimeout: (millis: number) => AttemptFailure<E>
}): Effect.Effect<A, E | Timeout> =>
  Effect.gen(function* () {
    const { policy } = options
    const start = yield* Clock.currentTimeMillis
    const deadlineAt = start + policy.deadlineMs
    let attempts = 0
    let backoffRetries = 0
    let firstGoneAt: number | undefined
    while (true) {
      attempts++
      const now = yield* Clock.currentTimeMillis
      const remaining = deadlineAt - now
      if (remaining <= 0)
        return yield* new Timeout({ operation: options.operation, millis: policy.deadlineMs })
      const limitedByDeadline = remaining < policy.attemptTimeoutMs
      const budget = Math.min(policy.attemptTimeoutMs, remaining)
      const n = attempts
      const result = yield* options.attempt(n).pipe(
        Effect.timeoutFail({
          duration: Duration.millis(budget),
          onTimeout: () =>
            limitedByDeadline ? "deadline" : options.onAttemptTimeout(policy.attemptTimeoutMs),
        }),
        Effect.either,
      )
      if (result._tag === "Right") return result.right
      if (result.left === "deadline") {
        return yield* new Timeout({ operation: options.operation, millis: policy.deadlineMs })
      }
      const failure = result.left
      const failedAt = yield* Clock.currentTimeMillis
      let delay: number | undefined
      if (failure.retry === "gone") {
        firstGoneAt ??= failedAt
        // Judged on arrival times, not on when the next attempt would start: a window "next - first <=
        // 70 s" lost a retry to a few ms of latency per answer (60 s and 7 requests in real time).
        if (failedAt - firstGoneAt < policy.goneWindowMs) {
          delay = Math.max(policy.goneIntervalMs, failure.retryAfterMs ?? 0)
        }
      } else if (failure.retry === "backoff" && backoffRetries < policy.maxRetries) {
        backoffRetries++
        if (failure.retryAfterMs !== undefined) {
          delay = failure.retryAfterMs
        } else {
          const factor =
            policy.jitter === 0 ? 1 : yield* Random.nextRange(1 - policy.jitter, 1 + policy.jitter)
          delay = Math.round(Math.min(policy.maxDelayMs, backoffDelay(policy, backoffRetries) * factor))
        }
      }
      if (delay === undefined || failedAt + delay >= deadlineAt) {
        if (delay !== undefined) {
          yield* Effect.logDebug("not retrying: the wait would pass the deadline").pipe(
            Effect.annotateLogs({ attempt: n, status: failure.status, waitMs: delay }),
          )
        }
        return yield* Effect.fail(failure.error(attempts))
      }
      yield* Metric.increment(Metrics.retries)
      yield* Effect.logInfo(`${options.operation} failed (${failure.reason}); retrying in ${delay} ms`).pipe(
        Effect.annotateLogs({ attempt: n, status: failure.status, waitMs: delay }),
      )
      yield* Effect.sleep(Duration.millis(delay))
    }
  })
