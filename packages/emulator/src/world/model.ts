/**
 * The emulator's world: a plain JSON document describing one fake Azure estate (tenants, subscriptions,
 * resource groups, VMs and their identities, service principals, role assignments), plus a small
 * in-memory store with the queries and mutations the servers need.
 *
 * @example
 * ```ts
 * const store = new WorldStore(defaultWorld())
 * store.onChange(() => save(store.toJSON()))
 * store.findResourceGroup(DEFAULT_SUBSCRIPTION_ID, "devtest")?.name // "DevTest"
 * ```
 */

export interface Tenant {
  readonly tenantId: string
  readonly displayName?: string
}

export interface Subscription {
  readonly subscriptionId: string
  readonly tenantId: string
  readonly displayName: string
  readonly state?: "Enabled" | "Disabled" | "Warned" | "PastDue" | "Deleted"
}

export interface ResourceGroup {
  readonly subscriptionId: string
  /** Case-preserving; lookups are case-insensitive. */
  readonly name: string
  readonly location: string
  readonly tags?: Readonly<Record<string, string>>
  readonly managedBy?: string
}

export interface SystemAssignedIdentity {
  readonly principalId: string
  readonly clientId: string
}

export interface VirtualMachine {
  readonly name: string
  readonly subscriptionId: string
  readonly resourceGroup: string
  readonly location: string
  readonly vmId: string
  readonly vmSize?: string
  readonly osType?: "Linux" | "Windows"
  readonly computerName?: string
  readonly adminUsername?: string
  readonly image?: {
    readonly publisher: string
    readonly offer: string
    readonly sku: string
    readonly version: string
  }
  readonly tags?: Readonly<Record<string, string>>
  readonly zone?: string
  readonly network?: {
    readonly privateIpAddress: string
    readonly publicIpAddress?: string
    readonly macAddress: string
    readonly subnetAddress: string
    readonly subnetPrefix: string
  }
  /** Absent or null: no system-assigned identity. */
  readonly systemAssigned?: SystemAssignedIdentity | null
  /** ARM resource ids of the user-assigned identities attached to this VM. */
  readonly userAssigned?: ReadonlyArray<string>
}

export interface UserAssignedIdentity {
  readonly name: string
  readonly subscriptionId: string
  readonly resourceGroup: string
  readonly principalId: string
  readonly clientId: string
  readonly location?: string
}

/**
 * A federated identity credential of an app registration: Entra exchanges an external token (e.g. an AKS
 * projected service-account token) whose `iss`, `sub` and `aud` match it for an access token of the app.
 */
export interface FederatedIdentityCredential {
  /** Unique within the app (3..120 letters, digits, `-`, `_`). */
  readonly name: string
  /** Compared exactly (a missing trailing slash is a mismatch, as in Entra). */
  readonly issuer: string
  /** Compared exactly, e.g. `system:serviceaccount:default:workload-identity-sa`. */
  readonly subject: string
  /** Entra allows exactly one, usually `api://AzureADTokenExchange`. */
  readonly audiences: ReadonlyArray<string>
  readonly description?: string
}

export interface ServicePrincipal {
  readonly displayName: string
  readonly clientId: string
  readonly objectId: string
  /** Absent: the app has no client secret (e.g. it signs in only with federated credentials). */
  readonly secret?: string
  /** Home tenant; defaults to the world's first tenant. */
  readonly tenantId?: string
  readonly federatedIdentityCredentials?: ReadonlyArray<FederatedIdentityCredential>
}

/** Azure hosts (besides VMs) whose managed identities the emulator serves. */
export type HostKind = "app-service" | "arc" | "service-fabric" | "cloud-shell" | "azure-ml" | "aks"

export const HOST_KINDS: ReadonlyArray<HostKind> = [
  "app-service",
  "arc",
  "service-fabric",
  "cloud-shell",
  "azure-ml",
  "aks",
]

/** The ARM resource type of each host kind (for its resource id and `xms_mirid`). */
export const HOST_RESOURCE_TYPES: Readonly<Record<HostKind, string>> = {
  "app-service": "Microsoft.Web/sites",
  arc: "Microsoft.HybridCompute/machines",
  "service-fabric": "Microsoft.ServiceFabric/managedClusters",
  "cloud-shell": "Microsoft.Portal/consoles",
  "azure-ml": "Microsoft.MachineLearningServices/workspaces",
  aks: "Microsoft.ContainerService/managedClusters",
}

