/**
 * The Azure host `azmi-emulator run` simulates (`--source`): what it looks like from inside the namespace —
 * whether 169.254.169.254 answers, where the host's own managed-identity endpoint listens, which directories the
 * SDKs expect to exist there — and the variables it sets for COMMAND.
 * @module
 */
import { dirname } from "node:path"
import { ARC_TOKENS_DIRECTORY } from "../hosts/arcSecrets.js"
import { type EmulatorSource, hasImds } from "../hosts/index.js"
import { AKS_FEDERATED_TOKEN_FILE } from "../hosts/workloadIdentity.js"
import type { Emulator } from "../types.js"
import { EMULATOR_ADDRESS } from "./vmNetwork.js"

export interface SimulatedHost {
  /** What the host is, for messages ("an Azure VM"). */
  readonly label: string
  /** Whether 169.254.169.254 answers (as IMDS) for COMMAND; when not, packets to it are dropped. */
  readonly imds: boolean
  /** Where the host's own token endpoint listens inside the namespace (port 0: a free one). */
  readonly endpoint: { readonly host: string; readonly port: number }
  /** Directories the host has that the SDKs insist on, made fresh (and private) in the mount namespace. */
  readonly privateDirectories: ReadonlyArray<string>
  /** Workload identity: the projected token's file, where AKS mounts it (in one of `privateDirectories`). */
  readonly federatedTokenFile?: string
}

const LABELS: Readonly<Record<EmulatorSource, string>> = {
  imds: "an Azure VM",
  "app-service": "an App Service app",
  arc: "an Azure Arc-enabled server",
  "service-fabric": "a Service Fabric application",
  "cloud-shell": "Cloud Shell",
  "azure-ml": "Azure ML compute",
  "workload-identity": "an AKS pod with workload identity",
}

/**
 * The ports real hosts use, where every SDK or tool knows them: Arc's agent (HIMDS) answers on 40342 (the SDKs'
 * default endpoint when they find the agent installed), Cloud Shell on 50342. Inside the namespace every port is
 * free, so the simulated host can use them too; the others get a free port, as their real endpoints are named
 * by the variables alone.
 */
const ENDPOINT_PORTS: Partial<Readonly<Record<EmulatorSource, number>>> = {
  arc: 40342,
  "cloud-shell": 50342,
}

/**
 * @example
 * ```ts
 * simulatedHost("arc", { noImds: false })
 * // { label: "an Azure Arc-enabled server", imds: false, endpoint: { host: "127.0.0.1", port: 40342 },
 * //   privateDirectories: ["/var/opt/azcmagent/tokens"] }
 * ```
 */
export const simulatedHost = (
  source: EmulatorSource,
  options: { readonly noImds: boolean },
): SimulatedHost => {
  const host = {
    label: LABELS[source],
    imds: hasImds(source) && !options.noImds,
    endpoint: { host: EMULATOR_ADDRESS, port: ENDPOINT_PORTS[source] ?? 0 },
  }
  switch (source) {
    case "arc":
      // Arc's challenge files: the SDKs read them from this directory only.
      return { ...host, privateDirectories: [ARC_TOKENS_DIRECTORY] }
    case "workload-identity":
      return {
        ...host,
        privateDirectories: [dirname(AKS_FEDERATED_TOKEN_FILE)],
        federatedTokenFile: AKS_FEDERATED_TOKEN_FILE,
      }
    default:
      return { ...host, privateDirectories: [] }
  }
}

/**
 * The variables the simulated host itself sets for COMMAND: the identity variables of the emulator's `env`
 * as it runs inside the namespace (endpoints on 127.0.0.1 there, `AZURE_AUTHORITY_HOST` the real
 * `https://login.microsoftonline.com/`), without what only a process outside would need (`AZMI_*`,
 * `AZURE_POD_IDENTITY_AUTHORITY_HOST`: 169.254.169.254 itself answers). A VM sets none.
 */
export const sourceEnvironment = (emulator: Emulator): Readonly<Record<string, string>> => emulator.hostEnv
