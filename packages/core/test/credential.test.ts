import { type Emulator, startEmulator } from "@azmi/emulator"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { AzmiCredentialError, createManagedIdentityCredential } from "../src/Credential.js"

let emu: Emulator
beforeAll(async () => {
  emu = await startEmulator({
    armTls: false,
    limits: { imdsRequestsPerSecond: Number.POSITIVE_INFINITY, imdsConcurrency: Number.POSITIVE_INFINITY },
  })
})
afterAll(async () => {
  await emu?.close()
})

describe("createManagedIdentityCredential (Promise facade)", () => {
  it("implements TokenCredential.getToken for a scope; 1000 concurrent cold calls → 1 IMDS request", async () => {
    emu.requests.reset()
    const credential = createManagedIdentityCredential({ imdsEndpoint: emu.imdsUrl })
    try {
      const all = await Promise.all(
        Array.from({ length: 1000 }, () => credential.getToken("https://management.azure.com/.default")),
      )
      expect(emu.requests.count({ target: "imds-token" })).toBe(1)
      const t = all[0]!
      expect(t.tokenType).toBe("Bearer")
      expect(t.token.split(".")).toHaveLength(3)
      expect(t.expiresOnTimestamp).toBeGreaterThan(Date.now())
      expect(t.refreshAfterTimestamp).toBeLessThan(t.expiresOnTimestamp)
      expect(t.refreshAfterTimestamp).toBeGreaterThan(Date.now())
      const again = await credential.getToken(["https://management.azure.com/.default"])
      expect(again.token).toBe(t.token)
      expect(emu.requests.count({ target: "imds-token" })).toBe(1)
      // The emulator saw the resource without /.default.
      const rec = emu.requests.list().find((r) => r.target === "imds-token")
      expect(JSON.stringify(rec)).toContain("management.azure.com")
    } finally {
      await credential.close()
    }
  })

  it("rejects with the typed error's message, CredentialUnavailableError when nothing listens", async () => {
    const credential = createManagedIdentityCredential({ imdsEndpoint: "http://127.0.0.1:9" })
    try {
      const error = await credential
        .getToken("https://management.azure.com/.default")
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(AzmiCredentialError)
      expect(error).toMatchObject({ name: "CredentialUnavailableError", code: "ImdsUnavailable" })
      expect((error as Error).message).toContain("No managed identity endpoint at")
    } finally {
      await credential.close()
    }
  })

  it("rejects invalid configuration, several scopes and use after close", async () => {
    const bad = createManagedIdentityCredential({ imdsEndpoint: "http://10.1.2.3" })
    await expect(bad.getToken("https://management.azure.com/.default")).rejects.toMatchObject({
      code: "InvalidConfiguration",
    })
    await bad.close()
    const credential = createManagedIdentityCredential({ imdsEndpoint: emu.imdsUrl })
    await expect(credential.getToken(["a/.default", "b/.default"])).rejects.toThrow(/exactly one scope/)
    await expect(credential.getToken("not a resource")).rejects.toMatchObject({ code: "InvalidInput" })
    await credential.close()
    await expect(credential.getToken("https://management.azure.com/.default")).rejects.toThrow(/closed/)
  })

  it("an error message never contains the token", async () => {
    const credential = createManagedIdentityCredential({ imdsEndpoint: emu.imdsUrl })
    try {
      const t = await credential.getToken("https://management.azure.com/.default")
      emu.faults.inject({
        target: "imds-token",
        status: 400,
        body: JSON.stringify({ error: "invalid_request", error_description: "nope" }),
      })
      const error = (await credential
        .getToken("https://vault.azure.net/.default")
        .catch((e: unknown) => e)) as Error
      expect(error.message).toContain("400")
      expect(error.message).not.toContain(t.token)
      expect(JSON.stringify(error)).not.toContain(t.token)
    } finally {
      emu.faults.clear()
      await credential.close()
    }
  })
})

describe("createManagedIdentityCredential abort", () => {
  it("an aborted signal rejects getToken without a token request", async () => {
    emu.requests.reset()
    const credential = createManagedIdentityCredential({ imdsEndpoint: emu.imdsUrl })
    try {
      const controller = new AbortController()
      controller.abort()
      await expect(
        credential.getToken("https://storage.azure.com/.default", { abortSignal: controller.signal }),
      ).rejects.toThrow(/aborted/)
      expect(emu.requests.count({ target: "imds-token" })).toBe(0)
    } finally {
      await credential.close()
    }
  })
})
