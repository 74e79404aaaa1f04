/**
 * Resources (App ID URIs) the emulated tenant knows, and the audiences ARM accepts.
 */

/** The four audiences ARM accepts, verbatim (order as in ARM's error message). */
export const ARM_AUDIENCES: ReadonlyArray<string> = [
  "https://management.core.windows.net/",
  "https://management.core.windows.net",
  "https://management.azure.com/",
  "https://management.azure.com",
]

/** Well-known first-party resources; each accepted with or without a trailing slash. */
const WELL_KNOWN_RESOURCES: ReadonlyArray<string> = [
  "https://management.azure.com",
  "https://management.core.windows.net",
  "https://graph.microsoft.com",
  "https://graph.windows.net",
  "https://vault.azure.net",
  "https://storage.azure.com",
  "https://database.windows.net",
  "https://ossrdbms-aad.database.windows.net",
  "https://servicebus.azure.net",
  "https://eventhubs.azure.net",
  "https://cognitiveservices.azure.com",
  "https://monitor.azure.com",
  "https://api.loganalytics.io",
  "https://app.azconfig.io",
  "https://cosmos.azure.com",
  "https://redis.azure.com",
  "https://ai.azure.com",
  "https://search.azure.com",
]

const known = new Set(WELL_KNOWN_RESOURCES.map((r) => r.toLowerCase()))

/** True when Entra (emulated) would issue a token for this resource string. */
export const isKnownResource = (resource: string): boolean => {
  const r = resource.toLowerCase()
  return known.has(r.endsWith("/") ? r.slice(0, -1) : r)
}

export const isArmAudience = (aud: unknown): aud is string =>
  typeof aud === "string" && ARM_AUDIENCES.includes(aud)

/** Entra's text for an unknown resource (AADSTS500011). */
export const unknownResourceMessage = (resource: string, tenantId: string): string =>
  `AADSTS500011: The resource principal named ${resource} was not found in the tenant named ${tenantId}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`
