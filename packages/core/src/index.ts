/**
 * @azmi/core — Azure managed identity as typed Effects.
 * @module
 */
export type { AccessToken } from "./AccessToken.js"
export * as ArmClient from "./ArmClient.js"
export { type ArmErrorContext, decodeArmError } from "./ArmErrorDecoder.js"
export * as ArmIds from "./ArmIds.js"
export type { ArmMetadata, ArmResponse } from "./ArmResponse.js"
export * as Azmi from "./Azmi.js"
export * from "./Errors.js"
export * as FileTokenCache from "./FileTokenCache.js"
export { describeSelector, IdentitySelector } from "./IdentitySelector.js"
export { ComputeMetadata, InstanceMetadata } from "./InstanceMetadata.js"
export { type ListResourceGroupsOptions, ResourceGroup, ResourceGroups } from "./ResourceGroups.js"
export * as ResourceGroupsLive from "./ResourceGroupsLive.js"
export {
  BuiltInRoles,
  type CreateRoleAssignment,
  type ListRoleAssignments,
  RoleAssignment,
  RoleAssignments,
} from "./RoleAssignments.js"
export * as RoleAssignmentsLive from "./RoleAssignmentsLive.js"
export { type GetTokenOptions, TokenProvider } from "./TokenProvider.js"
