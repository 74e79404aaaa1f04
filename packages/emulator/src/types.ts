/**
 * Public types of `@azmi/emulator` (the contract other packages code against).
 */
import type { FaultSpec } from "./faults.js"
import type { EmulatorSource, HostIdentitySummary } from "./hosts/index.js"
import type { RequestFilter, RequestRecord } from "./requestLog.js"
import type { World, WorldStore } from "./world/model.js"

export type { FaultSpec, FaultTarget } from "./faults.js"
export type { EmulatorSource, HostIdentitySummary } from "./hosts/index.js"
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
  /** Address the IMDS + control server listens on (and the ARM + login server, unless `armHost`). Default "127.0.0.1". */
  readonly host?: string
  /** Address the ARM + login server listens on; default `host`. */
  readonly armHost?: string
  readonly imdsPort?: number
  readonly armPort?: number
  /**
   * Extra names (DNS names or IP addresses) the ARM + login server's certificate is valid for, besides
   * localhost, 127.0.0.1, ::1 and `armHost` — e.g. `management.azure.com` where a private `/etc/hosts` sends that
   * name to the emulator (`azmi-emulator run`).
   */
  readonly tlsNames?: ReadonlyArray<string>
  /**
   * The URLs the emulator advertises — in `imdsUrl`, `armUrl`, `loginUrl`, `controlUrl`, ARM's `nextLink`s
   * and the OIDC discovery documents — when clients reach it under other names than the address it listens
   * on. Each defaults to the listening address (`loginUrl` to `armUrl`).
   *
   * @example
   * ```ts
   * // Inside a network namespace whose /etc/hosts sends management.azure.com to 127.0.0.1:
   * await startEmulator({ armPort: 443, tlsNames: ["management.azure.com"], urls: { arm: "https://management.azure.com" } })
   * ```
   */
  readonly urls?: {
    readonly imds?: string
    readonly arm?: string
    readonly login?: string
    readonly control?: string
  }
  /**
   * Where the host's own managed-identity endpoint listens (App Service, Arc, Service Fabric, Cloud Shell,
   * Azure ML), and so what its variables name. Default: `host`, on a free port.
   *
   * @example
   * ```ts
   * // Arc's agent answers on 127.0.0.1:40342 (inside a private network namespace, where that port is free):
   * await startEmulator({ source: "arc", host: "0.0.0.0", hostEndpoint: { host: "127.0.0.1", port: 40342 } })
   * ```
   */
  readonly hostEndpoint?: { readonly host?: string; readonly port?: number }
  /**
   * `workload-identity`: the file the projected service-account token is kept in (`AZURE_FEDERATED_TOKEN_FILE`);
   * its directory must exist. Default: a fresh temporary directory of the emulator's own.
   */
  readonly federatedTokenFile?: string
  /** Default true: HTTPS for ARM + login with a self-signed CA written to a file. */
  readonly armTls?: boolean
  /**
   * Which Azure host the emulated process runs on (default `"imds"`, an Azure VM): its managed-identity
   * protocol is served and `env` holds the variables that host sets. A host the world lacks is added.
   */
  readonly source?: EmulatorSource
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
  readonly source: EmulatorSource
  /**
   * Exactly the variables a process on the host sees (its identity variables, named and shaped as Azure
   * sets them), plus what makes the emulator reachable and trusted from this machine: `NODE_EXTRA_CA_CERTS`,
   * `REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE` (the emulator's CA), `AZMI_ARM_ENDPOINT`, and
   * `AZMI_IMDS_ENDPOINT` / `AZURE_POD_IDENTITY_AUTHORITY_HOST` where the host has an IMDS.
   */
  readonly env: Readonly<Record<string, string>>
  /**
   * The host's own variables alone: `env` less what makes the emulator reachable from this machine (the CA
   * variables, `AZMI_*`, `AZURE_POD_IDENTITY_AUTHORITY_HOST`). Empty for `imds`: a VM sets none.
   */
  readonly hostEnv: Readonly<Record<string, string>>
  /** The host and its identity (what a token request without a selector gets). */
  readonly host: HostIdentitySummary
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