/** An AKS workload: the pod's service account and the app (`azure.workload.identity/client-id`) it federates with. */
export interface KubernetesServiceAccount {
  readonly namespace: string
  readonly name: string
  /** Client id of a service principal of the world that has a federated credential for this account. */
  readonly clientId: string
}

/**
 * A host of a managed identity other than a VM: App Service app, Arc-enabled server, Service Fabric cluster,
 * Cloud Shell, Azure ML compute, or AKS cluster (whose pods use workload identity).
 */
export interface Host {
  readonly kind: HostKind
  readonly name: string
  readonly subscriptionId: string
  readonly resourceGroup: string
  readonly location?: string
  /** Absent or null: no system-assigned identity. */
  readonly systemAssigned?: SystemAssignedIdentity | null
  /** ARM resource ids of the user-assigned identities attached to this host. */
  readonly userAssigned?: ReadonlyArray<string>
  /** AKS only: the GUID in the cluster's OIDC issuer URL. */
  readonly oidcIssuerId?: string
  /** AKS only: the workload whose projected token the emulator writes. */
  readonly serviceAccount?: KubernetesServiceAccount
}

export type PrincipalType = "User" | "Group" | "ServicePrincipal" | "ForeignGroup" | "Device"

export interface RoleAssignment {
  /** The assignment's name (a GUID); its id is `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`. */
  readonly name: string
  /** e.g. `/subscriptions/{sub}` or `/subscriptions/{sub}/resourceGroups/{rg}` */
  readonly scope: string
  /** Full id `/providers/Microsoft.Authorization/roleDefinitions/{guid}` (subscription-qualified form accepted). */
  readonly roleDefinitionId: string
  readonly principalId: string
  readonly principalType: PrincipalType
  readonly description?: string
  readonly createdOn?: string
  readonly updatedOn?: string
  readonly createdBy?: string
}

export interface Permission {
  readonly actions: ReadonlyArray<string>
  readonly notActions?: ReadonlyArray<string>
  readonly dataActions?: ReadonlyArray<string>
  readonly notDataActions?: ReadonlyArray<string>
}

export interface RoleDefinition {
  /** The definition's GUID name. */
  readonly name: string
  readonly roleName: string
  readonly description?: string
  readonly roleType?: "BuiltInRole" | "CustomRole"
  readonly permissions: ReadonlyArray<Permission>
  readonly assignableScopes?: ReadonlyArray<string>
}

export interface World {
  readonly tenants: ReadonlyArray<Tenant>
  readonly subscriptions: ReadonlyArray<Subscription>
  readonly resourceGroups: ReadonlyArray<ResourceGroup>
  readonly vms: ReadonlyArray<VirtualMachine>
  readonly userAssignedIdentities?: ReadonlyArray<UserAssignedIdentity>
  readonly servicePrincipals: ReadonlyArray<ServicePrincipal>
  /** Hosts other than VMs (App Service, Arc, …); optional, default none. */
  readonly hosts?: ReadonlyArray<Host>
  readonly roleAssignments: ReadonlyArray<RoleAssignment>
  /** Custom roles, in addition to the built-in Reader, Contributor, Owner (and a few more). */
  readonly roleDefinitions?: ReadonlyArray<RoleDefinition>
}

export const DEFAULT_TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
export const DEFAULT_SUBSCRIPTION_ID = "98f51385-2edc-4b79-bed9-7718de4cb861"
export const DEFAULT_RESOURCE_GROUP = "DevTest"
export const DEFAULT_VM_NAME = "myVM"
export const DEFAULT_VM_ID = "0b3f4a3e-7c2d-4e1f-9a8b-5c6d7e8f9a0b"
export const DEFAULT_VM_PRINCIPAL_ID = "5a8f3c2e-1b7d-4e9a-9c3f-2d6b8e4a1f07"
export const DEFAULT_VM_CLIENT_ID = "0d7e6c5b-4a3f-4b2e-8d1c-9f8e7a6b5c4d"
export const DEFAULT_ADMIN_CLIENT_ID = "b3c1e2d4-5f6a-4b7c-8d9e-0a1b2c3d4e5f"
export const DEFAULT_ADMIN_OBJECT_ID = "c4d2f3e5-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
export const DEFAULT_ADMIN_SECRET = "azmi-emulator-admin-secret"
export const DEFAULT_ADMIN_ASSIGNMENT_NAME = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"

