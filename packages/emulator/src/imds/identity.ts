/**
 * Which managed identity a token request means, following IMDS's rules (which App Service, Arc and Azure ML
 * share): an explicit selector (`client_id`, `object_id`, `msi_res_id`/`mi_res_id`) must name an identity
 * attached to the resource; without one, the system-assigned identity if enabled, else the only
 * user-assigned identity, else an error.
 */
import type { TokenIdentity } from "../token/managedIdentity.js"
import {
  type SystemAssignedIdentity,
  sameResourceId,
  type UserAssignedIdentity,
  userAssignedIdentityResourceId,
  type VirtualMachine,
  vmResourceId,
  type WorldStore,
} from "../world/model.js"

export type ResolvedIdentity = TokenIdentity

/** Anything Azure attaches managed identities to: a VM, an App Service app, an Arc machine, … */
export interface IdentityHolder {
  /** The resource's ARM id (the system-assigned identity's `xms_mirid`). */
  readonly resourceId: string
  readonly systemAssigned?: SystemAssignedIdentity | null
  readonly userAssigned?: ReadonlyArray<string>
}

export const vmIdentityHolder = (vm: VirtualMachine): IdentityHolder => ({
  resourceId: vmResourceId(vm),
  ...(vm.systemAssigned !== undefined && { systemAssigned: vm.systemAssigned }),
  ...(vm.userAssigned !== undefined && { userAssigned: vm.userAssigned }),
})

export type IdentitySelector =
  | { readonly kind: "none" }
  | { readonly kind: "client_id"; readonly value: string }
  | { readonly kind: "object_id"; readonly value: string }
  | { readonly kind: "msi_res_id"; readonly value: string }

/** The query parameters a host's protocol names each kind of selector with (the first present wins). */
export interface SelectorNames {
  readonly clientId: ReadonlyArray<string>
  readonly objectId: ReadonlyArray<string>
  readonly resourceId: ReadonlyArray<string>
}

/** IMDS's (and Arc's): `client_id`, `object_id`, `msi_res_id` (older docs: `mi_res_id`). */
export const IMDS_SELECTOR_NAMES: SelectorNames = {
  clientId: ["client_id"],
  objectId: ["object_id"],
  resourceId: ["msi_res_id", "mi_res_id"],
}

/**
 * The selector a request's query names, and every selector parameter present (`given`; more than one is
 * ambiguous, which each host refuses in its own words).
 */
export const readSelector = (
  query: URLSearchParams,
  names: SelectorNames,
): { readonly selector: IdentitySelector; readonly given: ReadonlyArray<string> } => {
  const given = [...names.clientId, ...names.objectId, ...names.resourceId].filter((p) => query.has(p))
  const first = (params: ReadonlyArray<string>): string | undefined =>
    params.map((p) => query.get(p)).find((v): v is string => v !== null)
  const clientId = first(names.clientId)
  const objectId = first(names.objectId)
  const resourceId = first(names.resourceId)
  const selector: IdentitySelector =
    clientId !== undefined
      ? { kind: "client_id", value: clientId }
      : objectId !== undefined
        ? { kind: "object_id", value: objectId }
        : resourceId !== undefined
          ? { kind: "msi_res_id", value: resourceId }
          : { kind: "none" }
  return { selector, given }
}

export type IdentityResolution =
  | { readonly ok: true; readonly identity: ResolvedIdentity }
  | { readonly ok: false; readonly reason: "not-found" | "multiple" }

const lowerRg = (id: string): string => id.replace(/\/resourceGroups\//i, "/resourcegroups/")

const eq = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase()

/** The user-assigned identities actually attached to `holder` (ids that name no identity are ignored). */
export const attachedUserAssigned = (
  store: WorldStore,
  holder: Pick<IdentityHolder, "userAssigned">,
): UserAssignedIdentity[] =>
  (holder.userAssigned ?? []).flatMap((id) => {
    const found = store.findUserAssignedIdentityById(id)
    return found === undefined ? [] : [found]
  })

const fromUser = (u: UserAssignedIdentity): ResolvedIdentity => {
  const id = userAssignedIdentityResourceId(u)
  return {
    key: `user:${id.toLowerCase()}`,
    clientId: u.clientId,
    principalId: u.principalId,
    mirid: lowerRg(id),
  }
}

const fromSystem = (holder: IdentityHolder): ResolvedIdentity | undefined =>
  holder.systemAssigned
    ? {
        key: `system:${holder.resourceId.toLowerCase()}`,
        clientId: holder.systemAssigned.clientId,
        principalId: holder.systemAssigned.principalId,
        mirid: lowerRg(holder.resourceId),
      }
    : undefined

export const resolveIdentity = (
  store: WorldStore,
  holder: IdentityHolder | undefined,
  selector: IdentitySelector,
): IdentityResolution => {
  if (holder === undefined) return { ok: false, reason: "not-found" }
  const users = attachedUserAssigned(store, holder)
  const system = fromSystem(holder)
  const hit = (identity: ResolvedIdentity | undefined): IdentityResolution =>
    identity === undefined ? { ok: false, reason: "not-found" } : { ok: true, identity }
  switch (selector.kind) {
    case "none": {
      if (system !== undefined) return { ok: true, identity: system }
      const [only, ...more] = users
      if (only === undefined) return { ok: false, reason: "not-found" }
      if (more.length > 0) return { ok: false, reason: "multiple" }
      return { ok: true, identity: fromUser(only) }
    }
    case "client_id": {
      const u = users.find((i) => eq(i.clientId, selector.value))
      if (u !== undefined) return hit(fromUser(u))
      return hit(system !== undefined && eq(system.clientId, selector.value) ? system : undefined)
    }
    case "object_id": {
      const u = users.find((i) => eq(i.principalId, selector.value))
      if (u !== undefined) return hit(fromUser(u))
      return hit(system !== undefined && eq(system.principalId, selector.value) ? system : undefined)
    }
    case "msi_res_id": {
      const u = users.find((i) => sameResourceId(userAssignedIdentityResourceId(i), selector.value))
      return hit(u === undefined ? undefined : fromUser(u))
    }
  }
}
