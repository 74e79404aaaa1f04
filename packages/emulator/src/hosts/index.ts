/**
 * Start-up's entry to the emulated hosts: the module per `--source`, and the environment a process on the
 * host sees — the host's identity variables plus what makes the emulator reachable and trusted from this
 * machine (the CA for Node and Python, the ARM endpoint, and IMDS where the host has one).
 * @module
 */
import type { FaultController } from "../faults.js"
import type { ClusterIssuers } from "../federation/clusters.js"
import type { RequestLog } from "../requestLog.js"
import type { TlsMaterial } from "../tls.js"
import type { TokenIssuer } from "../token/issuer.js"
import { ManagedIdentityTokens } from "../token/managedIdentity.js"
import type { WorldStore } from "../world/model.js"
import { appService } from "./appService.js"
import { arc } from "./arc.js"
import { azureMl } from "./azureMl.js"
import { cloudShell } from "./cloudShell.js"
import {
  EMULATOR_SOURCES,
  type EmulatorSource,
  type HostModule,
  HostSetupError,
  isEmulatorSource,
  type RunningHost,
} from "./host.js"
import { imds } from "./imds.js"
import { serviceFabric } from "./serviceFabric.js"
import { workloadIdentity } from "./workloadIdentity.js"

export type { HostIdentitySummary } from "./host.js"
export { EMULATOR_SOURCES, type EmulatorSource, HostSetupError, isEmulatorSource }

const MODULES: Readonly<Record<EmulatorSource, HostModule>> = {
  imds,
  "app-service": appService,
  arc,
  "service-fabric": serviceFabric,
  "cloud-shell": cloudShell,
  "azure-ml": azureMl,
  "workload-identity": workloadIdentity,
}

/** Hosts whose processes can also reach an IMDS (the VM behind them): the VM itself, SF nodes, ML compute, AKS nodes. */
const HAS_IMDS: ReadonlySet<EmulatorSource> = new Set([
  "imds",
  "service-fabric",
  "azure-ml",
  "workload-identity",
])

/**
 * Whether a process on `source`'s host can also reach an IMDS at 169.254.169.254 (the VM itself, and the VMs
 * under Service Fabric, Azure ML compute and AKS); on App Service, Cloud Shell and Arc-enabled servers nothing
 * answers there.
 */
export const hasImds = (source: EmulatorSource): boolean => HAS_IMDS.has(source)

/** The module for `source`. @throws HostSetupError for an unknown source */
export const hostModule = (source: unknown): HostModule => {
  const m: HostModule | undefined = isEmulatorSource(source) ? MODULES[source] : undefined
  if (m === undefined) {
    throw new HostSetupError(
      `source: must be one of ${EMULATOR_SOURCES.join(", ")} (got ${JSON.stringify(source)})`,
    )
  }
  return m
}

export interface StartHostOptions {
  readonly store: WorldStore
  readonly issuer: TokenIssuer
  readonly faults: FaultController
  readonly requests: RequestLog
  readonly now: () => number
  readonly listenHost: string
  readonly endpointPort: number
  readonly tls: TlsMaterial | undefined
  readonly imdsUrl: string
  readonly armUrl: string
  readonly loginUrl: string
  readonly clusters: ClusterIssuers
  readonly durable?: (() => Promise<void>) | undefined
  readonly federatedTokenFile?: string
}

/** A started host: `env` composed for a process on this machine, `hostEnv` the host's own variables alone. */
export interface StartedHost extends RunningHost {
  readonly hostEnv: Readonly<Record<string, string>>
}

/** Starts the host and composes the environment of a process on it. */
export const startHost = async (module: HostModule, options: StartHostOptions): Promise<StartedHost> => {
  const tokens = new ManagedIdentityTokens(options)
  const unsubscribe = options.store.onChange((change) => {
    if (change.kind === "world.replace") tokens.clear()
  })
  let running: RunningHost
  try {
    running = await module.start({ ...options, tokens })
  } catch (e) {
    unsubscribe()
    throw e
  }
  const ca = options.tls?.caCertPath
  const env: Record<string, string> = {
    ...running.env,
    ...(HAS_IMDS.has(module.source) && {
      AZURE_POD_IDENTITY_AUTHORITY_HOST: options.imdsUrl,
      AZMI_IMDS_ENDPOINT: options.imdsUrl,
    }),
    AZMI_ARM_ENDPOINT: options.armUrl,
    ...(ca !== undefined && { NODE_EXTRA_CA_CERTS: ca, REQUESTS_CA_BUNDLE: ca, SSL_CERT_FILE: ca }),
  }
  return {
    env,
    hostEnv: running.env,
    identity: running.identity,
    close: async () => {
      unsubscribe()
      await running.close()
    },
  }
}
