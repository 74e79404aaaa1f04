/**
 * The real services behind `azmi`: `Azmi.layer` from the core, and with `--cache` / `AZMI_TOKEN_CACHE=1`
 * the core's file token cache in front of its token provider. Loaded lazily by `main.ts`.
 * @module
 */
import { Azmi, describeSelector, FileTokenCache } from "@azmi/core"
import { Layer } from "effect"

type Env = Readonly<Record<string, string | undefined>>

const set = (v: string | undefined): v is string => v !== undefined && v !== ""

/** Which credential and endpoint tokens come from, as the cache key names them (mirrors the core's choice). */
export const cacheKeyParts = (
  options: Azmi.AzmiOptions,
  env: Env,
): { endpoint: string; identity: string } => {
  const servicePrincipal =
    options.credential === "client-secret" ||
    (options.credential !== "managed-identity" &&
      set(env.AZURE_TENANT_ID) &&
      set(env.AZURE_CLIENT_ID) &&
      set(env.AZURE_CLIENT_SECRET))
  if (servicePrincipal) {
    return {
      endpoint: env.AZURE_AUTHORITY_HOST ?? "https://login.microsoftonline.com",
      identity: `service-principal ${env.AZURE_TENANT_ID ?? ""}/${env.AZURE_CLIENT_ID ?? ""}`,
    }
  }
  return {
    endpoint:
      options.imdsEndpoint ??
      env.AZMI_IMDS_ENDPOINT ??
      env.AZURE_POD_IDENTITY_AUTHORITY_HOST ??
      "http://169.254.169.254",
    identity:
      options.identity !== undefined
        ? describeSelector(options.identity)
        : set(env.AZURE_CLIENT_ID)
          ? `client_id=${env.AZURE_CLIENT_ID}`
          : "system-assigned",
  }
}

export const makeLiveLayer = (options: Azmi.AzmiOptions, extras: { readonly cache: boolean }) => {
  const base = Azmi.layer(options)
  if (!extras.cache) return base
  return Layer.provideMerge(FileTokenCache.layer(cacheKeyParts(options, process.env)), base)
}
