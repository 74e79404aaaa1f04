/**
 * Which managed identity to use: system-assigned, or a user-assigned one named by exactly one id.
 * Mutual exclusion is in the type: a selector is one of four cases, never two at once.
 * @module
 */
import { Data } from "effect"
import { isGuid } from "./internal/guid.js"

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

// An ARM id of a user-assigned identity; IMDS answers anything else with a generic 400, so refuse it here.
const UAMI_ID =
  /^\/subscriptions\/[0-9a-fA-F-]{36}\/resourcegroups\/[-\w.()]{1,90}\/providers\/microsoft\.managedidentity\/userassignedidentities\/[-\w]{1,128}$/i

/**
 * Why a selector's id is unusable, or `undefined` when it is fine: client and object ids are GUIDs,
 * a resource id is the ARM id of a user-assigned identity. Checked before any request is built.
 *
 * @example
 * ```ts
 * import { IdentitySelector, selectorProblem } from "@azmi/core"
 * selectorProblem(IdentitySelector.ClientId({ clientId: "nope" })) // { field: "clientId", rule: "must be a GUID" }
 * ```
 */
export const selectorProblem = (
  selector: IdentitySelector,
): { readonly field: string; readonly value: string; readonly rule: string } | undefined =>
  IdentitySelector.$match(selector, {
    SystemAssigned: () => undefined,
    ClientId: ({ clientId }) =>
      isGuid(clientId) ? undefined : { field: "clientId", value: clientId, rule: "must be a GUID" },
    ObjectId: ({ objectId }) =>
      isGuid(objectId) ? undefined : { field: "objectId", value: objectId, rule: "must be a GUID" },
    ResourceId: ({ resourceId }) =>
      UAMI_ID.test(resourceId)
        ? undefined
        : {
            field: "resourceId",
            value: resourceId,
            rule: "must be the ARM id of a user-assigned identity (/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name})",
          },
  })

/**
 * Whether two selectors name the same identity: the same kind and the same id, compared without case
 * (Azure's ids are case-insensitive).
 *
 * @example
 * ```ts
 * import { IdentitySelector, sameIdentity } from "@azmi/core"
 * sameIdentity(IdentitySelector.ClientId({ clientId: "AB…" }), IdentitySelector.ClientId({ clientId: "ab…" })) // true
 * ```
 */
export const sameIdentity = (a: IdentitySelector, b: IdentitySelector): boolean =>
  describeSelector(a).toLowerCase() === describeSelector(b).toLowerCase()
