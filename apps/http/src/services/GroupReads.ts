/**
 * Resource-group reads with a short TTL and single-flight: a burst of identical reads costs one ARM
 * request. Built on Effect's `Cache` (concurrent lookups of one key share one fiber); failures are
 * never kept, so an error is not served after ARM recovers.
 * @module
 */
import { type ArmError, type ArmMetadata, type ResourceGroup, ResourceGroups } from "@azmi/core"
import { Cache, Clock, Context, Data, Duration, Effect, Either, Exit, Layer } from "effect"
import { recordGroupRead } from "../metrics.js"

/** A group as the HTTP layer serves it: the JSON body rendered once, plus ARM's ids. */
export interface CachedGroup {
  readonly group: ResourceGroup
  /** `JSON.stringify` of the group, rendered once per ARM read instead of once per HTTP response. */
  readonly body: string
  readonly metadata: ArmMetadata
  /** Epoch ms when ARM answered (for `Age`). */
  readonly fetchedAt: number
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
    /** Seconds a read stays cached (for `Cache-Control: max-age`). */
    readonly ttlSeconds: number
  }
>() {}

/** Maximum number of distinct groups held at once. */
const capacity = 1_024

/**
 * The live layer over the core's `ResourceGroups`. `ttlMs = 0` turns caching off (every read goes to ARM).
 */
export const layer = (ttlMs: number): Layer.Layer<GroupReads, never, ResourceGroups> =>
  Layer.effect(
    GroupReads,
    Effect.gen(function* () {
      const groups = yield* ResourceGroups
      const fetch = (subscriptionId: string, resourceGroupName: string) =>
        Effect.zipWith(
          groups.get(subscriptionId, resourceGroupName),
          Clock.currentTimeMillis,
          ({ value, metadata }, now) => ({
            group: value,
            body: JSON.stringify(value),
            metadata,
            fetchedAt: now,
          }),
        )
      if (ttlMs <= 0) return GroupReads.of({ get: fetch, ttlSeconds: 0 })
      // Keys compare structurally (Data.tuple), so each exact (subscription, group) pair has one entry.
      const cache = yield* Cache.makeWith({
        capacity,
        lookup: ([subscriptionId, resourceGroupName]: readonly [string, string]) =>
          fetch(subscriptionId, resourceGroupName),
        timeToLive: (exit) => (Exit.isSuccess(exit) ? Duration.millis(ttlMs) : Duration.zero),
      })
      return GroupReads.of({
        get: (subscriptionId, resourceGroupName) =>
          Effect.map(cache.getEither(Data.tuple(subscriptionId, resourceGroupName)), (result) => {
            // Left: the entry existed (cached or in flight); Right: this call made the ARM request.
            recordGroupRead(Either.isLeft(result))
            return Either.merge(result)
          }),
        ttlSeconds: Math.floor(ttlMs / 1000),
      })
    }),
  )
