/**
 * A keyed cache for values that expire and should be refreshed ahead of time (tokens), with
 * single-flight fetches and refresh-ahead that never blocks a caller holding a valid value.
 *
 * - Any number of concurrent callers for a cold key cause exactly one `lookup`.
 * - After `refreshOn`, a caller gets the cached value at once while one background refresh runs
 *   (forked in the cache's scope). If it fails, it is retried with backoff while the cached value is
 *   still valid; callers never notice.
 * - Failures are never cached: the next caller after a failed cold fetch starts a new one.
 * - `forceRefresh` starts a new fetch even for a valid value (joining one that is already forced).
 * - At most `capacity` keys are kept (least recently used dropped first).
 *
 * Generic so any expiring value (a token, instance metadata) can reuse it.
 * @module
 */
import { Deferred, Effect, Exit, FiberId, Metric as M, type Metric, Runtime, type Scope } from "effect"
import * as Retry from "./Retry.js"

/** What the cache needs to know about a value: epoch ms. */
export interface Expiring {
  /** After this the value is unusable. */
  readonly expiresOn: number
  /** After this the value is still served but a background refresh starts. */
  readonly refreshOn: number
}

/** Options of {@link make}. */
export interface TokenCacheOptions<K, V extends Expiring, E, R> {
  /** Fetch the value for a key (with its own retries). */
  readonly lookup: (key: K) => Effect.Effect<V, E, R>
  /** The identity of a key; default `String(key)`. */
  readonly keyOf?: ((key: K) => string) | undefined
  /** Maximum number of keys kept. Default 1000. */
  readonly capacity?: number | undefined
  /** A value counts as expired this many ms before `expiresOn`. Default 0. */
  readonly expirySkewMs?: number | undefined
  /** First delay between failed background refreshes (doubling up to `refreshMaxDelayMs`). Default 1000. */
  readonly refreshBaseDelayMs?: number | undefined
  /** Cap of the background refresh delay. Default 60000. */
  readonly refreshMaxDelayMs?: number | undefined
  /** Counted on every call answered without waiting. */
  readonly hits?: Metric.Metric.Counter<number> | undefined
  /** Counted on every call that waits for a fetch. */
  readonly misses?: Metric.Metric.Counter<number> | undefined
  /** Named in log lines, e.g. `token`. */
  readonly name?: string | undefined
}

/** Options of {@link TokenCache.get}. */
export interface CacheGetOptions {
  /** Ignore the cached value and fetch a new one. */
  readonly forceRefresh?: boolean | undefined
}

/** A cache made by {@link make}. */
export interface TokenCache<K, V extends Expiring, E> {
  /** The value for `key`: cached when valid, else fetched once for all concurrent callers. */
  readonly get: (key: K, options?: CacheGetOptions) => Effect.Effect<V, E>
  /**
   * The cached value for `key` if it is still valid (by the cache's clock), else `undefined`;
   * synchronous, for a hot path that must not run an effect. It is exactly a `get` served from the
   * cache: an answer counts as a hit and as a use of the key, and an answer past its `refreshOn`
   * starts the one background refresh (in the cache's scope) unless it is already running, so a hot
   * path that only peeks never waits for a refresh. `undefined` (cold or expired) counts nothing and
   * starts nothing: fall back to `get`, which fetches and counts the miss.
   *
   * @example
   * ```ts
   * const fresh = cache.peek(key)
   * const value = fresh !== undefined ? fresh : await Effect.runPromise(cache.get(key))
   * ```
   */
  readonly peek: (key: K) => V | undefined
  /** Drop the cached value for `key` (an in-flight fetch still completes). */
  readonly invalidate: (key: K) => Effect.Effect<void>
  /** Number of keys held. */
  readonly size: Effect.Effect<number>
}

interface Entry<V, E> {
  value: V | undefined
  lastUsed: number
  valueGeneration: number
  inflight: Deferred.Deferred<V, E> | undefined
  inflightForced: boolean
}

