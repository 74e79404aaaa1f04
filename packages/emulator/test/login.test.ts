import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DEFAULT_ADMIN_CLIENT_ID, DEFAULT_ADMIN_OBJECT_ID, DEFAULT_TENANT_ID } from "../src/index.js"
import { json, start, type TestEmulator } from "./helpers.js"

let t: TestEmulator
beforeAll(async () => {
  t = await start()
})
afterAll(() => t.close())

const jwks = async () =>
  createLocalJWKSet(await json(await t.login(`/${DEFAULT_TENANT_ID}/discovery/v2.0/keys`)))

describe("JWKS and OIDC discovery", () => {
  it("publishes public keys only, with kid, x5t and x5c", async () => {
    for (const path of [
      `/${DEFAULT_TENANT_ID}/discovery/v2.0/keys`,
      `/${DEFAULT_TENANT_ID}/discovery/keys`,
      "/common/discovery/keys",
      "/common/discovery/v2.0/keys",
    ]) {
      const res = await t.login(path)
      expect(res.status, path).toBe(200)
      const { keys } = await json(res)
      expect(keys).toHaveLength(1)
      const [key] = keys
      expect(key).toMatchObject({ kty: "RSA", use: "sig" })
      expect(key.kid).toBe(key.x5t)
      expect(key.x5c).toHaveLength(1)
      for (const secret of ["d", "p", "q", "dp", "dq", "qi"]) expect(key[secret], secret).toBeUndefined()
    }
  })

  it("IMDS tokens verify with jose against the JWKS, with kid and x5t in the header", async () => {
    const token = await t.vmToken()
    const header = decodeProtectedHeader(token)
    expect(header).toMatchObject({ alg: "RS256", typ: "JWT" })
    expect(header.kid).toBe(header.x5t)
    const { payload } = await jwtVerify(token, await jwks(), {
      issuer: `https://sts.windows.net/${DEFAULT_TENANT_ID}/`,
      audience: "https://management.azure.com/",
    })
    expect(payload.exp! - payload.iat!).toBe(86_700)
  })

  it("a tampered token does not verify", async () => {
    const token = await t.vmToken()
    const [h, p, s] = token.split(".")
    const claims = JSON.parse(Buffer.from(p!, "base64url").toString())
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, oid: "someone-else" })).toString("base64url")}.${s}`
    await expect(jwtVerify(forged, await jwks())).rejects.toThrow()
  })

  it("serves the v2 openid-configuration MSAL reads", async () => {
    const res = await t.login(`/${DEFAULT_TENANT_ID}/v2.0/.well-known/openid-configuration`)
    expect(res.status).toBe(200)
    const doc = await json(res)
    expect(doc.token_endpoint).toBe(`${t.emu.loginUrl}/${DEFAULT_TENANT_ID}/oauth2/v2.0/token`)
    expect(doc.jwks_uri).toBe(`${t.emu.loginUrl}/${DEFAULT_TENANT_ID}/discovery/v2.0/keys`)
    for (const field of ["issuer", "authorization_endpoint", "end_session_endpoint"]) {
      expect(typeof doc[field], field).toBe("string")
    }
  })

  it("serves the v1 openid-configuration with the sts.windows.net issuer", async () => {
    const doc = await json(await t.login(`/${DEFAULT_TENANT_ID}/.well-known/openid-configuration`))
    expect(doc.issuer).toBe(`https://sts.windows.net/${DEFAULT_TENANT_ID}/`)
    expect(doc.token_endpoint).toBe(`${t.emu.loginUrl}/${DEFAULT_TENANT_ID}/oauth2/token`)
    expect(doc.id_token_signing_alg_values_supported).toEqual(["RS256"])
  })

  it("answers an unknown tenant with AADSTS90002", async () => {
    const res = await t.login("/11111111-1111-1111-1111-111111111111/v2.0/.well-known/openid-configuration")
    expect(res.status).toBe(400)
    expect((await json(res)).error_codes).toEqual([90002])
  })
})

const form = (overrides: Record<string, string | undefined> = {}) => {
  const base: Record<string, string | undefined> = {
    grant_type: "client_credentials",
    client_id: DEFAULT_ADMIN_CLIENT_ID,
    client_secret: t.emu.admin.clientSecret,
    scope: "https://management.azure.com/.default",
    ...overrides,
  }
  return Object.fromEntries(Object.entries(base).filter(([, v]) => v !== undefined)) as Record<string, string>
}

const v2 = `/${DEFAULT_TENANT_ID}/oauth2/v2.0/token`