export const READER_ROLE_ID = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
export const CONTRIBUTOR_ROLE_ID = "b24988ac-6180-42a0-ab88-20f7382dd24c"
export const OWNER_ROLE_ID = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
export const USER_ACCESS_ADMINISTRATOR_ROLE_ID = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"

export const roleDefinitionResourceId = (guid: string): string =>
  `/providers/Microsoft.Authorization/roleDefinitions/${guid}`

/** Built-in role definitions (permissions as in Azure's built-in-roles reference). */
export const BUILT_IN_ROLES: ReadonlyArray<RoleDefinition> = [
  {
    name: READER_ROLE_ID,
    roleName: "Reader",
    description: "View all resources, but does not allow you to make any changes.",
    roleType: "BuiltInRole",
    permissions: [{ actions: ["*/read"], notActions: [], dataActions: [], notDataActions: [] }],
    assignableScopes: ["/"],
  },
  {
    name: CONTRIBUTOR_ROLE_ID,
    roleName: "Contributor",
    description:
      "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
    roleType: "BuiltInRole",
    permissions: [
      {
        actions: ["*"],
        notActions: [
          "Microsoft.Authorization/*/Delete",
          "Microsoft.Authorization/*/Write",
          "Microsoft.Authorization/elevateAccess/Action",
          "Microsoft.Blueprint/blueprintAssignments/write",
          "Microsoft.Blueprint/blueprintAssignments/delete",
          "Microsoft.Compute/galleries/share/action",
          "Microsoft.Purview/consents/write",
          "Microsoft.Purview/consents/delete",
          "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
          "Microsoft.Subscription/cancel/action",
          "Microsoft.Subscription/enable/action",
        ],
        dataActions: [],
        notDataActions: [],
      },
    ],
    assignableScopes: ["/"],
  },
  {
    name: OWNER_ROLE_ID,
    roleName: "Owner",
    description:
      "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
    roleType: "BuiltInRole",
    permissions: [{ actions: ["*"], notActions: [], dataActions: [], notDataActions: [] }],
    assignableScopes: ["/"],
  },
  {
    name: USER_ACCESS_ADMINISTRATOR_ROLE_ID,
    roleName: "User Access Administrator",
    description: "Lets you manage user access to Azure resources.",
    roleType: "BuiltInRole",
    permissions: [
      {
        actions: ["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"],
        notActions: [],
        dataActions: [],
        notDataActions: [],
      },
    ],
    assignableScopes: ["/"],
  },
]

/**
 * The default world: mirrors the seed quickstart (one subscription, resource group `DevTest` in `westus`,
 * a Linux VM `myVM` with a system-assigned identity and no role yet, an admin service principal that is
 * Owner of the subscription). Every id is fixed so docs and tests can name them.
 */
export const defaultWorld = (): World => ({
  tenants: [{ tenantId: DEFAULT_TENANT_ID, displayName: "Emulated tenant" }],
  subscriptions: [
    {
      subscriptionId: DEFAULT_SUBSCRIPTION_ID,
      tenantId: DEFAULT_TENANT_ID,
      displayName: "Emulated subscription",
      state: "Enabled",
    },
  ],
  resourceGroups: [
    {
      subscriptionId: DEFAULT_SUBSCRIPTION_ID,
      name: DEFAULT_RESOURCE_GROUP,
      location: "westus",
      tags: { env: "dev" },
    },
  ],
  vms: [
    {
      name: DEFAULT_VM_NAME,
      subscriptionId: DEFAULT_SUBSCRIPTION_ID,
      resourceGroup: DEFAULT_RESOURCE_GROUP,
      location: "westus",
      vmId: DEFAULT_VM_ID,
      vmSize: "Standard_B1s",
      osType: "Linux",
      computerName: "myVM",
      adminUsername: "azureuser",
      image: { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "24.04.202411030" },
      tags: {},
      zone: "",
      network: {
        privateIpAddress: "10.0.0.4",
        publicIpAddress: "",
        macAddress: "000D3A5E2B1C",
        subnetAddress: "10.0.0.0",
        subnetPrefix: "24",
      },
      systemAssigned: { principalId: DEFAULT_VM_PRINCIPAL_ID, clientId: DEFAULT_VM_CLIENT_ID },
      userAssigned: [],
    },
  ],
  userAssignedIdentities: [],
  servicePrincipals: [
    {
      displayName: "azmi-admin",
      clientId: DEFAULT_ADMIN_CLIENT_ID,
      objectId: DEFAULT_ADMIN_OBJECT_ID,
      secret: DEFAULT_ADMIN_SECRET,
      tenantId: DEFAULT_TENANT_ID,
    },
  ],
  roleAssignments: [
    {
      name: DEFAULT_ADMIN_ASSIGNMENT_NAME,
      scope: `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}`,
      roleDefinitionId: roleDefinitionResourceId(OWNER_ROLE_ID),
      principalId: DEFAULT_ADMIN_OBJECT_ID,
      principalType: "ServicePrincipal",
      createdOn: "2026-01-01T00:00:00.0000000Z",
    },
  ],
  roleDefinitions: [],
})

