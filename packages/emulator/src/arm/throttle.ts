/**
 * ARM's token-bucket read throttling: per (subscription, principal), `capacity` tokens refilled at
 * `refillPerSecond`. `Infinity` capacity disables it.
 */
export interface TakeResult {
  readonly allowed: boolean
  /** Whole tokens left after this request (what `x-ms-ratelimit-remaining-subscription-reads` reports). */
  readonly remaining: number
  /** Seconds until one token is available again (when refused). */
  readonly retryAfterSeconds: number
}

interface Bucket {
  tokens: number
  at: number
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>()

  constructor(
    private readonly capacity: number,
    private readonly refillPerSecond: number,
    private readonly now: () => number,
  ) {}

  take(key: string): TakeResult {
    if (!Number.isFinite(this.capacity)) return { allowed: true, remaining: 11999, retryAfterSeconds: 0 }
    const now = this.now()
    const bucket = this.buckets.get(key) ?? { tokens: this.capacity, at: now }
    bucket.tokens = Math.min(this.capacity, bucket.tokens + ((now - bucket.at) / 1000) * this.refillPerSecond)
    bucket.at = now
    this.buckets.set(key, bucket)
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return { allowed: true, remaining: Math.floor(bucket.tokens), retryAfterSeconds: 0 }
    }
    const wait = this.refillPerSecond > 0 ? Math.ceil((1 - bucket.tokens) / this.refillPerSecond) : 3600
    return { allowed: false, remaining: 0, retryAfterSeconds: Math.max(1, wait) }
  }
}
