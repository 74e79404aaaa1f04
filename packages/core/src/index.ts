/**
 * @azmi/core — Azure managed identity as typed Effects.
 * @module
 */
export type { AccessToken } from "./AccessToken.js"
// tokens
export * as AppService from "./AppService.js"
export * as ArmClient from "./ArmClient.js"
export { type ArmErrorContext, decodeArmError } from "./ArmErrorDecoder.js"
export * as ArmIds from "./ArmIds.js"
export type { ArmMetadata, ArmResponse, ArmTestOverrides } from "./ArmResponse.js"
export * as ArmWire from "./ArmWire.js"
export * as Azmi from "./Azmi.js"
export * as AzureArc from "./AzureArc.js"
export * as AzureHostLive from "./AzureHost.js"
export { AzureHost, type HostCheck } from "./AzureHost.js"
export * as AzureMl from "./AzureMl.js"
export * as ClientSecret from "./ClientSecret.js"
export * as CloudShell from "./CloudShell.js"
export {
  AzmiConfig,
  type AzmiConfigShape,
  type ClientSecretConfig,
  type ConfigFlags,
  type ConfigOptions,
  type ManagedIdentitySourceConfig,
  type ManagedIdentitySourceName,
  type SelectedSource,
  type SourceSettings,
  selectSource,
  settings as configSettings,
} from "./Config.js"
export {
  type AbortSignalLike,
  AzmiCredentialError,
  type AzureAccessToken,
  type CredentialGetTokenOptions,
  createManagedIdentityCredential,
  type ManagedIdentityCredential,
  type ManagedIdentityCredentialOptions,
} from "./Credential.js"
export {
  isLinkLocalHost,
  isLocalHost,
  isLoopbackHost,
  managedIdentityEndpoint,
  serviceUrl,
} from "./Endpoints.js"
export * from "./Errors.js"
export * as FileTokenCache from "./FileTokenCache.js"
export * as HttpTransport from "./HttpTransport.js"
export { describeSelector, IdentitySelector, sameIdentity, selectorProblem } from "./IdentitySelector.js"
export * as Imds from "./Imds.js"
export * as ImdsProtocol from "./ImdsProtocol.js"
export * as InstanceDocument from "./InstanceDocument.js"
export { ComputeMetadata, InstanceMetadata } from "./InstanceMetadata.js"
export * as InstanceMetadataLive from "./InstanceMetadataLive.js"
export * as ManagedIdentity from "./ManagedIdentity.js"
export { ManagedIdentitySource } from "./ManagedIdentitySource.js"
export * as Metrics from "./Metrics.js"
export * as RefreshAheadCache from "./RefreshAheadCache.js"
export {
  isTop,
  type ListResourceGroupsOptions,
  parseTagFilter,
  parseTop,
  parseWholeNumber,
  ResourceGroup,
  ResourceGroups,
  type ResourceGroupsCall,
  type ResourceGroupsTestOptions,
  topRange,
  topRule,
} from "./ResourceGroups.js"
export * as ResourceGroupsLive from "./ResourceGroupsLive.js"
export * as Retry from "./Retry.js"
export {
  BuiltInRoles,
  type CreateRoleAssignment,
  type DeleteRoleAssignment,
  type ListRoleAssignments,
  parseDeleteRoleAssignment,
  RoleAssignment,
  type RoleAssignmentRef,
  RoleAssignments,
  type RoleAssignmentsCall,
  type RoleAssignmentsTestOptions,
} from "./RoleAssignments.js"
export * as RoleAssignmentsLive from "./RoleAssignmentsLive.js"
export * as ServiceFabric from "./ServiceFabric.js"
export * as Settings from "./Settings.js"
export * as SourceDetection from "./SourceDetection.js"
// Also `@azmi/core/TokenCacheFile`: free of Effect, for a reader that must not load it.
export * as TokenCacheFile from "./TokenCacheFile.js"
export {
  type GetTokenCall,
  type GetTokenOptions,
  TokenProvider,
  type TokenProviderTestOptions,
  testToken,
} from "./TokenProvider.js"
export * as TokenResponse from "./TokenResponse.js"
export * as WorkloadIdentity from "./WorkloadIdentity.js"
export * as WorkloadIdentityConfig from "./WorkloadIdentityConfig.js"
