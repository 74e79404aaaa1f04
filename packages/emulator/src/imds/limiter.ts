/**
 * IMDS's managed-identity limits: at most N requests per rolling second and M in flight (per VM).
 * `Infinity` disables either limit.
 */
export class ImdsLimiter {
  private readonly admitted: number[] = []
  private inFlight = 0

  constructor(
    private readonly perSecond: number,
    private readonly concurrency: number,
    private readonly now: () => number,
  ) {}

  /** Admits one request (then call `release` when answered) or refuses it. */
  tryAcquire(): boolean {
    if (this.inFlight >= this.concurrency) return false
    if (Number.isFinite(this.perSecond)) {
      const now = this.now()
      while (this.admitted.length > 0 && (this.admitted[0] ?? 0) <= now - 1000) this.admitted.shift()
      if (this.admitted.length >= this.perSecond) return false
      this.admitted.push(now)
    }
    this.inFlight++
    return true
  }

  release(): void {
    this.inFlight = Math.max(0, this.inFlight - 1)
  }
}