const eq = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase()

/** ARM resource id of a user-assigned identity (canonical `resourceGroups` casing). */
export const userAssignedIdentityResourceId = (id: UserAssignedIdentity): string =>
  `/subscriptions/${id.subscriptionId}/resourceGroups/${id.resourceGroup}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${id.name}`

/** ARM resource id of a VM (canonical `resourceGroups` casing). */
export const vmResourceId = (vm: VirtualMachine): string =>
  `/subscriptions/${vm.subscriptionId}/resourceGroups/${vm.resourceGroup}/providers/Microsoft.Compute/virtualMachines/${vm.name}`

/** ARM resource id of a host (canonical `resourceGroups` casing). */
export const hostResourceId = (host: Host): string =>
  `/subscriptions/${host.subscriptionId}/resourceGroups/${host.resourceGroup}/providers/${HOST_RESOURCE_TYPES[host.kind]}/${host.name}`

/** Compares ARM ids ignoring case and the `resourceGroups`/`resourcegroups` spelling. */
export const sameResourceId = (a: string, b: string): boolean =>
  eq(a.replace(/\/+$/, ""), b.replace(/\/+$/, ""))

export type WorldChange =
  | { readonly kind: "resourceGroup.put"; readonly resourceGroup: ResourceGroup }
  | { readonly kind: "resourceGroup.delete"; readonly resourceGroup: ResourceGroup }
  | { readonly kind: "roleAssignment.put"; readonly roleAssignment: RoleAssignment }
  | { readonly kind: "roleAssignment.delete"; readonly roleAssignment: RoleAssignment }
  | { readonly kind: "host.put"; readonly host: Host }
  | { readonly kind: "servicePrincipal.put"; readonly servicePrincipal: ServicePrincipal }
  | { readonly kind: "world.replace" }

/**
 * A change as the state journal records it (see `world/journal.ts`): every kind but a whole-world replace,
 * which the state file answers by rewriting the world file instead.
 */
export type RecordedChange = Exclude<WorldChange, { readonly kind: "world.replace" }>

export type WorldListener = (change: WorldChange) => void

const clone = <A>(a: A): A => structuredClone(a)

/**
 * Mutable in-memory view of a {@link World}. Queries are case-insensitive on names; every mutation
 * notifies the `onChange` listeners (persistence subscribes there).
 */
export class WorldStore {
  private world: {
    tenants: Tenant[]
    subscriptions: Subscription[]
    resourceGroups: ResourceGroup[]
    vms: VirtualMachine[]
    userAssignedIdentities: UserAssignedIdentity[]
    servicePrincipals: ServicePrincipal[]
    hosts: Host[]
    roleAssignments: RoleAssignment[]
    roleDefinitions: RoleDefinition[]
  }
  private readonly listeners = new Set<WorldListener>()

  constructor(world: World = defaultWorld()) {
    this.world = WorldStore.normalise(world)
  }

  private static normalise(world: World) {
    const w = clone(world)
    return {
      tenants: [...w.tenants],
      subscriptions: [...w.subscriptions],
      resourceGroups: [...w.resourceGroups],
      vms: [...w.vms],
      userAssignedIdentities: [...(w.userAssignedIdentities ?? [])],
      servicePrincipals: [...w.servicePrincipals],
      hosts: [...(w.hosts ?? [])],
      roleAssignments: [...w.roleAssignments],
      roleDefinitions: [...(w.roleDefinitions ?? [])],
    }
  }

  /** Registers a listener called after every change; returns an unsubscribe function. */
  onChange(listener: WorldListener): () => void {
    this.listeners.add(listener)
    return () => {
      this.listeners.delete(listener)
    }
  }

