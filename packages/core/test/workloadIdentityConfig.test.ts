/**
 * The configuration chooses workload identity from the webhook's variables (first, as @azure/identity
 * does), validated by the workload-identity module, and keys its tokens by the token file.
 */
import { ConfigProvider, Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import { AzmiConfig, type ConfigOptions } from "../src/Config.js"

const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
const CLIENT = "a6e35b7f-9c0e-4f1a-8b3c-4d5e6f7a8b3e"
const webhook = {
  AZURE_FEDERATED_TOKEN_FILE: "/var/run/secrets/azure/wi/token/azure-identity-token",
  AZURE_TENANT_ID: TENANT,
  AZURE_CLIENT_ID: CLIENT,
  AZURE_AUTHORITY_HOST: "https://login.microsoftonline.com/",
  // AKS nodes have an IMDS too (the emulator's env names it): it must not win over the webhook's variables.
  AZMI_IMDS_ENDPOINT: "http://127.0.0.1:40000",
}

const resolve = (env: Record<string, string>, options: ConfigOptions = {}) =>
  Effect.runSync(
    Effect.either(AzmiConfig.make(options)).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
    ),
  )

describe("workload identity in the configuration", () => {
  it("file + tenant + client id: the workload-identity source, normalised; the managed-identity credential", () => {
    const config = resolve(webhook)
    expect(config).toMatchObject({
      right: {
        credential: "managed-identity",
        source: {
          _tag: "WorkloadIdentity",
          tokenFile: webhook.AZURE_FEDERATED_TOKEN_FILE,
          tenantId: TENANT,
          clientId: CLIENT,
          authorityHost: "https://login.microsoftonline.com",
        },
      },
    })
  })

  it("without a client id, a tenant or the file it is not workload identity; an explicit endpoint option wins", () => {
    const { AZURE_CLIENT_ID: _c, ...noClient } = webhook
    const { AZURE_TENANT_ID: _t, ...noTenant } = webhook
    const { AZURE_FEDERATED_TOKEN_FILE: _f, ...noFile } = webhook
    for (const env of [noClient, noTenant, noFile]) {
      expect(Either.getOrThrow(resolve(env)).source._tag).toBe("Imds")
    }
    expect(Either.getOrThrow(resolve(webhook, { imdsEndpoint: "http://127.0.0.1:1" })).source._tag).toBe(
      "Imds",
    )
  })

  it("an http AZURE_AUTHORITY_HOST is refused, even on loopback", () => {
    expect(resolve({ ...webhook, AZURE_AUTHORITY_HOST: "http://127.0.0.1:8443" })).toMatchObject({
      left: { _tag: "InvalidConfiguration", variable: "AZURE_AUTHORITY_HOST" },
    })
  })

  it("the token-cache key names the authority, tenant, client and token file (another pod's file: another key)", () => {
    const key = Either.getOrThrow(resolve(webhook)).identityKey
    expect(JSON.parse(key)).toEqual([
      "managed-identity",
      "workload identity",
      "https://login.microsoftonline.com",
      TENANT,
      CLIENT,
      webhook.AZURE_FEDERATED_TOKEN_FILE,
    ])
    const other = Either.getOrThrow(
      resolve({ ...webhook, AZURE_FEDERATED_TOKEN_FILE: "/other/token" }),
    ).identityKey
    expect(other).not.toBe(key)
  })
})
