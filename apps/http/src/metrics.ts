/**
 * Prometheus text exposition of every Effect `Metric` in the process: azmi-http's own (requests by
 * route and status, latency histogram) and the core's (`azmi_imds_requests_total`,
 * `azmi_token_cache_hits_total`, `azmi_retries_total`, …), which live in the same global registry.
 * @module
 */
import { Metrics } from "@azmi/core"
import { Metric, type MetricPair, MetricState } from "effect"

// azmi-http's own metrics are plain counters updated on every response: an Effect metric update
// with per-call labels builds and hashes a metric key each time, which costs more than the rest of
// a cached read. They are rendered next to the Effect metrics (the core's) below.

const durationBuckets = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const

interface Histogram {
  readonly counts: Array<number> // per bucket, not cumulative
  count: number
  sum: number
}

const requests = new Map<string, { route: string; method: string; status: string; count: number }>()
const durations = new Map<string, Histogram>()
let inFlight = 0
let groupCacheHits = 0
let groupCacheMisses = 0
let groupStaleServed = 0
let droppedLogLines: () => number = () => 0

/** Records one served request (synchronously: this runs on every response). */
export const recordRequest = (route: string, method: string, status: number, seconds: number): void => {
  const key = `${route} ${method} ${status}`
  const entry = requests.get(key)
  if (entry === undefined) requests.set(key, { route, method, status: String(status), count: 1 })
  else entry.count++
  let histogram = durations.get(route)
  if (histogram === undefined) {
    histogram = { counts: durationBuckets.map(() => 0), count: 0, sum: 0 }
    durations.set(route, histogram)
  }
  let bucket = 0
  while (bucket < durationBuckets.length && seconds > (durationBuckets[bucket] as number)) bucket++
  if (bucket < durationBuckets.length) histogram.counts[bucket] = (histogram.counts[bucket] ?? 0) + 1
  histogram.count++
  histogram.sum += seconds
}

/**
 * The recorder of one (route, method, status): {@link recordRequest} without building and hashing a
 * key per request, for the hot path. The series appears once the first request is recorded.
 */
export const requestRecorder = (
  route: string,
  method: string,
  status: number,
): ((seconds: number) => void) => {
  let entry: { count: number } | undefined
  let histogram: Histogram | undefined
  return (seconds) => {
    if (entry === undefined || histogram === undefined) {
      recordRequest(route, method, status, seconds)
      entry = requests.get(`${route} ${method} ${status}`)
      histogram = durations.get(route)
      return
    }
    entry.count++
    let bucket = 0
    while (bucket < durationBuckets.length && seconds > (durationBuckets[bucket] as number)) bucket++
    if (bucket < durationBuckets.length) histogram.counts[bucket] = (histogram.counts[bucket] ?? 0) + 1
    histogram.count++
    histogram.sum += seconds
  }
}

/** Marks a request as started (`+1`) or finished (`-1`). */
export const trackInFlight = (delta: 1 | -1): void => {
  inFlight += delta
}

/** Counts a group read served from azmi-http's cache (`hit`) or sent to ARM. */
export const recordGroupRead = (hit: boolean): void => {
  if (hit) groupCacheHits++
  else groupCacheMisses++
}

/** Counts a group read answered with a stale copy (past its TTL, while the refresh fails or is slow). */
export const recordStaleGroupRead = (): void => {
  groupStaleServed++
}

/** Where `azmi_http_log_lines_dropped_total` is read from (the access-log sink's counter). */
export const reportDroppedLogLines = (read: () => number): void => {
  droppedLogLines = read
}

const ownMetrics = (): Array<string> => {
  const out = [
    "# HELP azmi_http_requests_total HTTP requests served by azmi-http, by route, method and status",
    "# TYPE azmi_http_requests_total counter",
  ]
  for (const { route, method, status, count } of requests.values()) {
    out.push(
      `azmi_http_requests_total${labels([
        ["route", route],
        ["method", method],
        ["status", status],
      ])} ${count}`,
    )
  }
  out.push(
    "# HELP azmi_http_request_duration_seconds HTTP request latency of azmi-http in seconds, by route",
    "# TYPE azmi_http_request_duration_seconds histogram",
  )
  for (const [route, h] of durations) {
    let cumulative = 0
    durationBuckets.forEach((bound, i) => {
      cumulative += h.counts[i] ?? 0
      out.push(
        `azmi_http_request_duration_seconds_bucket${labels([
          ["route", route],
          ["le", num(bound)],
        ])} ${cumulative}`,
      )
    })
    out.push(
      `azmi_http_request_duration_seconds_bucket${labels([
        ["route", route],
        ["le", "+Inf"],
      ])} ${h.count}`,
    )
    out.push(`azmi_http_request_duration_seconds_sum${labels([["route", route]])} ${num(h.sum)}`)
    out.push(`azmi_http_request_duration_seconds_count${labels([["route", route]])} ${h.count}`)
  }
  out.push(
    "# HELP azmi_http_requests_in_flight HTTP requests azmi-http is handling right now",
    "# TYPE azmi_http_requests_in_flight gauge",
    `azmi_http_requests_in_flight ${inFlight}`,
    "# HELP azmi_http_group_cache_hits_total Resource-group reads served from azmi-http's cache (or joined to one in flight)",
    "# TYPE azmi_http_group_cache_hits_total counter",
    `azmi_http_group_cache_hits_total ${groupCacheHits}`,
    "# HELP azmi_http_group_cache_misses_total Resource-group reads that went to ARM",
    "# TYPE azmi_http_group_cache_misses_total counter",
    `azmi_http_group_cache_misses_total ${groupCacheMisses}`,
    "# HELP azmi_http_group_stale_served_total Resource-group reads answered past their TTL (stale-if-error) while ARM or IMDS failed to refresh them",
    "# TYPE azmi_http_group_stale_served_total counter",
    `azmi_http_group_stale_served_total ${groupStaleServed}`,
    "# HELP azmi_http_log_lines_dropped_total Access-log lines dropped because the reader of stdout fell too far behind or went away",
    "# TYPE azmi_http_log_lines_dropped_total counter",
    `azmi_http_log_lines_dropped_total ${droppedLogLines()}`,
  )
  return out
}

