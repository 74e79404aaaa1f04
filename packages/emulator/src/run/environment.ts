/**
 * COMMAND's environment inside `azmi-emulator run`: the caller's, less what a VM does not have, plus the
 * emulator's CA (so HTTPS to `management.azure.com` is trusted by Node, Python, OpenSSL and curl) and
 * `AZMI_EMULATOR_INFO`.
 * @module
 */

/**
 * Variables that select or configure an Azure identity (or azmi): a VM has none of them, and any of them would
 * send an SDK somewhere other than the simulated VM's IMDS (`AZURE_CLIENT_SECRET` makes DefaultAzureCredential
 * use a service principal, `IDENTITY_ENDPOINT` makes every SDK think it is on App Service, `AZMI_IMDS_ENDPOINT`
 * points azmi at an address that does not exist in the namespace, …).
 */
export const IDENTITY_VARIABLES: ReadonlyArray<string> = [
  "AZURE_AUTHORITY_HOST",
  "AZURE_CLIENT_CERTIFICATE_PASSWORD",
  "AZURE_CLIENT_CERTIFICATE_PATH",
  "AZURE_CLIENT_ID",
  "AZURE_CLIENT_SECRET",
  "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN",
  "AZURE_FEDERATED_TOKEN_FILE",
  "AZURE_PASSWORD",
  "AZURE_POD_IDENTITY_AUTHORITY_HOST",
  "AZURE_REGIONAL_AUTHORITY_NAME",
  "AZURE_TENANT_ID",
  "AZURE_TOKEN_CREDENTIALS",
  "AZURE_USERNAME",
  "DEFAULT_IDENTITY_CLIENT_ID",
  "IDENTITY_ENDPOINT",
  "IDENTITY_HEADER",
  "IDENTITY_SERVER_THUMBPRINT",
  "IMDS_ENDPOINT",
  "MSAL_MANAGED_IDENTITY_ENDPOINT",
  "MSI_ENDPOINT",
  "MSI_SECRET",
]

/** Proxies cannot be reached from the namespace: a proxy variable would only make every client fail. */
export const PROXY_VARIABLES: ReadonlyArray<string> = [
  "http_proxy",
  "https_proxy",
  "all_proxy",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "ALL_PROXY",
]

/** The variables through which Node, Python (requests and ssl), OpenSSL and curl trust a CA file. */
export const CA_VARIABLES = [
  "NODE_EXTRA_CA_CERTS",
  "REQUESTS_CA_BUNDLE",
  "SSL_CERT_FILE",
  "CURL_CA_BUNDLE",
] as const

/** Names the start-up JSON file (endpoints, the admin's credentials, the control API); azmi never reads it. */
export const INFO_VARIABLE = "AZMI_EMULATOR_INFO"

const dropped = (name: string) =>
  name.startsWith("AZMI_") || IDENTITY_VARIABLES.includes(name) || PROXY_VARIABLES.includes(name)

export interface CommandEnvironment {
  /** The whole environment COMMAND starts with. */
  readonly env: Readonly<Record<string, string>>
  /** What `run` set (the CA variables, `AZMI_EMULATOR_INFO` and the source's variables). */
  readonly added: Readonly<Record<string, string>>
  /** Names of the caller's variables left out (values never shown: they may be secrets). */
  readonly removed: ReadonlyArray<string>
}

/**
 * @example
 * ```ts
 * commandEnvironment({ caller: process.env, caCertPath: "/tmp/x/ca.pem", infoPath: "/tmp/y/emulator.json", sourceEnv: {} })
 * // env: caller's minus AZURE_CLIENT_SECRET & co, plus NODE_EXTRA_CA_CERTS=/tmp/x/ca.pem … AZMI_EMULATOR_INFO=/tmp/y/emulator.json
 * ```
 */
export const commandEnvironment = (input: {
  readonly caller: Readonly<Record<string, string | undefined>>
  readonly caCertPath: string
  readonly infoPath: string
  /** The host's own variables (none for IMDS: a VM sets nothing). */
  readonly sourceEnv: Readonly<Record<string, string>>
}): CommandEnvironment => {
  const env: Record<string, string> = {}
  const removed: Array<string> = []
  for (const [name, value] of Object.entries(input.caller)) {
    if (value === undefined) continue
    if (dropped(name)) removed.push(name)
    else env[name] = value
  }
  const added: Record<string, string> = {}
  for (const name of CA_VARIABLES) added[name] = input.caCertPath
  added[INFO_VARIABLE] = input.infoPath
  Object.assign(added, input.sourceEnv)
  return { env: { ...env, ...added }, added, removed: removed.sort() }
}
