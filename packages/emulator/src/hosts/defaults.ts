/**
 * The record each host kind gets when the world has none (fixed ids, so docs and tests can name them):
 * placed in the world's default subscription and its first resource group, with a system-assigned identity.
 */
import {
  DEFAULT_RESOURCE_GROUP,
  type Host,
  type HostKind,
  type SystemAssignedIdentity,
  type WorldStore,
} from "../world/model.js"

interface HostDefault {
  readonly name: string
  readonly systemAssigned: SystemAssignedIdentity
}

/** Default host names and system-assigned identities per kind. */
export const HOST_DEFAULTS: Readonly<Record<HostKind, HostDefault>> = {
  "app-service": {
    name: "myApp",
    systemAssigned: {
      principalId: "3f1c2a4e-6b7d-4e8f-9a0b-1c2d3e4f5a61",
      clientId: "4a2d3b5f-7c8e-4f9a-8b1c-2d3e4f5a6b72",
    },
  },
  arc: {
    name: "myArcServer",
    systemAssigned: {
      principalId: "5b3e4c6a-8d9f-4a0b-9c2d-3e4f5a6b7c83",
      clientId: "6c4f5d7b-9e0a-4b1c-8d3e-4f5a6b7c8d94",
    },
  },
  "service-fabric": {
    name: "mySfCluster",
    systemAssigned: {
      principalId: "7d5a6e8c-0f1b-4c2d-9e4f-5a6b7c8d9ea5",
      clientId: "8e6b7f9d-1a2c-4d3e-8f5a-6b7c8d9e0fb6",
    },
  },
  "cloud-shell": {
    name: "myCloudShell",
    systemAssigned: {
      principalId: "9f7c8a0e-2b3d-4e4f-9a6b-7c8d9e0f1ac7",
      clientId: "a08d9b1f-3c4e-4f5a-8b7c-8d9e0f1a2bd8",
    },
  },
  "azure-ml": {
    name: "myMlCompute",
    systemAssigned: {
      principalId: "b19e0c2a-4d5f-4a6b-9c8d-9e0f1a2b3ce9",
      clientId: "c2af1d3b-5e6a-4b7c-8d9e-0f1a2b3c4dfa",
    },
  },
  aks: {
    name: "myAKS",
    systemAssigned: {
      principalId: "d3b02e4c-6f7b-4c8d-9e0f-1a2b3c4d5e0b",
      clientId: "e4c13f5d-7a8c-4d9e-8f1a-2b3c4d5e6f1c",
    },
  },
}

/** The group new hosts go to: the default subscription's first resource group (created if there is none). */
const defaultGroup = (store: WorldStore): { subscriptionId: string; resourceGroup: string } => {
  const subscriptionId = store.defaultSubscriptionId
  const existing = store.resourceGroups(subscriptionId)[0]
  if (existing !== undefined) return { subscriptionId, resourceGroup: existing.name }
  const { group } = store.putResourceGroup({
    subscriptionId,
    name: DEFAULT_RESOURCE_GROUP,
    location: "westus",
  })
  return { subscriptionId, resourceGroup: group.name }
}

/** Adds the default host of `kind` (plus `extra` fields) unless the world has one; returns the host served. */
export const ensureHost = (store: WorldStore, kind: HostKind, extra: Partial<Host> = {}): Host => {
  const found = store.findHost(kind)
  if (found !== undefined) return found
  const d = HOST_DEFAULTS[kind]
  const host: Host = {
    kind,
    name: d.name,
    ...defaultGroup(store),
    location: "westus",
    systemAssigned: { ...d.systemAssigned },
    userAssigned: [],
    ...extra,
  }
  store.putHost(host)
  return host
}
