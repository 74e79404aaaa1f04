/**
 * A refresh-ahead cache of any expiring value: keyed, single-flight, and never blocking a caller that
 * holds a valid value. The token providers (tokens per resource), instance metadata and azmi-http's
 * group reads are all built on it.
 *
 * Each key's entry is in one of these states (`now` by the cache's clock; "valid" means
 * `now < expiresOn − expirySkewMs`):
 *
 * | state | held value | fetch in flight | `get` | `peek` |
 * |---|---|---|---|---|
 * | absent | — | — | starts the fetch, waits (a miss) | `undefined` |
 * | fetching (cold) | none, or expired | one | joins it, waits (a miss) | `undefined` |
 * | fresh | valid, before `refreshOn` | — | the value (a hit) | the value |
 * | due | valid, past `refreshOn` | — | the value, and starts the background refresh | same as `get` |
 * | refreshing | valid | one (background) | the value (a hit) | the value |
 * | expired, refreshing | expired | one (background) | waits for one lookup: the refresh's running attempt, else one it starts now (a miss) | `undefined` |
 * | expired | expired | — | as absent | `undefined` |
 *
 * - A fetch that succeeds replaces the value (a newer fetch's value is never overwritten by an older
 *   one's); one that fails leaves the entry as it was: failures are never cached, so the next caller
 *   after a failed cold fetch starts a new one.
 * - A background refresh that fails is retried with backoff while the held value is still valid when
 *   the next attempt would start; callers never notice. Background work lives in the cache's scope.
 * - `forceRefresh` fetches even for a valid value (joining a forced fetch already in flight).
 * - At most `capacity` keys are kept (least recently used first out; entries with a fetch in flight
 *   are never dropped). `invalidate` makes a key absent (an in-flight fetch still completes).
 *
 * With `staleIfErrorMs` (default 0: off) an expired value stays *servable* for that long after it
 * expires, through {@link RefreshAheadCache.getServable} only (`get` and `peek` never answer with it):
 *
 * | state | held value | fetch in flight | `getServable` |
 * |---|---|---|---|
 * | stale, refreshing | expired less than `staleIfErrorMs` ago | one | the stale value at once |
 * | stale | expired less than `staleIfErrorMs` ago | — | starts the one refresh, waits up to `staleWaitMs` for it, else the stale value |
 *
 * The refresh it starts (and a background refresh) keeps retrying with backoff until it succeeds or the
 * stale window ends, so a failing upstream sees one refresh at a time, never one per caller. In those
 * states `get` never answers with a stale value, nor waits out the stale window: as in "expired,
 * refreshing" it waits for one lookup (joining the refresh's attempt, or starting one the refresh then
 * joins or, when it brought a valid value, ends with) and fails with that lookup's error.
 *
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
export interface RefreshAheadCacheOptions<K, V extends Expiring, E, R> {
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
  /**
   * How long after it expires a value may still be served by `getServable` while a refresh fails or
   * is slow. Default 0 (never: an expired value is never served).
   */
  readonly staleIfErrorMs?: number | undefined
  /**
   * How long `getServable` waits for the refresh it starts before it answers with the stale value.
   * Default 0 (answer with the stale value at once; the refresh goes on in the background).
   */
  readonly staleWaitMs?: number | undefined
}

/** An answer of {@link RefreshAheadCache.getServable}. */
export interface Servable<V> {
  readonly value: V
  /** The value expired (it is within the `staleIfErrorMs` window); a refresh is under way. */
  readonly stale: boolean
  /** A refresh of this key failed since the value was fetched (only ever true when `stale`). */
  readonly refreshFailed: boolean
}

/** Options of {@link RefreshAheadCache.get}. */
export interface CacheGetOptions {
  /** Ignore the cached value and fetch a new one. */
  readonly forceRefresh?: boolean | undefined
}

