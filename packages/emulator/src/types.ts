/**
 * Public types of `@azmi/emulator` (the contract other packages code against).
 */
import type { World, WorldStore } from "./world/model.js"

/** Which family of routes a fault or a request-log entry belongs to. */
export type FaultTarget = "imds-token" | "imds-instance" | "arm" | "login"

/** A scripted misbehaviour for the next matching request(s). */
export interface FaultSpec {
  readonly target: FaultTarget
  /** Answer with this status (and an Azure-shaped error body unless `body` is given). */
  readonly status?: number
  /** Raw body to send. */
  readonly body?: string
  readonly headers?: Readonly<Record<string, string>>
  /** Sets Retry-After (seconds or HTTP-date). */
  readonly retryAfter?: number | string
  /** Delay before answering (then answer normally unless another field says otherwise). */
  readonly latencyMs?: number
  /** Destroy the socket without answering (connection reset). */
  readonly reset?: boolean
  /** Mangle the normal success body. */
  readonly malformed?: "invalid-json" | "truncated" | "missing-expires-on" | "missing-access-token"
  /** Apply to the next N matching requests (default 1); Infinity = until cleared. */
  readonly count?: number
  /** 0..1: apply with this probability instead of counting. */
  readonly probability?: number
  /** Only requests whose path contains this. */
  readonly pathIncludes?: string
}

/** One request the emulator served. */
export interface RequestRecord {
  /** Epoch milliseconds. */
  readonly at: number
  readonly target: FaultTarget
  readonly method: string
  readonly path: string
  readonly query: string
  readonly status: number
}

export interface RequestFilter {
  readonly target?: FaultTarget
  readonly pathIncludes?: string
  readonly method?: string
}

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
  /** Persist file: loaded if it exists (else seeded from `world`), every change written atomically. */
  readonly state?: string
  /** Default "127.0.0.1". */
  readonly host?: string
  readonly imdsPort?: number
  readonly armPort?: number
  /** Default true: HTTPS for ARM + login with a self-signed CA written to a file. */
  readonly armTls?: boolean
  readonly limits?: EmulatorLimits
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
