/**
 * The small interface every emulated Azure host implements, so that start-up can run any of them:
 * `--source <imds|app-service|arc|service-fabric|cloud-shell|azure-ml|workload-identity>`.
 *
 * A host module knows its world record (a default one is added when the world has none), serves its
 * managed-identity protocol, and reports the environment a process on that host sees.
 * @module
 */
import type { FaultController } from "../faults.js"
import type { ClusterIssuers } from "../federation/clusters.js"
import type { RequestLog } from "../requestLog.js"
import type { TlsMaterial } from "../tls.js"
import type { TokenIssuer } from "../token/issuer.js"
import type { ManagedIdentityTokens } from "../token/managedIdentity.js"
import type { WorldStore } from "../world/model.js"

/** Where the emulated process runs: which managed-identity protocol its SDKs speak. */
export type EmulatorSource =
  | "imds"
  | "app-service"
  | "arc"
  | "service-fabric"
  | "cloud-shell"
  | "azure-ml"
  | "workload-identity"

export const EMULATOR_SOURCES: ReadonlyArray<EmulatorSource> = [
  "imds",
  "app-service",
  "arc",
  "service-fabric",
  "cloud-shell",
  "azure-ml",
  "workload-identity",
]

export const isEmulatorSource = (s: unknown): s is EmulatorSource =>
  typeof s === "string" && EMULATOR_SOURCES.includes(s as EmulatorSource)

/**
 * A host could not be set up in a way the SDKs accept (e.g. Arc's secret directory is not writable).
 * `azmi-emulator` reports it and exits 2.
 */
export class HostSetupError extends Error {
  override readonly name = "HostSetupError"
}

/** The host's identity as the start-up line names it. */
export interface HostIdentitySummary {
  readonly source: EmulatorSource
  /** The host's name in the world (the VM's for `imds`). */
  readonly name: string
  /** The host's ARM resource id. */
  readonly resourceId: string
  /** The identity a token request without a selector gets (object id and client id). */
  readonly principalId: string
  readonly clientId: string
  /** Workload identity: the cluster's OIDC issuer URL (what federated credentials must name). */
  readonly oidcIssuer?: string
}

/** What a running host gives start-up. */
export interface RunningHost {
  /** The variables Azure sets for a process on this host (the identity variables only). */
  readonly env: Readonly<Record<string, string>>
  readonly identity: HostIdentitySummary
  readonly close: () => Promise<void>
}

/** What start-up hands a host module. */
export interface HostContext {
  readonly store: WorldStore
  readonly issuer: TokenIssuer
  readonly tokens: ManagedIdentityTokens
  readonly faults: FaultController
  readonly requests: RequestLog
  readonly now: () => number
  /** The address the host's own endpoint listens on (the emulator's address unless told otherwise). */
  readonly listenHost: string
  /** The port the host's own endpoint listens on (0: a free one). */
  readonly endpointPort: number
  /** The emulator's CA and a server certificate for loopback (always present for hosts that need TLS). */
  readonly tls: TlsMaterial | undefined
  /** The Entra-like login server's base URL (`https://127.0.0.1:PORT`). */
  readonly loginUrl: string
  /** The AKS clusters' OIDC issuers (served on the login server). */
  readonly clusters: ClusterIssuers
  /** Resolves once every world change so far is on disk (`--state`); answers wait for it, as ARM's do. */
  readonly durable?: (() => Promise<void>) | undefined
  /** Workload identity: where to keep the projected token (default: a fresh temporary directory). */
  readonly federatedTokenFile?: string
}

/** One emulated host. */
export interface HostModule {
  readonly source: EmulatorSource
  /** Serves HTTPS (so start-up must make TLS material even with `armTls: false`). */
  readonly needsTls: boolean
  /** Adds the host's default record to the world if it has none of its kind, then serves it. */
  readonly start: (ctx: HostContext) => Promise<RunningHost>
}
