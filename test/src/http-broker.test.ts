/**
 * End to end: azmi-http's token broker used, unchanged, by the official SDK
 * (`@azure/identity` ManagedIdentityCredential through IDENTITY_ENDPOINT / IDENTITY_HEADER) and by
 * @azmi/core's App Service source. Many neighbours, one IMDS request.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Azmi, TokenProvider } from "@azmi/core"
import { type Emulator, startEmulator } from "@azmi/emulator"
import { ManagedIdentityCredential } from "@azure/identity"
import { Effect, Redacted } from "effect"
import { decodeJwt } from "jose"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { type HttpChild, startHttp, waitForLine } from "./http-support.js"

const secret = "e2e-identity-header-0123456789"
let emu: Emulator
let http: HttpChild
const saved: Record<string, string | undefined> = {}
const setEnv = (vars: Record<string, string | undefined>) => {
  for (const [k, v] of Object.entries(vars)) {
    if (!(k in saved)) saved[k] = process.env[k]
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
}

beforeAll(async () => {
  emu = await startEmulator({ limits: { imdsRequestsPerSecond: Infinity, imdsConcurrency: Infinity } })
  http = await startHttp(emu, { AZMI_IDENTITY_HEADER: secret })
})

afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
    delete saved[k]
  }
})

afterAll(async () => {
  await http?.stop()
  await emu?.close()
})

describe("azmi-http as an App Service identity endpoint", () => {
  it("@azure/identity ManagedIdentityCredential gets ARM tokens from it; IMDS is asked once", async () => {
    setEnv({
      IDENTITY_ENDPOINT: `${http.url}/msi/token`,
      IDENTITY_HEADER: secret,
      MSI_ENDPOINT: undefined,
      MSI_SECRET: undefined,
      IDENTITY_SERVER_THUMBPRINT: undefined,
      IMDS_ENDPOINT: undefined,
      AZURE_CLIENT_ID: undefined,
    })
    emu.requests.reset()
    // Ten neighbours, each with its own credential (its own SDK cache): all served by one IMDS request.
    const tokens = await Promise.all(
      Array.from({ length: 10 }, () =>
        new ManagedIdentityCredential().getToken("https://management.azure.com/.default"),
      ),
    )
    for (const t of tokens) {
      expect(t.expiresOnTimestamp).toBeGreaterThan(Date.now())
      const claims = decodeJwt(t.token)
      expect(claims.aud).toBe("https://management.azure.com")
      expect(claims.oid).toBe(emu.vm.systemAssigned?.principalId)
    }
    expect(emu.requests.count({ target: "imds-token" })).toBe(1)
  })

  it("a neighbour process with a wrong IDENTITY_HEADER is refused", async () => {
    // MSAL keeps the detected source in process-wide state, so this runs as its own process.
    emu.requests.reset()
    const script = `
      import { ManagedIdentityCredential } from "@azure/identity"
      try {
        await new ManagedIdentityCredential().getToken("https://management.azure.com/.default")
        console.log("TOKEN")
      } catch (e) { console.log("REFUSED " + e.name) }`
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ["--input-type=module", "-e", script],
        {
          cwd: fileURLToPath(new URL(".", import.meta.url)),
          env: {
            PATH: process.env.PATH ?? "",
            IDENTITY_ENDPOINT: `${http.url}/msi/token`,
            IDENTITY_HEADER: "not-the-right-secret-at-all",
          },
          timeout: 30_000,
        },
        (error, stdout) => (error ? reject(error) : resolve(stdout)),
      )
    })
    expect(out).toMatch(/^REFUSED/)
    // …because azmi-http answered 401, not for some other reason.
    await waitForLine(http, (l) => l.includes('"route":"/msi/token"') && l.includes('"status":401'))
    expect(emu.requests.count({ target: "imds-token" })).toBe(0)
  })

  it("@azmi/core's App Service source gets tokens from it", async () => {
    setEnv({
      IDENTITY_ENDPOINT: `${http.url}/msi/token`,
      IDENTITY_HEADER: secret,
      AZMI_IMDS_ENDPOINT: undefined,
      AZURE_POD_IDENTITY_AUTHORITY_HOST: undefined,
      AZURE_CLIENT_ID: undefined,
      AZURE_TENANT_ID: undefined,
      AZURE_CLIENT_SECRET: undefined,
    })
    emu.requests.reset()
    // Two independent processes' worth of core (separate caches): the broker's cache serves both.
    const getOnce = () =>
      Effect.runPromise(
        Effect.flatMap(TokenProvider, (tp) => tp.getToken("https://management.azure.com/")).pipe(
          Effect.provide(Azmi.layer({ credential: "managed-identity" })),
        ),
      )
    const first = await getOnce()
    const second = await getOnce()
    for (const token of [first, second]) {
      expect(token.resource).toBe("https://management.azure.com/")
      expect(token.expiresOn).toBeGreaterThan(Date.now())
      expect(decodeJwt(Redacted.value(token.token)).oid).toBe(emu.vm.systemAssigned?.principalId)
    }
    expect(emu.requests.count({ target: "imds-token" })).toBe(1)
  })

  it("a named identity is always a managed identity, even when azmi-http itself runs as a service principal", async () => {
    const sp = await startHttp(emu, {
      AZMI_IDENTITY_HEADER: secret,
      AZURE_TENANT_ID: emu.admin.tenantId,
      AZURE_CLIENT_ID: emu.admin.clientId,
      AZURE_CLIENT_SECRET: emu.admin.clientSecret,
      AZURE_AUTHORITY_HOST: emu.loginUrl,
    })
    try {
      emu.requests.reset()
      const clientId = emu.vm.systemAssigned?.clientId ?? ""
      const res = await fetch(
        `${sp.url}/msi/token?resource=${encodeURIComponent("https://management.azure.com/")}&api-version=2019-08-01&client_id=${clientId}`,
        { headers: { "X-IDENTITY-HEADER": secret } },
      )
      const body = (await res.json()) as { access_token?: string }
      // Asked of IMDS with that client_id — never answered with the service principal's own token.
      expect(emu.requests.count({ target: "imds-token" })).toBe(1)
      expect(emu.requests.list().some((r) => r.target === "imds-token" && r.query.includes(clientId))).toBe(
        true,
      )
      if (body.access_token !== undefined)
        expect(decodeJwt(body.access_token).oid).not.toBe(emu.admin.objectId)
    } finally {
      await sp.stop()
    }
  })
})
