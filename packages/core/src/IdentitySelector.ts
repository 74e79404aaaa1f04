/**
 * Which managed identity to use: system-assigned, or a user-assigned one named by exactly one id.
 * Mutual exclusion is in the type: a selector is one of four cases, never two at once.
 * @module
 */
import { Data } from "effect"

/**
 * @example
 * ```ts
 * import { IdentitySelector } from "@azmi/core"
 * const system = IdentitySelector.SystemAssigned()
 * const byClient = IdentitySelector.ClientId({ clientId: "0b8f…" })
 * ```
 */
export type IdentitySelector = Data.TaggedEnum<{
  SystemAssigned: {}
  ClientId: { readonly clientId: string }
  ObjectId: { readonly objectId: string }
  ResourceId: { readonly resourceId: string }
}>

export const IdentitySelector = Data.taggedEnum<IdentitySelector>()

/** A short human description, e.g. `system-assigned` or `client_id=…` (ids are not secrets). */
export const describeSelector = (selector: IdentitySelector): string =>
  IdentitySelector.$match(selector, {
    SystemAssigned: () => "system-assigned",
    ClientId: ({ clientId }) => `client_id=${clientId}`,
    ObjectId: ({ objectId }) => `object_id=${objectId}`,
    ResourceId: ({ resourceId }) => `msi_res_id=${resourceId}`,
  })