/**
 * Make a cache whose background work lives in the current scope.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TokenCache } from "@azmi/core"
 *
 * const program = Effect.gen(function* () {
 *   const cache = yield* TokenCache.make({
 *     lookup: (resource: string) =>
 *       Effect.succeed({ resource, expiresOn: Date.now() + 3_600_000, refreshOn: Date.now() + 3_300_000 }),
 *   })
 *   return yield* cache.get("https://management.azure.com/")
 * })
 * Effect.runPromise(Effect.scoped(program))
 * ```
 */
export const make = <K, V extends Expiring, E, R>(
  options: TokenCacheOptions<K, V, E, R>,
): Effect.Effect<TokenCache<K, V, E>, never, Scope.Scope | R> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    // Background refreshes started by a synchronous `peek` run on the runtime the cache was made in
    // (its clock, logger and services), not on whichever caller's fiber happened to notice.
    const runtime = yield* Effect.runtime<never>()
    // The clock of the context the cache is made in (TestClock in tests); captured once for cheap hits.
    const clock = yield* Effect.clock
    const context = yield* Effect.context<R>()
    const keyOf = options.keyOf ?? ((k: K) => String(k))
    const capacity = Math.max(1, options.capacity ?? 1000)
    const skew = options.expirySkewMs ?? 0
    const baseDelay = options.refreshBaseDelayMs ?? 1_000
    const maxDelay = options.refreshMaxDelayMs ?? 60_000
    const name = options.name ?? "value"
    const entries = new Map<string, Entry<V, E>>()
    let generation = 0

    const countMiss = options.misses === undefined ? Effect.void : M.increment(options.misses)

    const isValid = (v: V | undefined, now: number): v is V => v !== undefined && now < v.expiresOn - skew

    // Least recently used first; a scan on insertion keeps hits cheap (no Map reordering per hit).
    const evict = () => {
      while (entries.size > capacity) {
        let oldest: string | undefined
        let oldestUsed = Number.POSITIVE_INFINITY
        for (const [k, e] of entries) {
          if (e.inflight === undefined && e.lastUsed < oldestUsed) {
            oldest = k
            oldestUsed = e.lastUsed
          }
        }
        if (oldest === undefined) return
        entries.delete(oldest)
      }
    }

    const lookup = (key: K) => Effect.provide(options.lookup(key), context)
    // Fetches are forked from an uninterruptible region (so a deferred is never left without its
    // fiber) but must stay interruptible themselves, so closing the scope can stop them.
    // If the scope is already closed the fiber never starts, so complete the deferred from outside.
    const fork = (entry: Entry<V, E>, deferred: Deferred.Deferred<V, E>, effect: Effect.Effect<void>) =>
      Effect.tap(Effect.forkIn(Effect.interruptible(effect), scope), (fiber) =>
        Effect.sync(() =>
          fiber.addObserver((exit) => {
            if (Exit.isFailure(exit)) {
              if (entry.inflight === deferred) entry.inflight = undefined
              Deferred.unsafeDone(deferred, Exit.failCause(exit.cause))
            }
          }),
        ),
      )

    // Runs in the cache's scope; records the result and completes the deferred.
    const fetch = (
      entry: Entry<V, E>,
      deferred: Deferred.Deferred<V, E>,
      gen: number,
      work: Effect.Effect<V, E>,
    ): Effect.Effect<void> =>
      work.pipe(
        Effect.exit,
        Effect.flatMap((exit) =>
          Effect.suspend(() => {
            if (Exit.isSuccess(exit) && gen > entry.valueGeneration) {
              entry.value = exit.value
              entry.valueGeneration = gen
            }
            if (entry.inflight === deferred) {
              entry.inflight = undefined
              entry.inflightForced = false
            }
            return Deferred.done(deferred, exit)
          }),
        ),
        Effect.onInterrupt(() =>
          Effect.suspend(() => {
            if (entry.inflight === deferred) entry.inflight = undefined
            return Deferred.interrupt(deferred)
          }),
        ),
      )

    // Background refresh: retried with backoff (no jitter, no limit) for as long as the cached value
    // stays valid when the next attempt would start.
    const refreshBackoff: Retry.Backoff = {
      baseDelayMs: baseDelay,
      maxDelayMs: maxDelay,
      jitter: [1, 1],
      maxRetries: Number.POSITIVE_INFINITY,
    }
    const refreshFailed = (event: Retry.RetryEvent, outlook: string) =>
      Effect.logWarning(`background ${name} refresh failed; ${outlook}`).pipe(
        Effect.annotateLogs({ attempt: event.attempt, waitMs: event.delayMs, error: describe(event.error) }),
      )
    const refreshAhead = (key: K, entry: Entry<V, E>): Effect.Effect<V, E> =>
      Retry.retryUntil({
        backoff: refreshBackoff,
        attempt: () => lookup(key),
        keepUntil: () =>
          entry.value === undefined ? Number.NEGATIVE_INFINITY : entry.value.expiresOn - skew,
        onRetry: (event) =>
          refreshFailed(event, `serving the cached ${name}, retrying in ${event.delayMs} ms`),
        onGiveUp: (event) => refreshFailed(event, `the cached ${name} expires before the next retry`),
      })

    // Starts the one background refresh of a valid value that is due (the caller is answered with it).
    const startRefresh = (key: K, entry: Entry<V, E>) => {
      const deferred = Deferred.unsafeMake<V, E>(FiberId.none)
      entry.inflight = deferred
      entry.inflightForced = false
      Runtime.runFork(runtime)(
        fork(entry, deferred, fetch(entry, deferred, ++generation, refreshAhead(key, entry))),
      )
    }

    // The hot path: a valid value is answered with no fiber or deferred work at all.
    const peek = (key: K): V | undefined => {
      const now = clock.unsafeCurrentTimeMillis()
      const entry = entries.get(keyOf(key))
      if (entry === undefined) return undefined
      const value = entry.value
      if (!isValid(value, now)) return undefined
      entry.lastUsed = now
      if (now >= value.refreshOn && entry.inflight === undefined) startRefresh(key, entry)
      options.hits?.unsafeUpdate(1, [])
      return value
    }

    const get = (key: K, getOptions?: CacheGetOptions): Effect.Effect<V, E> =>
      Effect.suspend(() => {
        if (getOptions?.forceRefresh !== true) {
          const value = peek(key)
          if (value !== undefined) return Effect.succeed(value)
        }
        return slowGet(key, getOptions)
      })

    const slowGet = (key: K, getOptions?: CacheGetOptions): Effect.Effect<V, E> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.fiberIdWith((fiberId) =>
          Effect.suspend(() => {
            const now = clock.unsafeCurrentTimeMillis()
            const force = getOptions?.forceRefresh === true
            const k = keyOf(key)
            // A valid value was answered by `peek` (in `get`), unless this call forces a refresh.
            let entry = entries.get(k)
            if (entry === undefined) {
              entry = {
                value: undefined,
                lastUsed: now,
                valueGeneration: 0,
                inflight: undefined,
                inflightForced: false,
              }
              entries.set(k, entry)
              evict()
            }
            if (entry.inflight !== undefined && (!force || entry.inflightForced)) {
              return Effect.zipRight(countMiss, restore(Deferred.await(entry.inflight)))
            }
            const deferred = Deferred.unsafeMake<V, E>(fiberId)
            entry.inflight = deferred
            entry.inflightForced = force
            return fork(entry, deferred, fetch(entry, deferred, ++generation, lookup(key))).pipe(
              Effect.zipRight(countMiss),
              Effect.zipRight(restore(Deferred.await(deferred))),
            )
          }),
        ),
      )

    return {
      get,
      peek,
      invalidate: (key) =>
        Effect.sync(() => {
          const entry = entries.get(keyOf(key))
          if (entry !== undefined) entry.value = undefined
        }),
      size: Effect.sync(() => entries.size),
    } satisfies TokenCache<K, V, E>
  })

const describe = (error: unknown): string =>
  typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "error"
