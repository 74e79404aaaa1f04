/**
 * Resource-group reads with a short TTL and single-flight: a burst of identical reads costs one ARM
 * request. Built on the core's `RefreshAheadCache` (concurrent lookups of one key share one fetch; failures
 * are never kept, so an error is not served after ARM recovers), whose synchronous `peek` lets the hot
 * route answer a fresh read without running an effect.
 *
 * Stale-if-error: when the refresh of a read fails (ARM or IMDS down, throttled, or stuck in retries),
 * `getServable` keeps answering with the last good read for up to `staleIfErrorMs` past its TTL —
 * marked stale, for the route's `Age` and `Warning` — while one background refresh retries.
 * @module
 */
import {
  type ArmError,
  type ArmMetadata,
  RefreshAheadCache,
  type ResourceGroup,
  ResourceGroups,
} from "@azmi/core"
import { Clock, Context, Effect, Layer } from "effect"
import { recordGroupRead, recordStaleGroupRead } from "../metrics.js"

/** A group as the HTTP layer serves it: the JSON body rendered once, plus ARM's ids. */
export interface CachedGroup extends RefreshAheadCache.Expiring {
  readonly group: ResourceGroup
  /** `JSON.stringify` of the group, rendered once per ARM read instead of once per HTTP response. */
  readonly body: string
  readonly metadata: ArmMetadata
  /** Epoch ms when ARM answered (for `Age`). */
  readonly fetchedAt: number
}

/** A read as {@link GroupReads} `getServable` answers it. */
export interface ServedGroup {
  readonly read: CachedGroup
  /** Past its TTL: ARM or IMDS failed (or is slow) to refresh it, and a refresh is under way. */
  readonly stale: boolean
  /** The refresh failed at least once since the read was fetched (only when `stale`). */
  readonly refreshFailed: boolean
}

/**
 * @example
 * ```ts
 * const read = Effect.flatMap(GroupReads, (g) => g.get("98f51385-2edc-4b79-bed9-7718de4cb861", "DevTest"))
 * ```
 */
export class GroupReads extends Context.Tag("@azmi/http/GroupReads")<
  GroupReads,
  {
    readonly get: (subscriptionId: string, resourceGroupName: string) => Effect.Effect<CachedGroup, ArmError>
    /**
     * `get`, or — when the cached read is past its TTL and its refresh fails or is slow — that read,
     * marked stale, for up to the stale-if-error window past the TTL.
     */
    readonly getServable: (
      subscriptionId: string,
      resourceGroupName: string,
    ) => Effect.Effect<ServedGroup, ArmError>
    /**
     * The cached read of exactly these (already validated) names if it is still fresh, else
     * `undefined`; synchronous and counted as a hit. Only names that passed validation and were read
     * from ARM are ever cached, so an answer also means the input was valid.
     */
    readonly peek: (subscriptionId: string, resourceGroupName: string) => CachedGroup | undefined
    /** Seconds a read stays cached (for `Cache-Control: max-age`). */
    readonly ttlSeconds: number
  }
>() {}

/** Part of the TTL after which a read starts a background refresh. */
const refreshAheadFraction = 0.8

/** Maximum number of distinct groups held at once. */
const capacity = 1_024

/**
 * How long a read past its TTL waits for the refresh it starts before the stale copy is served: a
 * healthy ARM read takes milliseconds, and ARM's first retry waits half a second or more, so by then
 * the refresh is in trouble. (A read that finds a refresh already under way does not wait at all.)
 */
export const staleWaitMs = 500

/** Cap of the delay between retries of a failing background refresh (from 1 s, doubling). */
const refreshMaxDelayMs = 10_000

// One string per exact (subscription, group) pair. Unvalidated input may contain any character, so the
// length prefix (not a separator) keeps two different pairs from sharing a key, and so a fetch.
const keyOf = (subscriptionId: string, resourceGroupName: string) =>
  `${subscriptionId.length}:${subscriptionId}/${resourceGroupName}`

/**
 * The live layer over the core's `ResourceGroups`. `ttlMs = 0` turns caching off (every read goes to
 * ARM); `staleIfErrorMs` (default 0: off) is how long past its TTL a read may be served while its
 * refresh fails.
 */