  private emit(change: WorldChange): void {
    for (const listener of this.listeners) listener(change)
  }

  /** A deep copy of the current world, suitable for `JSON.stringify`. */
  toJSON(): World {
    // A world without hosts reads (and is stored) exactly as before hosts existed.
    const { hosts, ...rest } = clone(this.world)
    return hosts.length === 0 ? rest : { ...rest, hosts }
  }

  /**
   * The current world as JSON text, as `JSON.stringify(toJSON(), null, 2)` but without the deep copy (the state
   * file writes it after every batch of changes; stringifying is synchronous, so nothing changes under it).
   */
  toJSONText(): string {
    const world = this.world
    // Like toJSON: no `hosts` key when there are none.
    const omitNoHosts = function (this: unknown, key: string, value: unknown) {
      return this === world && key === "hosts" && Array.isArray(value) && value.length === 0
        ? undefined
        : value
    }
    return `${JSON.stringify(world, omitNoHosts, 2)}\n`
  }

  /** Replaces the whole world (e.g. loaded from a state file). */
  replace(world: World): void {
    this.world = WorldStore.normalise(world)
    this.emit({ kind: "world.replace" })
  }

  /**
   * Makes a recorded change again (replaying a state journal after a crash): the same mutation the change came
   * from, so replaying a journal's changes in order rebuilds the world they were made on — a group's delete
   * takes the role assignments under it again, a put replaces in place.
   */
  apply(change: RecordedChange): void {
    switch (change.kind) {
      case "resourceGroup.put":
        this.putResourceGroup(change.resourceGroup)
        return
      case "resourceGroup.delete":
        this.deleteResourceGroup(change.resourceGroup.subscriptionId, change.resourceGroup.name)
        return
      case "roleAssignment.put":
        this.putRoleAssignment(change.roleAssignment)
        return
      case "roleAssignment.delete":
        this.deleteRoleAssignment(change.roleAssignment.name)
        return
      case "host.put":
        this.putHost(change.host)
        return
      case "servicePrincipal.put":
        this.putServicePrincipal(change.servicePrincipal)
        return
      default: {
        // A new kind of change fails to compile here until it can be replayed.
        const unknown: never = change
        throw new Error(`cannot replay a change of kind ${(unknown as { kind: string }).kind}`)
      }
    }
  }

  // ---- tenants and subscriptions

  get defaultTenantId(): string {
    return this.world.tenants[0]?.tenantId ?? this.world.subscriptions[0]?.tenantId ?? DEFAULT_TENANT_ID
  }

  get defaultSubscriptionId(): string {
    return this.world.subscriptions[0]?.subscriptionId ?? DEFAULT_SUBSCRIPTION_ID
  }

  tenants(): ReadonlyArray<Tenant> {
    return this.world.tenants
  }

  hasTenant(tenantId: string): boolean {
    return this.world.tenants.some((t) => eq(t.tenantId, tenantId))
  }

  subscriptions(): ReadonlyArray<Subscription> {
    return this.world.subscriptions
  }

  findSubscription(subscriptionId: string): Subscription | undefined {
    return this.world.subscriptions.find((s) => eq(s.subscriptionId, subscriptionId))
  }

  // ---- resource groups

  resourceGroups(subscriptionId: string): ReadonlyArray<ResourceGroup> {
    return this.world.resourceGroups.filter((g) => eq(g.subscriptionId, subscriptionId))
  }

  findResourceGroup(subscriptionId: string, name: string): ResourceGroup | undefined {
    return this.world.resourceGroups.find((g) => eq(g.subscriptionId, subscriptionId) && eq(g.name, name))
  }

  /** Creates or updates a group; an update keeps `location` and takes the most recently given name casing. */
  putResourceGroup(group: ResourceGroup): { readonly group: ResourceGroup; readonly created: boolean } {
    const index = this.world.resourceGroups.findIndex(
      (g) => eq(g.subscriptionId, group.subscriptionId) && eq(g.name, group.name),
    )
    const stored = clone(group)
    if (index === -1) this.world.resourceGroups.push(stored)
    else this.world.resourceGroups[index] = stored
    this.emit({ kind: "resourceGroup.put", resourceGroup: clone(stored) })
    return { group: clone(stored), created: index === -1 }
  }

