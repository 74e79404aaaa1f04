/**
 * Entra ID of the public cloud: the default `AZURE_AUTHORITY_HOST` (service principals and workload
 * identity alike).
 * @internal
 */
export const DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
