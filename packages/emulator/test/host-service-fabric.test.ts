import { createHash, X509Certificate } from "node:crypto"
import { connect } from "node:tls"
import { fetch } from "undici"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ARM_RESOURCE, json, jwtPayload, start, type TestEmulator } from "./helpers.js"

let t: TestEmulator
let endpoint: string
let secret: string
beforeAll(async () => {
  // Plain-HTTP ARM: Service Fabric's HTTPS still comes from the emulator's CA.
  t = await start({ source: "service-fabric", armTls: false })
  endpoint = t.emu.env.IDENTITY_ENDPOINT ?? ""
  secret = t.emu.env.IDENTITY_HEADER ?? ""
})
afterAll(() => t.close())

const q = (extra = "") =>
  `${endpoint}?api-version=2019-07-01-preview&resource=${encodeURIComponent(ARM_RESOURCE)}${extra}`
const get = (url: string, headers: Record<string, string> = { secret }) =>
  fetch(url, { headers, dispatcher: t.dispatcher })

const peerThumbprint = (url: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const u = new URL(url)
    const socket = connect({ host: u.hostname, port: Number(u.port), ca: t.emu.caCert }, () => {
      const der = socket.getPeerCertificate().raw
      socket.end()
      resolve(createHash("sha1").update(der).digest("hex").toUpperCase())
    })
    socket.on("error", reject)
  })

describe("Service Fabric host (--source service-fabric)", () => {
  it("serves HTTPS whose certificate is issued by the emulator's CA and has the thumbprint in IDENTITY_SERVER_THUMBPRINT", async () => {
    expect(endpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/metadata\/identity\/oauth2\/token$/)
    expect(t.emu.env.IDENTITY_SERVER_THUMBPRINT).toMatch(/^[0-9A-F]{40}$/)
    expect(await peerThumbprint(endpoint)).toBe(t.emu.env.IDENTITY_SERVER_THUMBPRINT)
    expect(t.emu.env.NODE_EXTRA_CA_CERTS).toBe(t.emu.caCertPath)
    expect(new X509Certificate(t.emu.caCert).subject).toContain("azmi emulator CA")
    // The nodes are VMs: the line also points at IMDS.
    expect(t.emu.env.AZURE_POD_IDENTITY_AUTHORITY_HOST).toBe(t.emu.imdsUrl)
  })

  it("answers token_type, access_token, integer expires_on and resource for the `secret` header", async () => {
    const res = await get(q())
    expect(res.status).toBe(200)
    const body = await json(res)
    expect(Object.keys(body).sort()).toEqual(["access_token", "expires_on", "resource", "token_type"])
    expect(Number.isInteger(body.expires_on)).toBe(true)
    expect(jwtPayload(body.access_token).oid).toBe(t.emu.host.principalId)
  })

  it("errors are SF's nested body: no secret → SecretHeaderNotFound, wrong api-version, missing resource", async () => {
    const missing = await get(q(), {})
    expect(missing.status).toBe(401)
    const body = await json(missing)
    expect(body.error).toMatchObject({
      code: "SecretHeaderNotFound",
      message: "Secret is not found in the request headers.",
    })
    expect(typeof body.error.correlationId).toBe("string")
    expect((await json(await get(q(), { secret: "nope" }))).error.code).toBe("SecretHeaderInvalid")
    const version = await get(`${endpoint}?api-version=2019-08-01&resource=${ARM_RESOURCE}`)
    expect(version.status).toBe(400)
    expect((await json(version)).error.code).toBe("InvalidApiVersion")
    const noResource = await get(`${endpoint}?api-version=2019-07-01-preview`)
    expect((await json(noResource)).error.code).toBe("ArgumentNullOrEmpty")
  })

  it("token_sha256_to_refresh naming the last token issued gets a new one; any other hash gets the cached one", async () => {
    const first = (await json(await get(q()))).access_token as string
    expect((await json(await get(q()))).access_token).toBe(first)
    const other = createHash("sha256").update("not our token").digest("hex")
    expect((await json(await get(q(`&token_sha256_to_refresh=${other}`)))).access_token).toBe(first)
    const hash = createHash("sha256").update(first).digest("hex")
    const renewed = (await json(await get(q(`&token_sha256_to_refresh=${hash}&xms_cc=cp1%2Ccp2`))))
      .access_token
    expect(renewed).not.toBe(first)
    expect((await json(await get(q()))).access_token).toBe(renewed)
  })

  it("client_id (MSAL Node still sends it) is tolerated and serves the application's identity", async () => {
    const res = await get(q("&client_id=00000000-0000-4000-8000-000000000000"))
    expect(res.status).toBe(200)
    expect(jwtPayload((await json(res)).access_token).oid).toBe(t.emu.host.principalId)
  })

  it("the fault API uses SF's error shape and the request log records it (target service-fabric-token)", async () => {
    t.emu.requests.reset()
    t.emu.faults.inject({ target: "service-fabric-token", status: 503 })
    const res = await get(q())
    expect(res.status).toBe(503)
    expect((await json(res)).error.code).toBe("ServiceUnavailable")
    expect(t.emu.requests.count({ target: "service-fabric-token" })).toBe(1)
  })
})
