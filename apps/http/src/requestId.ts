/**
 * Request ids for `X-Request-Id` and the access log: UUID-shaped (version 4 layout), unique per
 * request. Every request needs one, and `crypto.randomUUID()` draws fresh entropy for each (a
 * `getrandom` refill every 128 ids): here 74 random bits are drawn once per process and the last
 * 48 bits count up from a random start, so ids stay unique across restarts and replicas at a
 * fraction of the cost. They are correlation ids, not secrets: one id says nothing about another
 * that a caller could use.
 * @module
 */
import { randomBytes, randomUUID } from "node:crypto"

const hex = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))

/**
 * A source of ids: `prefix` is the first 24 characters of a UUID (`xxxxxxxx-xxxx-4xxx-yxxx-`),
 * `start` the 48-bit counter's first value. Exposed for tests; use {@link nextRequestId}.
 *
 * @example
 * ```ts
 * const next = requestIdSource()
 * next() // "1b4e28ba-2fa1-41d2-883f-00a4c9e1f0d7"
 * ```
 */
export const requestIdSource = (
  prefix: string = randomUUID().slice(0, 24),
  start: number = randomBytes(6).readUIntBE(0, 6),
): (() => string) => {
  // The counter as two parts so it stays in small-integer arithmetic: high 16 bits, low 32 bits.
  let high = Math.floor(start / 2 ** 32) & 0xffff
  let low = (start % 2 ** 32) >>> 0
  return () => {
    const id =
      prefix +
      hex[high >>> 8] +
      hex[high & 0xff] +
      hex[low >>> 24] +
      hex[(low >>> 16) & 0xff] +
      hex[(low >>> 8) & 0xff] +
      hex[low & 0xff]
    low = (low + 1) >>> 0
    if (low === 0) high = (high + 1) & 0xffff
    return id
  }
}

/** The next request id of this process. */
export const nextRequestId: () => string = requestIdSource()
