/**
 * AKS workload identity, the whole federation: the cluster (an `aks` host) has an OIDC issuer served by the
 * emulator; its "kubelet" keeps a projected service-account token in `AZURE_FEDERATED_TOKEN_FILE`; the app
 * the service account federates with is a service principal of the world holding a federated identity
 * credential for (issuer, `system:serviceaccount:<ns>:<sa>`, `api://AzureADTokenExchange`); and the SDKs
 * exchange the file's token at the login server's client-credentials endpoint (`client_assertion`), which
 * validates it as Entra does. The environment is what the azure-workload-identity webhook injects.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { basename, join } from "node:path"
import { TOKEN_EXCHANGE_AUDIENCE } from "../federation/clusters.js"
import { ProjectedTokenFile } from "../federation/projectedToken.js"
import { type Host, hostResourceId, type ServicePrincipal, type WorldStore } from "../world/model.js"
import { ensureHost } from "./defaults.js"
import { currentHost, hostTenant } from "./endpoint.js"
import { type HostContext, type HostModule, HostSetupError } from "./host.js"

/** The default cluster's issuer id and workload (ids fixed so docs and tests can name them). */
export const DEFAULT_OIDC_ISSUER_ID = "f5d24a6e-8b9d-4e0f-9a2b-3c4d5e6f7a2d"
export const DEFAULT_WORKLOAD_APP: Omit<ServicePrincipal, "federatedIdentityCredentials"> = {
  displayName: "myWorkload",
  clientId: "a6e35b7f-9c0e-4f1a-8b3c-4d5e6f7a8b3e",
  objectId: "b7f46c8a-0d1f-4a2b-9c4d-5e6f7a8b9c4f",
}
const DEFAULT_SERVICE_ACCOUNT = { namespace: "default", name: "workload-identity-sa" }

/** Where the azure-workload-identity webhook mounts the projected token in a pod. */
export const AKS_FEDERATED_TOKEN_FILE = "/var/run/secrets/azure/wi/token/azure-identity-token"

/**
 * Adds the default cluster, and its app with a federated credential for the cluster's issuer, when the world
 * has no AKS host. An existing cluster is served as the world has it (its app must federate with the issuer
 * URL, which includes the login server's port: pin `--arm-port` across restarts).
 */
const ensureCluster = (ctx: HostContext): Host => {
  const existing = ctx.store.findHost("aks")
  if (existing !== undefined) return existing
  const host = ensureHost(ctx.store, "aks", {
    oidcIssuerId: DEFAULT_OIDC_ISSUER_ID,
    serviceAccount: { ...DEFAULT_SERVICE_ACCOUNT, clientId: DEFAULT_WORKLOAD_APP.clientId },
  })
  if (ctx.store.findServicePrincipal(DEFAULT_WORKLOAD_APP.clientId) === undefined) {
    ctx.store.putServicePrincipal({
      ...DEFAULT_WORKLOAD_APP,
      tenantId: hostTenant(ctx.store, host),
      federatedIdentityCredentials: [
        {
          name: "kubernetes-federated-credential",
          issuer: ctx.clusters.issuerUrl(host),
          subject: `system:serviceaccount:${DEFAULT_SERVICE_ACCOUNT.namespace}:${DEFAULT_SERVICE_ACCOUNT.name}`,
          audiences: [TOKEN_EXCHANGE_AUDIENCE],
        },
      ],
    })
  }
  return host
}

const workloadApp = (store: WorldStore, host: Host): ServicePrincipal => {
  const app =
    host.serviceAccount === undefined ? undefined : store.findServicePrincipal(host.serviceAccount.clientId)
  if (host.oidcIssuerId === undefined || app === undefined) {
    throw new HostSetupError(
      `--source workload-identity: the world's AKS host "${host.name}" needs oidcIssuerId and a serviceAccount whose clientId is a service principal of the world`,
    )
  }
  return app
}

export const workloadIdentity: HostModule = {
  source: "workload-identity",
  needsTls: true,
  start: async (ctx) => {
    if (!ctx.loginUrl.startsWith("https://")) {
      throw new HostSetupError(
        "--source workload-identity: the SDKs accept only an https authority host (AZURE_AUTHORITY_HOST); do not use --no-tls",
      )
    }
    const host = ensureCluster(ctx)
    const app = workloadApp(ctx.store, host)
    // Where the caller says (its directory must exist), else a fresh directory of this emulator's own.
    const dir =
      ctx.federatedTokenFile === undefined ? await mkdtemp(join(tmpdir(), "azmi-emulator-wi-")) : undefined
    const path = ctx.federatedTokenFile ?? join(dir ?? "", basename(AKS_FEDERATED_TOKEN_FILE))
    const remove = () => rm(dir ?? path, { recursive: dir !== undefined, force: true }).catch(() => undefined)
    const file = new ProjectedTokenFile(path, ctx.clusters, () => currentHost(ctx, host))
    try {
      await file.rotate()
    } catch (e) {
      file.close()
      await remove()
      throw e
    }
    return {
      env: {
        AZURE_CLIENT_ID: app.clientId,
        AZURE_TENANT_ID: app.tenantId ?? hostTenant(ctx.store, host),
        AZURE_FEDERATED_TOKEN_FILE: file.path,
        // The webhook sets the cloud's authority host with a trailing slash.
        AZURE_AUTHORITY_HOST: `${ctx.loginUrl}/`,
      },
      identity: {
        source: "workload-identity",
        name: host.name,
        resourceId: hostResourceId(host),
        principalId: app.objectId,
        clientId: app.clientId,
        oidcIssuer: ctx.clusters.issuerUrl(host),
      },
      close: async () => {
        file.close()
        await remove()
      },
    }
  },
}