/** A cache made by {@link make}. */
export interface RefreshAheadCache<K, V extends Expiring, E> {
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
  /**
   * `get`, except that a value expired less than `staleIfErrorMs` ago is answered (marked `stale`)
   * instead of waiting for a refresh that fails or is slow: at once when the refresh is already under
   * way, else after waiting up to `staleWaitMs` for the refresh it starts. Without `staleIfErrorMs`
   * it is `get` (every answer fresh).
   *
   * @example
   * ```ts
   * const { value, stale } = yield* cache.getServable(key)
   * if (stale) response.headers.set("Warning", '110 - "Response is Stale"')
   * ```
   */
  readonly getServable: (key: K) => Effect.Effect<Servable<V>, E>
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
  /** `inflight` is a background refresh (many lookups), not a single fetch. */
  inflightRefresh: boolean
  /** The one lookup running for this key as an attempt of a background refresh, or for a `get` during one. */
  attempt: Deferred.Deferred<V, E> | undefined
  /** A refresh attempt failed since `value` was fetched. */
  refreshFailed: boolean
}

/**
 * Make a cache whose background work lives in the current scope.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RefreshAheadCache } from "@azmi/core"
 *
 * const program = Effect.gen(function* () {
 *   const cache = yield* RefreshAheadCache.make({
 *     lookup: (resource: string) =>
 *       Effect.succeed({ resource, expiresOn: Date.now() + 3_600_000, refreshOn: Date.now() + 3_300_000 }),
 *   })
 *   return yield* cache.get("https://management.azure.com/")
 * })
 * Effect.runPromise(Effect.scoped(program))
 * ```
 */