describe("client credentials (v2)", () => {
  it("issues an app token for the admin service principal", async () => {
    const res = await t.login(v2, { form: form() })
    expect(res.status).toBe(200)
    const body = await json(res)
    expect(Object.keys(body).sort()).toEqual(["access_token", "expires_in", "ext_expires_in", "token_type"])
    expect(body.token_type).toBe("Bearer")
    expect(body.expires_in).toBe(3599)
    const { payload } = await jwtVerify(body.access_token, await jwks())
    expect(payload).toMatchObject({
      aud: "https://management.azure.com",
      appid: DEFAULT_ADMIN_CLIENT_ID,
      oid: DEFAULT_ADMIN_OBJECT_ID,
      sub: DEFAULT_ADMIN_OBJECT_ID,
      tid: DEFAULT_TENANT_ID,
      idtyp: "app",
      ver: "1.0",
    })
  })

  it("wrong secret → 401 invalid_client AADSTS7000215, without echoing the secret", async () => {
    const res = await t.login(v2, { form: form({ client_secret: "not-the-secret-123" }) })
    expect(res.status).toBe(401)
    const text = await res.text()
    const body = JSON.parse(text)
    expect(body.error).toBe("invalid_client")
    expect(body.error_codes).toEqual([7000215])
    expect(text).not.toContain("not-the-secret-123")
    expect(text).not.toContain(t.emu.admin.clientSecret)
  })

  it("unknown client → 400 unauthorized_client AADSTS700016", async () => {
    const res = await t.login(v2, { form: form({ client_id: "99999999-9999-4999-8999-999999999999" }) })
    expect(res.status).toBe(400)
    const body = await json(res)
    expect(body.error).toBe("unauthorized_client")
    expect(body.error_description).toMatch(/^AADSTS700016: Application with identifier '99999999-/)
  })

  it("missing secret → 401 AADSTS7000218", async () => {
    const res = await t.login(v2, { form: form({ client_secret: undefined }) })
    expect(res.status).toBe(401)
    expect((await json(res)).error_codes).toEqual([7000218])
  })

  it("scope without /.default → 400 invalid_scope", async () => {
    const res = await t.login(v2, {
      form: form({ scope: "https://management.azure.com/user_impersonation" }),
    })
    expect(res.status).toBe(400)
    expect((await json(res)).error).toBe("invalid_scope")
  })

  it("missing scope → 400 AADSTS900144", async () => {
    const res = await t.login(v2, { form: form({ scope: undefined }) })
    expect(res.status).toBe(400)
    expect((await json(res)).error_description).toMatch(/^AADSTS900144: .*'scope'/)
  })

  it("unknown resource → 400 invalid_resource AADSTS500011", async () => {
    const res = await t.login(v2, { form: form({ scope: "https://unknown.example/.default" }) })
    expect(res.status).toBe(400)
    const body = await json(res)
    expect(body.error).toBe("invalid_resource")
    expect(body.error_codes).toEqual([500011])
  })

  it("other grant types → 400 unsupported_grant_type", async () => {
    const res = await t.login(v2, { form: form({ grant_type: "password" }) })
    expect(res.status).toBe(400)
    expect((await json(res)).error).toBe("unsupported_grant_type")
  })

  it("unknown tenant → 400 AADSTS90002", async () => {
    const res = await t.login("/22222222-2222-4222-8222-222222222222/oauth2/v2.0/token", { form: form() })
    expect(res.status).toBe(400)
    expect((await json(res)).error_codes).toEqual([90002])
  })

  it("GET on the token endpoint is refused", async () => {
    expect((await t.login(v2)).status).toBe(405)
  })

  it("accepts client_secret_basic", async () => {
    const basic = Buffer.from(`${DEFAULT_ADMIN_CLIENT_ID}:${t.emu.admin.clientSecret}`).toString("base64")
    const res = await t.login(v2, {
      form: form({ client_id: undefined, client_secret: undefined }),
      headers: { authorization: `Basic ${basic}` },
    })
    expect(res.status).toBe(200)
  })

  it("a malformed %-escape in client_secret_basic is a bad credential, not a server error", async () => {
    const basic = Buffer.from(`${DEFAULT_ADMIN_CLIENT_ID}:%E0%A4%A`).toString("base64")
    const res = await t.login(v2, {
      form: form({ client_id: undefined, client_secret: undefined }),
      headers: { authorization: `Basic ${basic}` },
    })
    expect(res.status).toBe(401)
    expect((await json(res)).error).toBe("invalid_client")
  })
})

describe("client credentials (v1)", () => {
  it("issues a token for `resource` with string-typed times", async () => {
    const res = await t.login(`/${DEFAULT_TENANT_ID}/oauth2/token`, {
      form: form({ scope: undefined, resource: "https://management.core.windows.net/" }),
    })
    expect(res.status).toBe(200)
    const body = await json(res)
    expect(body.resource).toBe("https://management.core.windows.net/")
    expect(typeof body.expires_on).toBe("string")
    expect(body.expires_in).toBe("3599")
    const { payload } = await jwtVerify(body.access_token, await jwks())
    expect(payload.aud).toBe("https://management.core.windows.net/")
  })

  it("requires resource", async () => {
    const res = await t.login(`/${DEFAULT_TENANT_ID}/oauth2/token`, { form: form({ scope: undefined }) })
    expect(res.status).toBe(400)
    expect((await json(res)).error_description).toMatch(/'resource'/)
  })
})
