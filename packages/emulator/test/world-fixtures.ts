/**
 * World entries the tests share: an AKS workload app (a service principal with a federated credential), its
 * cluster, and an App Service app — one of each kind of entry issue 13 added.
 */
import {
  DEFAULT_RESOURCE_GROUP,
  DEFAULT_SUBSCRIPTION_ID,
  type Host,
  type ServicePrincipal,
} from "../src/world/model.js"

export const WORKLOAD_APP_ID = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"

export const workloadApp = (): ServicePrincipal => ({
  displayName: "workload",
  clientId: WORKLOAD_APP_ID,
  objectId: "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e",
  federatedIdentityCredentials: [
    {
      name: "aks-default",
      issuer: "https://127.0.0.1:8443/oidc/c3d4e5f6-a7b8-4c9d-8e0f-2a3b4c5d6e7f/",
      subject: "system:serviceaccount:default:workload-identity-sa",
      audiences: ["api://AzureADTokenExchange"],
    },
  ],
})

/** An App Service app and an AKS cluster whose workload federates with {@link workloadApp}, in `resourceGroup`. */
export const appServiceAndCluster = (resourceGroup = DEFAULT_RESOURCE_GROUP): Host[] => [
  {
    kind: "app-service",
    name: "web",
    subscriptionId: DEFAULT_SUBSCRIPTION_ID,
    resourceGroup,
    systemAssigned: {
      principalId: "d4e5f6a7-b8c9-4d0e-9f1a-3b4c5d6e7f80",
      clientId: "e5f6a7b8-c9d0-4e1f-8a2b-4c5d6e7f8091",
    },
  },
  {
    kind: "aks",
    name: "cluster",
    subscriptionId: DEFAULT_SUBSCRIPTION_ID,
    resourceGroup,
    oidcIssuerId: "c3d4e5f6-a7b8-4c9d-8e0f-2a3b4c5d6e7f",
    serviceAccount: { namespace: "default", name: "workload-identity-sa", clientId: WORKLOAD_APP_ID },
  },
]