const metricName = (name: string) => {
  const cleaned = name.replace(/[^a-zA-Z0-9_:]/g, "_")
  return /^[a-zA-Z_:]/.test(cleaned) ? cleaned : `_${cleaned}`
}

const labelName = (name: string) => {
  const cleaned = name.replace(/[^a-zA-Z0-9_]/g, "_")
  return /^[a-zA-Z_]/.test(cleaned) ? cleaned : `_${cleaned}`
}

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")
const escapeHelp = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

const labels = (pairs: ReadonlyArray<readonly [string, string]>) =>
  pairs.length === 0 ? "" : `{${pairs.map(([k, v]) => `${labelName(k)}="${escapeLabel(v)}"`).join(",")}}`

const num = (n: number | bigint) =>
  typeof n === "bigint"
    ? n.toString()
    : Number.isNaN(n)
      ? "NaN"
      : n === Number.POSITIVE_INFINITY
        ? "+Inf"
        : n === Number.NEGATIVE_INFINITY
          ? "-Inf"
          : String(n)

// Every Effect metric in the process; the core's counters are listed from the first scrape, at 0
// until they change (an Effect metric otherwise appears only once it is first updated).
const coreSnapshot = () => {
  for (const counter of Metrics.all) counter.unsafeUpdate(0, [])
  return Metric.unsafeSnapshot()
}

interface Family {
  type: "counter" | "gauge" | "histogram" | "summary"
  help: string | undefined
  lines: Array<string>
}

/**
 * Renders azmi-http's own metrics and the given Effect metric pairs (default: a snapshot of every
 * Effect metric in the process, i.e. the core's) as Prometheus text 0.0.4.
 *
 * @example
 * ```ts
 * app.get("/metrics", (c) => c.text(renderPrometheus(), 200, { "Content-Type": prometheusContentType }))
 * ```
 */
export const renderPrometheus = (
  pairs: ReadonlyArray<MetricPair.MetricPair.Untyped> = coreSnapshot(),
  includeOwn = true,
): string => {
  const families = new Map<string, Family>()
  const family = (name: string, type: Family["type"], help: string | undefined) => {
    let f = families.get(name)
    if (f === undefined) {
      f = { type, help, lines: [] }
      families.set(name, f)
    }
    return f
  }
  for (const { metricKey, metricState } of pairs) {
    const name = metricName(metricKey.name)
    const tags = metricKey.tags.map((t) => [t.key, t.value] as const)
    const help = metricKey.description._tag === "Some" ? metricKey.description.value : undefined
    if (MetricState.isCounterState(metricState)) {
      family(name, "counter", help).lines.push(`${name}${labels(tags)} ${num(metricState.count)}`)
    } else if (MetricState.isGaugeState(metricState)) {
      family(name, "gauge", help).lines.push(`${name}${labels(tags)} ${num(metricState.value)}`)
    } else if (MetricState.isHistogramState(metricState)) {
      const f = family(name, "histogram", help)
      let sawInfinity = false
      for (const [bound, count] of metricState.buckets) {
        if (bound === Number.POSITIVE_INFINITY) sawInfinity = true
        f.lines.push(`${name}_bucket${labels([...tags, ["le", num(bound)]])} ${count}`)
      }
      if (!sawInfinity)
        f.lines.push(`${name}_bucket${labels([...tags, ["le", "+Inf"]])} ${metricState.count}`)
      f.lines.push(`${name}_sum${labels(tags)} ${num(metricState.sum)}`)
      f.lines.push(`${name}_count${labels(tags)} ${metricState.count}`)
    } else if (MetricState.isFrequencyState(metricState)) {
      // A frequency is a counter per observed value.
      const f = family(name, "counter", help)
      for (const [value, count] of metricState.occurrences) {
        f.lines.push(`${name}${labels([...tags, ["value", value]])} ${count}`)
      }
    } else if (MetricState.isSummaryState(metricState)) {
      const f = family(name, "summary", help)
      for (const [quantile, value] of metricState.quantiles) {
        if (value._tag === "Some")
          f.lines.push(`${name}${labels([...tags, ["quantile", num(quantile)]])} ${num(value.value)}`)
      }
      f.lines.push(`${name}_sum${labels(tags)} ${num(metricState.sum)}`)
      f.lines.push(`${name}_count${labels(tags)} ${metricState.count}`)
    }
  }
  const out: Array<string> = includeOwn ? ownMetrics() : []
  for (const [name, f] of [...families].sort(([a], [b]) => a.localeCompare(b))) {
    if (f.help !== undefined) out.push(`# HELP ${name} ${escapeHelp(f.help)}`)
    out.push(`# TYPE ${name} ${f.type}`)
    out.push(...f.lines)
  }
  return `${out.join("\n")}\n`
}

/** The content type of Prometheus text exposition. */
export const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"