export const make = <K, V extends Expiring, E, R>(
  options: RefreshAheadCacheOptions<K, V, E, R>,
): Effect.Effect<RefreshAheadCache<K, V, E>, never, Scope.Scope | R> =>
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
    const staleFor = Math.max(0, options.staleIfErrorMs ?? 0)
    const staleWait = Math.max(0, options.staleWaitMs ?? 0)
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
              if (entry.attempt === deferred) entry.attempt = undefined
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
              entry.refreshFailed = false
            }
            if (entry.inflight === deferred) {
              entry.inflight = undefined
              entry.inflightForced = false
              entry.inflightRefresh = false
            }
            if (entry.attempt === deferred) entry.attempt = undefined
            return Deferred.done(deferred, exit)
          }),
        ),
        Effect.onInterrupt(() =>
          Effect.suspend(() => {
            if (entry.inflight === deferred) entry.inflight = undefined
            if (entry.attempt === deferred) entry.attempt = undefined
            return Deferred.interrupt(deferred)
          }),
        ),
      )

    // Background refresh: retried with backoff (no jitter, no limit) for as long as the cached value
    // stays valid (or, with `staleIfErrorMs`, servable) when the next attempt would start.
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
    // One lookup for the key, shared: a refresh's attempt and a `get` of the expired value during the
    // refresh join the one running, so upstream sees one lookup at a time. A refresh runs its attempts
    // in its own fiber; a `get` forks its lookup into the cache's scope.
    const lookupOnce = (key: K, entry: Entry<V, E>, inline: boolean): Effect.Effect<V, E> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          if (entry.attempt !== undefined) return restore(Deferred.await(entry.attempt))
          const deferred = Deferred.unsafeMake<V, E>(FiberId.none)
          entry.attempt = deferred
          const work = fetch(entry, deferred, ++generation, inline ? restore(lookup(key)) : lookup(key))
          return Effect.zipRight(
            inline ? work : fork(entry, deferred, work),
            restore(Deferred.await(deferred)),
          )
        }),
      )
    const refreshAhead = (key: K, entry: Entry<V, E>): Effect.Effect<V, E> => {
      const since = entry.valueGeneration
      return Retry.retryUntil({
        backoff: refreshBackoff,
        // A `get` during the refresh may have fetched a newer value already: then that is the answer.
        attempt: () =>
          Effect.suspend(() =>
            entry.valueGeneration > since && isValid(entry.value, clock.unsafeCurrentTimeMillis())
              ? Effect.succeed(entry.value)
              : lookupOnce(key, entry, true),
          ),
        keepUntil: () =>
          entry.value === undefined ? Number.NEGATIVE_INFINITY : entry.value.expiresOn - skew + staleFor,
        onRetry: (event) =>
          Effect.zipRight(
            Effect.sync(() => {
              entry.refreshFailed = true
            }),
            refreshFailed(event, `serving the cached ${name}, retrying in ${event.delayMs} ms`),
          ),
        onGiveUp: (event) =>
          Effect.zipRight(
            Effect.sync(() => {
              entry.refreshFailed = true
            }),
            refreshFailed(event, `the cached ${name} expires before the next retry`),
          ),
      })
    }

    // Starts the one background refresh of a value that is due or stale (the caller is answered with it).
    const startRefresh = (key: K, entry: Entry<V, E>): Deferred.Deferred<V, E> => {
      const deferred = Deferred.unsafeMake<V, E>(FiberId.none)
      entry.inflight = deferred
      entry.inflightForced = false
      entry.inflightRefresh = true
      Runtime.runFork(runtime)(
        fork(entry, deferred, fetch(entry, deferred, ++generation, refreshAhead(key, entry))),
      )
      return deferred
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
                inflightRefresh: false,
                attempt: undefined,
                refreshFailed: false,
              }
              entries.set(k, entry)
              evict()
            }
            // The value expired during a background refresh, which (with `staleIfErrorMs`) may retry for
            // the whole stale window: wait for one lookup (the refresh's running attempt, else one now),
            // as for an expired value without a refresh, not for the refresh.
            if (entry.inflight !== undefined && entry.inflightRefresh && !force) {
              return Effect.zipRight(countMiss, restore(lookupOnce(key, entry, false)))
            }
            if (entry.inflight !== undefined && (!force || entry.inflightForced)) {
              return Effect.zipRight(countMiss, restore(Deferred.await(entry.inflight)))
            }
            const deferred = Deferred.unsafeMake<V, E>(fiberId)
            entry.inflight = deferred
            entry.inflightForced = force
            entry.inflightRefresh = false
            return fork(entry, deferred, fetch(entry, deferred, ++generation, lookup(key))).pipe(
              Effect.zipRight(countMiss),
              Effect.zipRight(restore(Deferred.await(deferred))),
            )
          }),
        ),
      )

    const fresh = (value: V): Servable<V> => ({ value, stale: false, refreshFailed: false })
    const staleOf = (entry: Entry<V, E>, value: V): Servable<V> => ({
      value,
      stale: true,
      refreshFailed: entry.refreshFailed,
    })

    const getServable = (key: K): Effect.Effect<Servable<V>, E> =>
      Effect.suspend(() => {
        const value = peek(key)
        if (value !== undefined) return Effect.succeed(fresh(value))
        const now = clock.unsafeCurrentTimeMillis()
        const entry = entries.get(keyOf(key))
        const held = entry?.value
        if (entry === undefined || held === undefined || now >= held.expiresOn - skew + staleFor)
          return Effect.map(slowGet(key), fresh)
        // Stale but servable: one refresh at a time, whoever asks.
        entry.lastUsed = now
        options.hits?.unsafeUpdate(1, [])
        if (entry.inflight !== undefined) return Effect.succeed(staleOf(entry, held))
        const refresh = startRefresh(key, entry)
        if (staleWait === 0) return Effect.succeed(staleOf(entry, held))
        return Deferred.await(refresh).pipe(
          Effect.map(fresh),
          Effect.timeout(staleWait),
          // Slow or failed: the stale value now, the refresh goes on (and is retried) in the background.
          Effect.orElse(() => Effect.sync(() => staleOf(entry, entry.value ?? held))),
        )
      })

    return {
      get,
      peek,
      getServable,
      invalidate: (key) =>
        Effect.sync(() => {
          const entry = entries.get(keyOf(key))
          if (entry !== undefined) entry.value = undefined
        }),
      size: Effect.sync(() => entries.size),
    } satisfies RefreshAheadCache<K, V, E>
  })

const describe = (error: unknown): string =>
  typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "error"
