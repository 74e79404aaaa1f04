/**
 * The emulator's request log: what every Azure-facing route (IMDS token, IMDS instance, ARM, login) was asked and
 * which status it answered, so a test can assert exactly how many IMDS calls a client made.
 *
 * Control-API requests (`/_emulator/...`) are not Azure traffic and are never recorded.
 *
 * @example
 * ```ts
 * const log = new RequestLog()
 * log.record({ at: Date.now(), target: "imds-token", method: "GET", path: "/metadata/identity/oauth2/token", query: "api-version=2018-02-01", status: 200 })
 * log.count({ target: "imds-token" }) // 1
 * ```
 * @module
 */
import type { FaultTarget } from "./faults.js"

/** One answered request. `status` is the HTTP status sent, or 0 when the connection was reset without an answer. */
export interface RequestRecord {
  /** Epoch milliseconds when the answer was sent (or the socket reset). */
  readonly at: number
  readonly target: FaultTarget
  /** Upper-case HTTP method. */
  readonly method: string
  /** The request path as received, without the query string (no decoding, no case folding). */
  readonly path: string
  /** The raw query string without the leading `?` ("" when there is none). */
  readonly query: string
  readonly status: number
}

/** Every given field must match; an empty filter counts everything. */
export interface RequestFilter {
  readonly target?: FaultTarget
  /** Case-insensitive substring of `path`. */
  readonly pathIncludes?: string
  /** HTTP method, case-insensitive. */
  readonly method?: string
  /** Only records with exactly this status. */
  readonly status?: number
}

export interface RequestLogOptions {
  /**
   * How many records `list()` keeps (oldest dropped first); default 10 000. `count()` stays exact beyond this,
   * because counts are kept per (target, method, path, status) rather than read from the list.
   */
  readonly maxRecords?: number
}

interface Tally {
  readonly target: FaultTarget
  readonly method: string
  readonly path: string
  readonly status: number
  n: number
}

const matches = (filter: RequestFilter | undefined, r: Omit<Tally, "n">): boolean => {
  if (filter === undefined) return true
  if (filter.target !== undefined && filter.target !== r.target) return false
  if (filter.method !== undefined && filter.method.toUpperCase() !== r.method) return false
  if (filter.status !== undefined && filter.status !== r.status) return false
  if (
    filter.pathIncludes !== undefined &&
    !r.path.toLowerCase().includes(filter.pathIncludes.toLowerCase())
  ) {
    return false
  }
  return true
}

/**
 * Append-only log of answered requests with exact counts.
 *
 * Emulator routes call `record` once per request, after the answer was sent (with the status
 * `respondWithFaults` returned), so faults and throttling show up with the status the client saw.
 */
export class RequestLog {
  readonly #maxRecords: number
  #records: Array<RequestRecord> = []
  #tallies = new Map<string, Tally>()

  constructor(options: RequestLogOptions = {}) {
    this.#maxRecords = Math.max(0, options.maxRecords ?? 10_000)
  }

  /** Record one answered request. `method` is stored upper-case. */
  record(r: RequestRecord): void {
    const method = r.method.toUpperCase()
    const record: RequestRecord = { ...r, method }
    if (this.#maxRecords > 0) {
      this.#records.push(record)
      // Drop in chunks so a long benchmark does not pay an O(n) shift per request.
      if (this.#records.length > this.#maxRecords * 1.25) {
        this.#records = this.#records.slice(this.#records.length - this.#maxRecords)
      }
    }
    const key = `${r.target}\u0000${method}\u0000${r.status}\u0000${r.path}`
    const tally = this.#tallies.get(key)
    if (tally) tally.n++
    else this.#tallies.set(key, { target: r.target, method, path: r.path, status: r.status, n: 1 })
  }

  /** Number of recorded requests matching `filter` (all of them without one). Exact, never truncated. */
  count(filter?: RequestFilter): number {
    let n = 0
    for (const t of this.#tallies.values()) if (matches(filter, t)) n += t.n
    return n
  }

  /** The most recent records (at most `maxRecords`), oldest first. A copy: later requests do not change it. */
  list(filter?: RequestFilter): ReadonlyArray<RequestRecord> {
    const kept =
      this.#records.length > this.#maxRecords
        ? this.#records.slice(this.#records.length - this.#maxRecords)
        : this.#records
    return kept.filter((r) => matches(filter, r))
  }

  /** Forget everything (records and counts). */
  reset(): void {
    this.#records = []
    this.#tallies.clear()
  }
}