export const layer = (ttlMs: number, staleIfErrorMs = 0): Layer.Layer<GroupReads, never, ResourceGroups> =>
  Layer.scoped(
    GroupReads,
    Effect.gen(function* () {
      const groups = yield* ResourceGroups
      const fetch = (
        subscriptionId: string,
        resourceGroupName: string,
      ): Effect.Effect<CachedGroup, ArmError> =>
        Effect.zipWith(
          groups.get(subscriptionId, resourceGroupName),
          Clock.currentTimeMillis,
          ({ value, metadata }, now) => ({
            group: value,
            body: JSON.stringify(value),
            metadata,
            fetchedAt: now,
            // Served until the TTL is over. A read in its last fifth starts one background refresh
            // and is answered from the cache, so steady readers never wait for ARM; a group nobody
            // reads is not refreshed, and ARM sees at most one read per key per 4/5 of the TTL.
            expiresOn: now + ttlMs,
            refreshOn: now + Math.ceil(ttlMs * refreshAheadFraction),
          }),
        )
      if (ttlMs <= 0)
        return GroupReads.of({
          get: fetch,
          getServable: (subscriptionId, resourceGroupName) =>
            Effect.map(fetch(subscriptionId, resourceGroupName), (read) => ({
              read,
              stale: false,
              refreshFailed: false,
            })),
          peek: () => undefined,
          ttlSeconds: 0,
        })
      let lastSubscription: string | undefined
      let lastGroup: string | undefined
      let lastKey = ""
      const cache = yield* RefreshAheadCache.make({
        lookup: ({
          subscriptionId,
          resourceGroupName,
        }: {
          subscriptionId: string
          resourceGroupName: string
        }) => fetch(subscriptionId, resourceGroupName),
        keyOf: ({ subscriptionId, resourceGroupName }) => {
          // Neighbours mostly read the same group: its key string (and the hash V8 keeps with it)
          // is reused instead of built per read.
          if (subscriptionId !== lastSubscription || resourceGroupName !== lastGroup) {
            lastSubscription = subscriptionId
            lastGroup = resourceGroupName
            lastKey = keyOf(subscriptionId, resourceGroupName)
          }
          return lastKey
        },
        capacity,
        name: "resource group",
        staleIfErrorMs,
        staleWaitMs,
        refreshMaxDelayMs,
      })
      // Each ARM read counts as one miss, for the first caller it is handed to; everyone else who
      // got it (joined the fetch in flight, or read it from the cache) counts a hit.
      const counted = new WeakSet<CachedGroup>()
      const countFetched = (read: CachedGroup) => {
        const first = !counted.has(read)
        if (first) counted.add(read)
        recordGroupRead(!first)
      }
      const peek = (subscriptionId: string, resourceGroupName: string) => {
        const read = cache.peek({ subscriptionId, resourceGroupName })
        if (read !== undefined) recordGroupRead(true)
        return read
      }
      return GroupReads.of({
        get: (subscriptionId, resourceGroupName) =>
          Effect.suspend(() => {
            const fresh = peek(subscriptionId, resourceGroupName)
            if (fresh !== undefined) return Effect.succeed(fresh)
            return Effect.map(cache.get({ subscriptionId, resourceGroupName }), (read) => {
              countFetched(read)
              return read
            })
          }),
        getServable: (subscriptionId, resourceGroupName) =>
          Effect.suspend(() => {
            const fresh = peek(subscriptionId, resourceGroupName)
            if (fresh !== undefined)
              return Effect.succeed({ read: fresh, stale: false, refreshFailed: false })
            return Effect.map(cache.getServable({ subscriptionId, resourceGroupName }), (served) => {
              if (served.stale) {
                recordGroupRead(true)
                recordStaleGroupRead()
              } else countFetched(served.value)
              return { read: served.value, stale: served.stale, refreshFailed: served.refreshFailed }
            })
          }),
        peek,
        ttlSeconds: Math.floor(ttlMs / 1000),
      })
    }),
  )
