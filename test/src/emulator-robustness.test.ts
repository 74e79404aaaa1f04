/**
 * The emulator under garbage: bad JSON bodies, huge headers, wrong methods, missing / malformed / forged /
 * wrong-audience tokens, bad client secrets, raw non-HTTP bytes and non-TLS bytes on the TLS port. Each gets
 * the error a real Azure endpoint sends (status, error code, `WWW-Authenticate`, `Allow`), and the emulator
 * keeps serving normal requests afterwards.
 */
import { connect } from "node:net"
import { type Emulator, startEmulator } from "@azmi/emulator"
import { Agent, fetch } from "undici"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

let emu: Emulator
let tlsEmu: Emulator
let agent: Agent
beforeAll(async () => {
  emu = await startEmulator({ armTls: false })
  tlsEmu = await startEmulator()
  agent = new Agent({ connect: { ca: tlsEmu.caCert } })
})
afterAll(async () => {
  await agent?.close()
  await Promise.all([emu?.close(), tlsEmu?.close()])
})

const tokenUrl = (resource = "https://management.azure.com/") =>
  `${emu.imdsUrl}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(resource)}`
const groupUrl = () =>
  `${emu.armUrl}/subscriptions/${emu.subscriptionId}/resourcegroups/DevTest?api-version=2025-04-01`

const call = async (url: string, init: Parameters<typeof fetch>[1] = {}) => {
  const res = await fetch(url, init)
  const text = await res.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, text, json: json as Record<string, unknown> | undefined }
}

const vmToken = async (resource?: string) => {
  const r = await call(tokenUrl(resource), { headers: { metadata: "true" } })
  return (r.json as { access_token: string }).access_token
}

