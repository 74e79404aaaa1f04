/**
 * Which managed identity an IMDS token request means, following IMDS's rules: an explicit selector
 * (`client_id`, `object_id`, `msi_res_id`/`mi_res_id`) must name an identity attached to the VM; without
 * one, the system-assigned identity if enabled, else the only user-assigned identity, else an error.
 */
import {
  sameResourceId,
  type UserAssignedIdentity,
  userAssignedIdentityResourceId,
  type VirtualMachine,
  vmResourceId,
  type WorldStore,
} from "../world/model.js"

export interface ResolvedIdentity {
  /** Cache key: stable per identity. */
  readonly key: string
  readonly clientId: string
  readonly principalId: string
  /** `xms_mirid`: the MI's ARM id with lowercase `resourcegroups`, as Entra writes it. */
  readonly mirid: string
}

export type IdentitySelector =
  | { readonly kind: "none" }
  | { readonly kind: "client_id"; readonly value: string }
  | { readonly kind: "object_id"; readonly value: string }
  | { readonly kind: "msi_res_id"; readonly value: string }

export type IdentityResolution =
  | { readonly ok: true; readonly identity: ResolvedIdentity }
  | { readonly ok: false; readonly reason: "not-found" | "multiple" }

const lowerRg = (id: string): string => id.replace(/\/resourceGroups\//i, "/resourcegroups/")

const eq = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase()

/** The user-assigned identities actually attached to `vm` (ids that name no identity are ignored). */
export const attachedUserAssigned = (store: WorldStore, vm: VirtualMachine): UserAssignedIdentity[] =>
  (vm.userAssigned ?? []).flatMap((id) => {
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

const fromSystem = (vm: VirtualMachine): ResolvedIdentity | undefined =>
  vm.systemAssigned
    ? {
        key: `system:${vmResourceId(vm).toLowerCase()}`,
        clientId: vm.systemAssigned.clientId,
        principalId: vm.systemAssigned.principalId,
        mirid: lowerRg(vmResourceId(vm)),
      }
    : undefined

export const resolveIdentity = (
  store: WorldStore,
  vm: VirtualMachine | undefined,
  selector: IdentitySelector,
): IdentityResolution => {
  if (vm === undefined) return { ok: false, reason: "not-found" }
  const users = attachedUserAssigned(store, vm)
  const system = fromSystem(vm)
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
