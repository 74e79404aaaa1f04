/**
 * Where a host's own pieces go, for callers that place the emulator somewhere else than this machine's loopback
 * (`azmi-emulator run`, inside a network namespace): the host's endpoint on a given address and port, the
 * projected token in a given file, and the host's own variables apart from the ones for reaching the emulator.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fetch } from "undici"
import { afterAll, describe, expect, it } from "vitest"
import { startEmulator } from "../src/index.js"
import { ARM_RESOURCE, json } from "./helpers.js"

/** A port free right now on `host`. */
const freePort = (host: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

describe("startEmulator: the host's placement", () => {
  it("hostEndpoint: the host's endpoint listens on that address and port, and its variable names them", async () => {
    const port = await freePort("127.0.0.2")
    const emu = await startEmulator({ source: "app-service", hostEndpoint: { host: "127.0.0.2", port } })
    try {
      expect(emu.env.IDENTITY_ENDPOINT).toBe(`http://127.0.0.2:${port}/msi/token`)
      // IMDS and ARM stay where they were.
      expect(emu.imdsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      const res = await fetch(
        `${emu.env.IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=${encodeURIComponent(ARM_RESOURCE)}`,
        { headers: { "X-IDENTITY-HEADER": emu.env.IDENTITY_HEADER ?? "" } },
      )
      expect(res.status).toBe(200)
      expect(await json(res)).toMatchObject({ client_id: emu.host.clientId })
    } finally {
      await emu.close()
    }
  })

  it("hostEnv: the host's own variables alone (env less the CA, AZMI_* and the pod-identity IMDS host)", async () => {
    const ml = await startEmulator({ source: "azure-ml" })
    const vm = await startEmulator()
    try {
      expect(Object.keys(ml.hostEnv).sort()).toEqual([
        "DEFAULT_IDENTITY_CLIENT_ID",
        "MSI_ENDPOINT",
        "MSI_SECRET",
      ])
      for (const [name, value] of Object.entries(ml.hostEnv)) expect(ml.env[name]).toBe(value)
      expect(ml.env).toHaveProperty("AZURE_POD_IDENTITY_AUTHORITY_HOST")
      expect(ml.env).toHaveProperty("AZMI_IMDS_ENDPOINT")
      expect(vm.hostEnv).toEqual({})
    } finally {
      await Promise.all([ml.close(), vm.close()])
    }
  })

  describe("federatedTokenFile", () => {
    const dir = mkdtempSync(join(tmpdir(), "azmi-wi-file-test-"))
    afterAll(() => rmSync(dir, { recursive: true, force: true }))

    it("workload identity keeps the projected token there (and removes only that file on close)", async () => {
      const file = join(dir, "azure-identity-token")
      const emu = await startEmulator({ source: "workload-identity", federatedTokenFile: file })
      try {
        expect(emu.env.AZURE_FEDERATED_TOKEN_FILE).toBe(file)
        expect(emu.hostEnv.AZURE_FEDERATED_TOKEN_FILE).toBe(file)
        expect(readFileSync(file, "utf8").split(".")).toHaveLength(3)
      } finally {
        await emu.close()
      }
      expect(existsSync(file)).toBe(false)
      expect(existsSync(dir)).toBe(true)
    })
  })
})