const adminToken = async () => {
  const r = await call(`${emu.loginUrl}/${emu.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      client_id: emu.admin.clientId,
      client_secret: emu.admin.clientSecret,
      grant_type: "client_credentials",
      scope: "https://management.azure.com/.default",
    }).toString(),
  })
  return (r.json as { access_token: string }).access_token
}

const armCode = (r: { json: Record<string, unknown> | undefined }) =>
  (r.json?.error as { code?: string } | undefined)?.code

/** A raw request over a socket (for what fetch refuses to send); resolves with the status line or "closed". */
const raw = (port: number, bytes: string): Promise<string> =>
  new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1")
    let received = ""
    socket.setEncoding("latin1")
    socket.on("data", (d: string) => {
      received += d
    })
    socket.on("error", () => resolve(received.split("\r\n")[0] || "closed"))
    socket.on("close", () => resolve(received.split("\r\n")[0] || "closed"))
    socket.write(bytes, () => socket.end())
  })

const portOf = (url: string) => Number(new URL(url).port)

const stillServing = async () => {
  const token = await vmToken()
  expect(token.split(".")).toHaveLength(3)
  const admin = await adminToken()
  expect((await call(groupUrl(), { headers: { authorization: `Bearer ${admin}` } })).status).toBe(200)
  const tls = await fetch(`${tlsEmu.armUrl}/subscriptions/${tlsEmu.subscriptionId}?api-version=2022-12-01`, {
    dispatcher: agent,
  })
  await tls.arrayBuffer()
  expect(tls.status).toBe(401)
}

describe("emulator robustness", () => {
  it("IMDS: missing Metadata header, wrong methods, bad api-version, X-Forwarded-For → IMDS's own errors", async () => {
    const noHeader = await call(tokenUrl())
    expect(noHeader.status).toBe(400)
    expect(noHeader.json?.error_description).toBe("Required metadata header not specified")
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const r = await call(tokenUrl(), { method, headers: { metadata: "true" }, body: "{not json" })
      expect(r.status).toBe(405)
      expect(r.json?.error).toBe("method_not_allowed")
      expect(r.headers.get("allow")).toBe("GET")
    }
    const badVersion = await call(tokenUrl().replace("2018-02-01", "not-a-version"), {
      headers: { metadata: "true" },
    })
    expect(badVersion.status).toBe(400)
    const forwarded = await call(tokenUrl(), { headers: { metadata: "true", "x-forwarded-for": "10.0.0.1" } })
    expect(forwarded.status).toBe(400)
    const metadataWrongCase = await call(tokenUrl(), { headers: { metadata: "True" } })
    expect(metadataWrongCase.status).toBe(400)
    await stillServing()
  })

  it("ARM: missing, malformed, garbage, tampered and wrong-audience tokens → 401 with ARM's code and WWW-Authenticate", async () => {
    const good = await vmToken()
    const [h, p, s] = good.split(".") as [string, string, string]
    const vault = await vmToken("https://vault.azure.net")
    const variants: Array<[Record<string, string>, string]> = [
      [{}, "AuthenticationFailed"],
      [{ authorization: "Basic dXNlcjpwYXNz" }, "AuthenticationFailed"],
      [{ authorization: "Bearer" }, "AuthenticationFailed"],
      [{ authorization: "Bearer garbage" }, "InvalidAuthenticationToken"],
      [{ authorization: `Bearer ${h}.${p}.${s.slice(0, -4)}AAAA` }, "InvalidAuthenticationToken"],
      [
        { authorization: `Bearer ${h}.${Buffer.from('{"aud":"x"}').toString("base64url")}.${s}` },
        "InvalidAuthenticationToken",
      ],
      [{ authorization: `Bearer ${"A".repeat(8000)}` }, "InvalidAuthenticationToken"],
      [{ authorization: `Bearer ${vault}` }, "InvalidAuthenticationTokenAudience"],
    ]
    for (const [headers, code] of variants) {
      const r = await call(groupUrl(), { headers })
      expect(r.status, JSON.stringify(headers).slice(0, 60)).toBe(401)
      expect(armCode(r)).toBe(code)
      expect(r.headers.get("www-authenticate")).toMatch(
        /^Bearer authorization_uri="https:\/\/login\.windows\.net\//,
      )
      // The token presented is never echoed back.
      if (headers.authorization !== undefined && headers.authorization.length > 20)
        expect(r.text).not.toContain(headers.authorization.slice(7))
    }
    await stillServing()
  })

  it("ARM: bad JSON bodies, wrong methods, missing api-version → ARM's 400/405 codes", async () => {
    const admin = await adminToken()
    const auth = { authorization: `Bearer ${admin}`, "content-type": "application/json" }
    const put = `${emu.armUrl}/subscriptions/${emu.subscriptionId}/resourcegroups/Robust?api-version=2025-04-01`
    for (const body of [
      "{nope",
      "",
      "null",
      "[]",
      '{"location": 5}',
      "\u0000\u0001",
      '{"location":"westus"'.repeat(100),
    ]) {
      const r = await call(put, { method: "PUT", headers: auth, body })
      expect(r.status, body.slice(0, 20)).toBe(400)
      expect(typeof armCode(r)).toBe("string")
    }
    const post = await call(groupUrl(), { method: "POST", headers: auth })
    expect(post.status).toBe(405)
    expect(armCode(post)).toBe("HttpMethodNotSupported")
    expect(post.headers.get("allow")).toContain("GET")
    const noVersion = await call(groupUrl().replace(/\?.*$/, ""), { headers: auth })
    expect(noVersion.status).toBe(400)
    expect(armCode(noVersion)).toBe("MissingApiVersionParameter")
    await stillServing()
  })

  it("login: wrong secret, unknown client, garbage bodies → Entra's errors", async () => {
    const url = `${emu.loginUrl}/${emu.tenantId}/oauth2/v2.0/token`
    const form = (fields: Record<string, string>) => ({
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields).toString(),
    })
    const base = {
      client_id: emu.admin.clientId,
      grant_type: "client_credentials",
      scope: "https://management.azure.com/.default",
    }
    const wrong = await call(url, form({ ...base, client_secret: "not-the-secret" }))
    expect(wrong.status).toBe(401)
    expect(wrong.json?.error).toBe("invalid_client")
    expect(wrong.text).not.toContain(emu.admin.clientSecret)
    const unknown = await call(
      url,
      form({ ...base, client_id: "00000000-0000-0000-0000-000000000001", client_secret: "x" }),
    )
    expect([400, 401]).toContain(unknown.status)
    for (const body of ["{]", "\u0000", "grant_type", "a=".repeat(5000)]) {
      const r = await call(url, { method: "POST", headers: { "content-type": "application/json" }, body })
      expect(r.status).toBeGreaterThanOrEqual(400)
      expect(r.status).toBeLessThan(500)
      expect(typeof r.json?.error).toBe("string")
    }
    await stillServing()
  })

  it("huge headers get 431, raw garbage gets 400 or a closed socket, non-TLS bytes on the TLS port are dropped", async () => {
    const bigHeader = `GET /metadata/versions HTTP/1.1\r\nHost: x\r\nMetadata: true\r\nX-Big: ${"a".repeat(100_000)}\r\n\r\n`
    expect(await raw(portOf(emu.imdsUrl), bigHeader)).toMatch(/^HTTP\/1\.1 431|^closed$/)
    expect(await raw(portOf(emu.armUrl), bigHeader)).toMatch(/^HTTP\/1\.1 431|^closed$/)
    for (const garbage of [
      "GARBAGE\r\n\r\n",
      "GET / HTTP/9.9\r\n\r\n",
      "\u0000\u0001\u0002\r\n\r\n",
      "GET /\u0000 HTTP/1.1\r\n\r\n",
    ]) {
      expect(await raw(portOf(emu.imdsUrl), garbage)).toMatch(/^HTTP\/1\.1 4\d\d|^closed$/)
      expect(await raw(portOf(emu.armUrl), garbage)).toMatch(/^HTTP\/1\.1 4\d\d|^closed$/)
    }
    expect(await raw(portOf(tlsEmu.armUrl), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")).not.toMatch(
      /^HTTP\/1\.1 [25]/,
    )
    await stillServing()
  })

  it("the control API refuses bad fault specs with 400 and keeps its faults intact", async () => {
    const post = (body: string) =>
      call(`${emu.controlUrl}/_emulator/faults`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      })
    for (const body of [
      "{]",
      "[]",
      '{"target":"nope","status":500}',
      '{"target":"arm","status":99}',
      '{"target":"arm"}',
      '{"target":"arm","reset":true,"status":500}',
    ]) {
      const r = await post(body)
      expect(r.status, body).toBe(400)
    }
    expect(emu.requests.count({ target: "arm", status: 500 })).toBe(0)
    await stillServing()
  })
})
