/**
 * azmi's counters, as `effect` `Metric`s, so a shell (the HTTP app's `/metrics`) can read them with
 * `Metric.value(counter)` or `Metric.snapshot`.
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Metrics } from "@azmi/core"
 * const hits = Effect.map(Metric.value(Metrics.tokenCacheHits), (state) => state.count)
 * ```
 * @module
 */
import { Metric } from "effect"

/** HTTP requests sent to a managed-identity endpoint (IMDS or App Service), every attempt counted. */
export const imdsRequests = Metric.counter("azmi_imds_requests_total", {
  description: "Requests sent to the managed-identity endpoint (every attempt)",
  incremental: true,
})

/** HTTP requests sent to ARM, every attempt counted (retries and the 401 retry included). */
export const armRequests = Metric.counter("azmi_arm_requests_total", {
  description: "Requests sent to Azure Resource Manager (every attempt)",
  incremental: true,
})

/** `getToken` calls answered from the cache without waiting for a request. */
export const tokenCacheHits = Metric.counter("azmi_token_cache_hits_total", {
  description: "Token requests answered from the cache",
  incremental: true,
})

/** `getToken` calls that had to wait for a token request (their own or a shared in-flight one). */
export const tokenCacheMisses = Metric.counter("azmi_token_cache_misses_total", {
  description: "Token requests that waited for a fetch",
  incremental: true,
})

/** Retries of any azmi request, IMDS or ARM (after a retryable status or transport error). */
export const retries = Metric.counter("azmi_retries_total", {
  description: "Retries of requests after a retryable failure",
  incremental: true,
})

/**
 * Every counter above, for an exporter that wants them all listed from the start (at 0) rather than
 * only once they first change — what Prometheus expects of a counter.
 *
 * @example
 * ```ts
 * for (const counter of Metrics.all) counter.unsafeUpdate(0, [])
 * ```
 */
export const all = [imdsRequests, armRequests, tokenCacheHits, tokenCacheMisses, retries] as const
