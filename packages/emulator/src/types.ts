/**
 * Public types of `@azmi/emulator` (the contract other packages code against).
 */
import type { FaultSpec } from "./faults.js"
import type { RequestFilter, RequestRecord } from "./requestLog.js"
import type { World, WorldStore } from "./world/model.js"

export type { FaultSpec, FaultTarget } from "./faults.js"
export type { RequestFilter, RequestRecord } from "./requestLog.js"

export interface EmulatorLimits {
  /** IMDS identity requests per second (default 20; Infinity disables). */
  readonly imdsRequestsPerSecond?: number
  /** Concurrent IMDS identity requests (default 5; Infinity disables). */
  readonly imdsConcurrency?: number
  /** ARM read token-bucket size (default 250; Infinity disables). */
  readonly armReadBucket?: number
  /** ARM read bucket refill per second (default 25). */
  readonly armReadRefillPerSecond?: number
}

export interface StartEmulatorOptions {
  /** A World object or a path to a world JSON file; default: `defaultWorld()`. */
  readonly world?: World | string
  /**
   * Persist file: loaded if it exists (else seeded from `world`). A change is answered only once it is on disk
   * (fsync, group commit). Its directory must exist, and one emulator holds it at a time (`FILE.lock`);
   * otherwise `startEmulator` rejects with a `StateFileError`.
   */
  readonly state?: string
  /** Default "127.0.0.1". */
  readonly host?: string
  readonly imdsPort?: number
  readonly armPort?: number
  /** Default true: HTTPS for ARM + login with a self-signed CA written to a file. */
  readonly armTls?: boolean
  readonly limits?: EmulatorLimits
  /**
   * The emulator's clock (epoch ms), for tests that need tokens to age or expire without waiting.
   * Default `Date.now`.
   */
  readonly clock?: () => number
}

export interface EmulatorVm {
  readonly name: string
  readonly resourceGroup: string
  readonly resourceId: string
  readonly systemAssigned?: { readonly principalId: string; readonly clientId: string }
  readonly userAssigned: ReadonlyArray<{
    readonly name: string
    readonly resourceId: string
    readonly principalId: string
    readonly clientId: string
  }>
}

export interface EmulatorAdmin {
  readonly tenantId: string
  readonly clientId: string
  readonly clientSecret: string
  readonly objectId: string
}

export interface EmulatorFaults {
  inject(spec: FaultSpec): { readonly id: string }
  clear(): void
}

export interface EmulatorRequests {
  count(filter?: RequestFilter): number
  list(): ReadonlyArray<RequestRecord>
  reset(): void
}

/** A running emulator. */
export interface Emulator {
  readonly imdsUrl: string
  readonly armUrl: string
  readonly loginUrl: string
  readonly controlUrl: string
  /** Path of the CA PEM ("" when `armTls: false`). */
  readonly caCertPath: string
  /** The CA PEM text ("" when `armTls: false`). */
  readonly caCert: string
  /** Live view of the current world; snapshot with `world.toJSON()`. */
  readonly world: WorldStore
  readonly tenantId: string
  readonly subscriptionId: string
  readonly vm: EmulatorVm
  readonly admin: EmulatorAdmin
  readonly faults: EmulatorFaults
  readonly requests: EmulatorRequests
  /** Closes every server and socket; idempotent. */
  close(): Promise<void>
}
