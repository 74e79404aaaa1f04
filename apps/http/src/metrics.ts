/**
 * Prometheus text exposition of every Effect `Metric` in the process: azmi-http's own (requests by
 * route and status, latency histogram) and the core's (`azmi_imds_requests_total`,
 * `azmi_token_cache_hits_total`, `azmi_retries_total`, …), which live in the same global registry.
 * @module
 */
import { Metric, MetricBoundaries, MetricLabel, type MetricPair, MetricState } from "effect"

/** HTTP requests served, by `route`, `method` and `status`. */
export const httpRequestsTotal = Metric.counter("azmi_http_requests_total", {
  description: "HTTP requests served by azmi-http, by route, method and status",
})

/** Request latency in seconds, by `route`. */
export const httpRequestDuration = Metric.histogram(
  "azmi_http_request_duration_seconds",
  MetricBoundaries.fromIterable([
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
  ]),
  "HTTP request latency of azmi-http in seconds, by route",
)

/** Group reads answered from azmi-http's cache (including callers that joined an in-flight read). */
export const groupCacheHitsTotal = Metric.counter("azmi_http_group_cache_hits_total", {
  description: "Resource-group reads served from azmi-http's cache",
})

/** Group reads that went to ARM. */
export const groupCacheMissesTotal = Metric.counter("azmi_http_group_cache_misses_total", {
  description: "Resource-group reads that went to ARM",
})

/** Requests being handled right now. */
export const httpRequestsInFlight = Metric.gauge("azmi_http_requests_in_flight", {
  description: "HTTP requests azmi-http is handling right now",
})

let inFlight = 0

/** Marks a request as started (`+1`) or finished (`-1`). */
export const trackInFlight = (delta: 1 | -1): void => {
  inFlight += delta
  httpRequestsInFlight.unsafeUpdate(inFlight, [])
}

/** Records one served request (synchronously: this runs on every response). */
export const recordRequest = (route: string, method: string, status: number, seconds: number): void => {
  httpRequestsTotal.unsafeUpdate(1, [
    MetricLabel.make("route", route),
    MetricLabel.make("method", method),
    MetricLabel.make("status", String(status)),
  ])
  httpRequestDuration.unsafeUpdate(seconds, [MetricLabel.make("route", route)])
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

interface Family {
  type: "counter" | "gauge" | "histogram" | "summary"
  help: string | undefined
  lines: Array<string>
}

/**
 * Renders metric pairs (default: a snapshot of every metric in the process) as Prometheus text 0.0.4.
 *
 * @example
 * ```ts
 * app.get("/metrics", (c) => c.text(renderPrometheus(), 200, { "Content-Type": prometheusContentType }))
 * ```
 */
export const renderPrometheus = (
  pairs: ReadonlyArray<MetricPair.MetricPair.Untyped> = Metric.unsafeSnapshot(),
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
  const out: Array<string> = []
  for (const [name, f] of [...families].sort(([a], [b]) => a.localeCompare(b))) {
    if (f.help !== undefined) out.push(`# HELP ${name} ${escapeHelp(f.help)}`)
    out.push(`# TYPE ${name} ${f.type}`)
    out.push(...f.lines)
  }
  return `${out.join("\n")}\n`
}

/** The content type of Prometheus text exposition. */
export const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"
