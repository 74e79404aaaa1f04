/**
 * Serving Azure's names: the ARM + login server on an address of its own, a certificate valid for extra names,
 * and the URLs the emulator advertises (what `azmi-emulator run` uses to be management.azure.com and
 * login.microsoftonline.com inside its namespace).
 */

import { createServer, isIP } from "node:net"
import { connect } from "node:tls"
import { Agent, fetch } from "undici"
import { describe, expect, it } from "vitest"
import { DEFAULT_SUBSCRIPTION_ID, defaultWorld, startEmulator } from "../src/index.js"
import { json } from "./helpers.js"

/** The certificate check a client makes for `servername` when it connects to `url`'s address. */
const handshake = (url: string, ca: string, servername: string): Promise<void> =>
  new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url)
    // An IP address is checked against the certificate's IP names without SNI (RFC 6066 forbids IP SNI).
    const sni = isIP(servername) === 0 ? { servername } : {}
    const socket = connect({ host: hostname, port: Number(port), ca, ...sni }, () => {
      socket.end()
      resolve()
    })
    socket.once("error", reject)
  })

/** A port free right now on 127.0.0.1 (for a server whose advertised URL hides its address). */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

describe("startEmulator: Azure's names", () => {
  it("tlsNames: the ARM certificate is valid for the extra names (and only those)", async () => {
    const plain = await startEmulator()
    const named = await startEmulator({ tlsNames: ["management.azure.com", "login.microsoftonline.com"] })
    try {
      await handshake(named.armUrl, named.caCert, "management.azure.com")
      await handshake(named.armUrl, named.caCert, "login.microsoftonline.com")
      await expect(handshake(named.armUrl, named.caCert, "graph.microsoft.com")).rejects.toThrow(/altnames/)
      await expect(handshake(plain.armUrl, plain.caCert, "management.azure.com")).rejects.toThrow(/altnames/)
    } finally {
      await Promise.all([plain.close(), named.close()])
    }
  })

  it("armHost: ARM and login listen on their own address; IMDS stays on host", async () => {
    const emu = await startEmulator({ armHost: "127.0.0.2" })
    try {
      expect(emu.armUrl).toMatch(/^https:\/\/127\.0\.0\.2:\d+$/)
      expect(emu.imdsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      await handshake(emu.armUrl, emu.caCert, "127.0.0.2")
    } finally {
      await emu.close()
    }
  })

  it("urls: advertised in the emulator's fields, ARM's nextLink and the OIDC discovery documents", async () => {
    const armPort = await freePort()
    const world = defaultWorld()
    const emu = await startEmulator({
      armPort,
      world: {
        ...world,
        resourceGroups: [
          ...world.resourceGroups,
          { subscriptionId: DEFAULT_SUBSCRIPTION_ID, name: "Second", location: "westus" },
        ],
      },
      urls: {
        imds: "http://169.254.169.254",
        arm: "https://management.azure.com",
        login: "https://login.microsoftonline.com",
        control: "http://127.0.0.1",
      },
    })
    try {
      expect(emu.imdsUrl).toBe("http://169.254.169.254")
      expect(emu.armUrl).toBe("https://management.azure.com")
      expect(emu.loginUrl).toBe("https://login.microsoftonline.com")
      expect(emu.controlUrl).toBe("http://127.0.0.1")
      // Reached at the address it listens on (never at the advertised names: this is the machine's own
      // network), it names itself by the advertised URLs.
      const address = `https://127.0.0.1:${armPort}`
      const dispatcher = new Agent({ connect: { ca: emu.caCert } })
      const oidc = await json(
        await fetch(`${address}/${emu.tenantId}/v2.0/.well-known/openid-configuration`, { dispatcher }),
      )
      expect(oidc.token_endpoint).toBe(`https://login.microsoftonline.com/${emu.tenantId}/oauth2/v2.0/token`)
      expect(oidc.issuer).toBe(`https://login.microsoftonline.com/${emu.tenantId}/v2.0`)

      const login = await fetch(`${address}/${emu.admin.tenantId}/oauth2/v2.0/token`, {
        dispatcher,
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_id: emu.admin.clientId,
          client_secret: emu.admin.clientSecret,
          scope: "https://management.azure.com/.default",
        }).toString(),
      })
      const token = (await json(login)).access_token
      const page = await json(
        await fetch(
          `${address}/subscriptions/${emu.subscriptionId}/resourcegroups?api-version=2021-04-01&%24top=1`,
          {
            dispatcher,
            headers: { authorization: `Bearer ${token}` },
          },
        ),
      )
      expect(page.value).toHaveLength(1)
      expect(page.nextLink).toMatch(
        new RegExp(`^https://management\\.azure\\.com/subscriptions/${emu.subscriptionId}/resourcegroups\\?`),
      )
    } finally {
      await emu.close()
    }
  })
})
