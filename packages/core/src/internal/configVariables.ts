/**
 * Every environment variable the core's configuration resolver reads (`Config.ts` declares a setting
 * for each, and its declarations are checked against this list). Kept free of Effect: the token
 * cache's input key (`TokenCacheFile.inputsKey`) names them without loading the resolver.
 * @internal
 */
export const configVariables = [
  "AZMI_ALLOW_REMOTE_ENDPOINTS",
  "AZMI_CONNECT_TIMEOUT_MS",
  "AZMI_ATTEMPT_TIMEOUT_MS",
  "AZMI_DEADLINE_MS",
  "AZMI_IMDS_ENDPOINT",
  "AZURE_POD_IDENTITY_AUTHORITY_HOST",
  "IDENTITY_ENDPOINT",
  "IDENTITY_HEADER",
  "AZMI_MI_SOURCE",
  "IDENTITY_SERVER_THUMBPRINT",
  "IMDS_ENDPOINT",
  "MSI_ENDPOINT",
  "MSI_SECRET",
  "DEFAULT_IDENTITY_CLIENT_ID",
  "AZURE_CLIENT_ID",
  "AZURE_TENANT_ID",
  "AZURE_CLIENT_SECRET",
  "AZURE_AUTHORITY_HOST",
  "AZURE_FEDERATED_TOKEN_FILE",
  "AZMI_ARM_ENDPOINT",
  "AZMI_ARM_AUDIENCE",
  "AZMI_CA_CERT_FILE",
] as const

/** One of {@link configVariables}. */
export type ConfigVariable = (typeof configVariables)[number]
