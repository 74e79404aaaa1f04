import { X509Certificate } from "node:crypto"
import { existsSync, readFileSync } from "node:fs"
import { Agent, fetch } from "undici"
import { describe, expect, it } from "vitest"
import {
  DEFAULT_ADMIN_CLIENT_ID,
  DEFAULT_ADMIN_OBJECT_ID,
  DEFAULT_SUBSCRIPTION_ID,
  DEFAULT_TENANT_ID,
  DEFAULT_VM_CLIENT_ID,
  DEFAULT_VM_PRINCIPAL_ID,
  InvalidStartOptions,
  startEmulator,
  startFailure,
} from "../src/index.js"
import { json } from "./helpers.js"

describe("startEmulator", () => {
  it("serves ARM over HTTPS with a CA written to a file; the file is removed on close; close is idempotent", async () => {
    const emu = await startEmulator()
    try {
      expect(emu.armUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
      expect(emu.loginUrl).toBe(emu.armUrl)
      expect(emu.imdsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(emu.controlUrl).toBe(emu.imdsUrl)
      expect(readFileSync(emu.caCertPath, "utf8")).toBe(emu.caCert)
      const ca = new X509Certificate(emu.caCert)
      expect(ca.ca).toBe(true)

      const trusted = await fetch(`${emu.loginUrl}/common/discovery/keys`, {
        dispatcher: new Agent({ connect: { ca: emu.caCert } }),
      })
      expect(trusted.status).toBe(200)
      const viaLocalhost = await fetch(
        `${emu.loginUrl.replace("127.0.0.1", "localhost")}/common/discovery/keys`,
        {
          dispatcher: new Agent({ connect: { ca: emu.caCert } }),
        },
      )
      expect(viaLocalhost.status).toBe(200)
      // Without the CA the certificate is not trusted.
      await expect(fetch(`${emu.loginUrl}/common/discovery/keys`)).rejects.toThrow()
    } finally {
      await emu.close()
      await emu.close()
    }
    expect(existsSync(emu.caCertPath)).toBe(false)
    await expect(
      fetch(`${emu.imdsUrl}/metadata/versions`, { headers: { Metadata: "true" } }),
    ).rejects.toThrow()
  })

  it("armTls: false serves ARM and login over plain HTTP", async () => {
    const emu = await startEmulator({ armTls: false })
    try {
      expect(emu.armUrl).toMatch(/^http:\/\//)
      expect(emu.caCertPath).toBe("")
      const res = await fetch(`${emu.loginUrl}/${emu.tenantId}/v2.0/.well-known/openid-configuration`)
      expect(res.status).toBe(200)
      expect((await json(res)).token_endpoint.startsWith("http://")).toBe(true)
    } finally {
      await emu.close()
    }
  })

  it("describes the default world: tenant, subscription, VM and admin", async () => {
    const emu = await startEmulator({ armTls: false })
    try {
      expect(emu.tenantId).toBe(DEFAULT_TENANT_ID)
      expect(emu.subscriptionId).toBe(DEFAULT_SUBSCRIPTION_ID)
      expect(emu.vm).toEqual({
        name: "myVM",
        resourceGroup: "DevTest",
        resourceId: `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourceGroups/DevTest/providers/Microsoft.Compute/virtualMachines/myVM`,
        systemAssigned: { principalId: DEFAULT_VM_PRINCIPAL_ID, clientId: DEFAULT_VM_CLIENT_ID },
        userAssigned: [],
      })
      expect(emu.admin).toMatchObject({
        tenantId: DEFAULT_TENANT_ID,
        clientId: DEFAULT_ADMIN_CLIENT_ID,
        objectId: DEFAULT_ADMIN_OBJECT_ID,
      })
      expect(emu.admin.clientSecret.length).toBeGreaterThan(0)
    } finally {
      await emu.close()
    }
  })

  it("closes even with a request in flight", async () => {
    const emu = await startEmulator({ armTls: false })
    emu.faults.inject({ target: "imds-token", latencyMs: 60_000 })
    const pending = fetch(
      `${emu.imdsUrl}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/`,
      { headers: { Metadata: "true" } },
    ).catch((e: unknown) => e)
    await new Promise((r) => setTimeout(r, 50))
    await emu.close()
    expect(await pending).toBeInstanceOf(Error)
  })

  it("rejects an invalid world object with an error naming the field", async () => {
    await expect(startEmulator({ armTls: false, world: { tenants: "nope" } as never })).rejects.toThrow(
      /tenants/,
    )
  })

  it("refuses an empty host and ports out of range before starting anything, naming the option", async () => {
    for (const [options, says] of [
      [{ host: "" }, "host: must not be empty"],
      [{ host: "  " }, "host: must not be empty"],
      [{ imdsPort: 65536 }, "imdsPort: must be a port number 0..65535 (got 65536)"],
      [{ armPort: -1 }, "armPort: must be a port number 0..65535 (got -1)"],
      [{ armPort: 80.5 }, "armPort: must be a port number 0..65535 (got 80.5)"],
    ] as const) {
      const error = await startEmulator(options).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(InvalidStartOptions)
      expect((error as Error).message).toContain(says)
      expect(startFailure(error).exitCode).toBe(2)
    }
  })

  it("records ARM and login requests in the log", async () => {
    const emu = await startEmulator({ armTls: false })
    try {
      await fetch(`${emu.loginUrl}/common/discovery/keys`)
      await fetch(
        `${emu.armUrl}/subscriptions/${emu.subscriptionId}/resourcegroups/DevTest?api-version=2025-04-01`,
      )
      expect(emu.requests.count({ target: "login" })).toBe(1)
      expect(emu.requests.list().find((r) => r.target === "arm")?.status).toBe(401)
    } finally {
      await emu.close()
    }
  })

  it("applies ARM faults (503 then normal)", async () => {
    const emu = await startEmulator({ armTls: false })
    try {
      emu.faults.inject({ target: "arm", status: 503, retryAfter: 2 })
      const url = `${emu.armUrl}/subscriptions/${emu.subscriptionId}/resourcegroups/DevTest?api-version=2025-04-01`
      const faulted = await fetch(url)
      expect(faulted.status).toBe(503)
      expect(faulted.headers.get("retry-after")).toBe("2")
      expect((await fetch(url)).status).toBe(401)
    } finally {
      await emu.close()
    }
  })
})
