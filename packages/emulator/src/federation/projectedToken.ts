/**
 * The kubelet's side of workload identity: a projected service-account token kept in a file
 * (`AZURE_FEDERATED_TOKEN_FILE`), written atomically (the SDKs may read it at any moment) without a
 * trailing newline (azure-identity Python sends the content untrimmed), and rotated the way the kubelet
 * rotates projected tokens: once the token is older than 80 % of its lifetime (or 24 h).
 */

import type { Host } from "../world/model.js"
import { writeFileAtomic } from "../world/persist.js"
import type { ClusterIssuers } from "./clusters.js"

/** The webhook's default (and minimum) `service-account-token-expiration`. */
export const SERVICE_ACCOUNT_TOKEN_LIFETIME_SECONDS = 3600

/** Seconds after issue at which the kubelet refreshes a projected token of `lifetimeSeconds`. */
export const kubeletRefreshAfter = (lifetimeSeconds: number): number =>
  Math.min(Math.floor(lifetimeSeconds * 0.8), 24 * 3600)

export interface Timers {
  readonly set: (fn: () => void, ms: number) => unknown
  readonly clear: (handle: unknown) => void
}

const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
}

export class ProjectedTokenFile {
  private timer: unknown
  private closed = false
  private scheduled: Promise<void> = Promise.resolve()
  /** Completed writes (for tests and diagnostics). */
  writes = 0

  constructor(
    readonly path: string,
    private readonly clusters: ClusterIssuers,
    private readonly host: () => Host,
    private readonly lifetimeSeconds = SERVICE_ACCOUNT_TOKEN_LIFETIME_SECONDS,
    private readonly timers: Timers = realTimers,
    private readonly onError: (e: unknown) => void = (e) =>
      process.stderr.write(
        `azmi-emulator: could not rotate the projected token ${path}: ${e instanceof Error ? e.message : String(e)}\n`,
      ),
  ) {}

  /** Writes a fresh token now and schedules the next rotation. */
  async rotate(): Promise<void> {
    if (this.closed) return
    const { token } = await this.clusters.serviceAccountToken(this.host(), this.lifetimeSeconds)
    await writeFileAtomic(this.path, token)
    this.writes++
    if (this.closed) return
    this.timers.clear(this.timer)
    this.timer = this.timers.set(() => {
      this.scheduled = this.rotate().catch(this.onError)
    }, kubeletRefreshAfter(this.lifetimeSeconds) * 1000)
  }

  /** Resolves once the rotation the timer last started has finished (for tests). */
  settled(): Promise<void> {
    return this.scheduled
  }

  close(): void {
    this.closed = true
    this.timers.clear(this.timer)
  }
}