  /** Deletes a group and every role assignment scoped at or below it. */
  deleteResourceGroup(subscriptionId: string, name: string): ResourceGroup | undefined {
    const index = this.world.resourceGroups.findIndex(
      (g) => eq(g.subscriptionId, subscriptionId) && eq(g.name, name),
    )
    if (index === -1) return undefined
    const [removed] = this.world.resourceGroups.splice(index, 1)
    if (removed === undefined) return undefined
    const prefix = `/subscriptions/${subscriptionId}/resourcegroups/${name}`.toLowerCase()
    this.world.roleAssignments = this.world.roleAssignments.filter((a) => {
      const scope = a.scope.toLowerCase()
      return !(scope === prefix || scope.startsWith(`${prefix}/`))
    })
    this.emit({ kind: "resourceGroup.delete", resourceGroup: clone(removed) })
    return clone(removed)
  }

  // ---- identities

  vms(): ReadonlyArray<VirtualMachine> {
    return this.world.vms
  }

  userAssignedIdentities(): ReadonlyArray<UserAssignedIdentity> {
    return this.world.userAssignedIdentities
  }

  findUserAssignedIdentityById(resourceId: string): UserAssignedIdentity | undefined {
    return this.world.userAssignedIdentities.find((i) =>
      sameResourceId(userAssignedIdentityResourceId(i), resourceId),
    )
  }

  servicePrincipals(): ReadonlyArray<ServicePrincipal> {
    return this.world.servicePrincipals
  }

  findServicePrincipal(clientId: string): ServicePrincipal | undefined {
    return this.world.servicePrincipals.find((p) => eq(p.clientId, clientId))
  }

  /** Adds a service principal, or replaces the one with the same client id. */
  putServicePrincipal(principal: ServicePrincipal): void {
    const index = this.world.servicePrincipals.findIndex((p) => eq(p.clientId, principal.clientId))
    const stored = clone(principal)
    if (index === -1) this.world.servicePrincipals.push(stored)
    else this.world.servicePrincipals[index] = stored
    this.emit({ kind: "servicePrincipal.put", servicePrincipal: clone(stored) })
  }

  hosts(): ReadonlyArray<Host> {
    return this.world.hosts
  }

  /** The first host of this kind (the one the emulator serves for `--source <kind>`). */
  findHost(kind: HostKind): Host | undefined {
    return this.world.hosts.find((h) => h.kind === kind)
  }

  /** Adds a host, or replaces the one of the same kind and resource id. */
  putHost(host: Host): void {
    const id = hostResourceId(host)
    const index = this.world.hosts.findIndex(
      (h) => h.kind === host.kind && sameResourceId(hostResourceId(h), id),
    )
    const stored = clone(host)
    if (index === -1) this.world.hosts.push(stored)
    else this.world.hosts[index] = stored
    this.emit({ kind: "host.put", host: clone(stored) })
  }

  // ---- RBAC

  roleDefinitions(): ReadonlyArray<RoleDefinition> {
    return [...BUILT_IN_ROLES, ...this.world.roleDefinitions]
  }

  /** Accepts a bare GUID or any `…/roleDefinitions/{guid}` id. */
  findRoleDefinition(idOrName: string): RoleDefinition | undefined {
    const guid = idOrName.split("/").pop() ?? idOrName
    return this.roleDefinitions().find((d) => eq(d.name, guid))
  }

  roleAssignments(): ReadonlyArray<RoleAssignment> {
    return this.world.roleAssignments
  }

  findRoleAssignment(name: string): RoleAssignment | undefined {
    return this.world.roleAssignments.find((a) => eq(a.name, name))
  }

  putRoleAssignment(assignment: RoleAssignment): {
    readonly assignment: RoleAssignment
    readonly created: boolean
  } {
    const index = this.world.roleAssignments.findIndex((a) => eq(a.name, assignment.name))
    const stored = clone(assignment)
    if (index === -1) this.world.roleAssignments.push(stored)
    else this.world.roleAssignments[index] = stored
    this.emit({ kind: "roleAssignment.put", roleAssignment: clone(stored) })
    return { assignment: clone(stored), created: index === -1 }
  }

  deleteRoleAssignment(name: string): RoleAssignment | undefined {
    const index = this.world.roleAssignments.findIndex((a) => eq(a.name, name))
    if (index === -1) return undefined
    const [removed] = this.world.roleAssignments.splice(index, 1)
    if (removed === undefined) return undefined
    this.emit({ kind: "roleAssignment.delete", roleAssignment: clone(removed) })
    return clone(removed)
  }
}
