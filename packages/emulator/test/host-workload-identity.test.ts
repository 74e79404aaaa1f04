import { readFile } from "node:fs/promises"
import { decodeProtectedHeader, generateKeyPair, importJWK, type JWK, jwtVerify, SignJWT } from "jose"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ClusterIssuers, TOKEN_EXCHANGE_AUDIENCE } from "../src/federation/clusters.js"
import { kubeletRefreshAfter, ProjectedTokenFile, type Timers } from "../src/federation/projectedToken.js"
import { HostSetupError } from "../src/hosts/host.js"
import { DEFAULT_WORKLOAD_APP } from "../src/hosts/workloadIdentity.js"
import { startEmulator } from "../src/index.js"
import { fakeClock, json, jwtPayload, READER_ID, start, type TestEmulator } from "./helpers.js"

const SCOPE = "https://management.azure.com/.default"
const OTHER_APP = {
  displayName: "other-app",
  clientId: "c8a57d9b-1e2a-4b3c-8d5e-6f7a8b9c0d5a",
  objectId: "d9b68e0c-2f3b-4c4d-9e6f-7a8b9c0d1e6b",
}

const clock = fakeClock(Date.now())
let t: TestEmulator
let tokenUrl: string
let issuer: string
let subject: string

const exchange = (assertion: string, clientId = DEFAULT_WORKLOAD_APP.clientId) =>
  t.login(`/${t.emu.env.AZURE_TENANT_ID}/oauth2/v2.0/token`, {
    form: {
      grant_type: "client_credentials",
      client_id: clientId,
      scope: SCOPE,
      client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      client_assertion: assertion,
    },
  })

const projected = () => readFile(t.emu.env.AZURE_FEDERATED_TOKEN_FILE ?? "", "utf8")

/** Asserts Entra's error: status, OAuth error, AADSTS code in error_codes and the text. */
const expectEntraError = async (
  res: Awaited<ReturnType<typeof exchange>>,
  status: number,
  error: string,
  code: number,
  text: string,
) => {
  expect(res.status).toBe(status)
  const body = await json(res)
  expect(body.error).toBe(error)
  expect(body.error_codes).toEqual([code])
  expect(body.error_description.split("\r\n")[0]).toBe(`AADSTS${code}: ${text}`)
}

/** An assertion signed by a key the cluster never published. */
const foreignAssertion = async (claims: Record<string, unknown>, kid = "foreign-key") => {
  const { privateKey } = await generateKeyPair("RS256")
  const now = Math.floor(clock.now() / 1000)
  return new SignJWT({ iat: now, nbf: now, exp: now + 600, ...claims })
    .setProtectedHeader({ alg: "RS256", kid })
    .sign(privateKey)
}

beforeAll(async () => {
  t = await start({ source: "workload-identity", clock: clock.now })
  tokenUrl = `${t.emu.loginUrl}/${t.emu.env.AZURE_TENANT_ID}/oauth2/v2.0/token`
  issuer = t.emu.host.oidcIssuer ?? ""
  subject = "system:serviceaccount:default:workload-identity-sa"
})
afterAll(() => t.close())

describe("AKS workload identity (--source workload-identity): the cluster side", () => {
  it("env is what the webhook injects (+ the node's IMDS and the emulator's CA); the line names app and issuer", () => {
    expect(Object.keys(t.emu.env).sort()).toEqual(
      [
        "AZMI_ARM_ENDPOINT",
        "AZMI_IMDS_ENDPOINT",
        "AZURE_AUTHORITY_HOST",
        "AZURE_CLIENT_ID",
        "AZURE_FEDERATED_TOKEN_FILE",
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
        "AZURE_TENANT_ID",
        "NODE_EXTRA_CA_CERTS",
        "REQUESTS_CA_BUNDLE",
        "SSL_CERT_FILE",
      ].sort(),
    )
    expect(t.emu.env.AZURE_AUTHORITY_HOST).toBe(`${t.emu.loginUrl}/`)
    expect(t.emu.env.AZURE_CLIENT_ID).toBe(DEFAULT_WORKLOAD_APP.clientId)
    expect(t.emu.host).toMatchObject({
      source: "workload-identity",
      name: "myAKS",
      principalId: DEFAULT_WORKLOAD_APP.objectId,
    })
    expect(issuer).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/oidc\/[0-9a-f-]{36}\/$/)
    expect(tokenUrl.startsWith("https://")).toBe(true)
  })

  it("the projected token: no trailing newline, aud api://AzureADTokenExchange, sub system:serviceaccount:<ns>:<sa>, 1 h, signed by the issuer's JWKS", async () => {
    const token = await projected()
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)
    const discovery = await json(await t.login(`${new URL(issuer).pathname}.well-known/openid-configuration`))
    expect(discovery.issuer).toBe(issuer)
    expect(discovery.jwks_uri).toBe(`${issuer}openid/v1/jwks`)
    const jwks = await json(await t.login(new URL(discovery.jwks_uri).pathname))
    const key = (jwks.keys as JWK[]).find((k) => k.kid === decodeProtectedHeader(token).kid)
    expect(key).toBeDefined()
    const { payload } = await jwtVerify(token, await importJWK(key as JWK, "RS256"), {
      issuer,
      audience: TOKEN_EXCHANGE_AUDIENCE,
      currentDate: new Date(clock.now()),
    })
    expect(payload.sub).toBe(subject)
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(3600)
  })

  it("the issuer's routes are under the fault API and in the request log (target aks-oidc)", async () => {
    t.emu.requests.reset()
    t.emu.faults.inject({ target: "aks-oidc", status: 503 })
    expect((await t.login(`${new URL(issuer).pathname}openid/v1/jwks`)).status).toBe(503)
    expect((await t.login(`${new URL(issuer).pathname}openid/v1/jwks`)).status).toBe(200)
    expect(t.emu.requests.count({ target: "aks-oidc" })).toBe(2)
  })

  it("MSAL's discovery: /common/discovery/instance names the tenant's v2.0 OIDC document; another host is invalid_instance", async () => {
    const authorize = `${t.emu.loginUrl}/${t.emu.tenantId}/oauth2/v2.0/authorize`
    const res = await t.login(
      `/common/discovery/instance?api-version=1.1&authorization_endpoint=${encodeURIComponent(authorize)}`,
    )
    expect(res.status).toBe(200)
    const body = await json(res)
    expect(body.tenant_discovery_endpoint).toBe(
      `${t.emu.loginUrl}/${t.emu.tenantId}/v2.0/.well-known/openid-configuration`,
    )
    expect(body.metadata[0].aliases).toEqual([new URL(t.emu.loginUrl).host])
    const oidc = await json(await t.login(new URL(body.tenant_discovery_endpoint).pathname))
    expect(oidc.token_endpoint).toBe(tokenUrl)
    const other = await t.login(
      `/common/discovery/instance?api-version=1.1&authorization_endpoint=${encodeURIComponent("https://login.example.invalid/x/oauth2/v2.0/authorize")}`,
    )
    expect(other.status).toBe(400)
    expect((await json(other)).error).toBe("invalid_instance")
  })
})

describe("AKS workload identity: Entra's exchange of the projected token", () => {
  it("the file's token gets an access token for the app, and ARM accepts it once the app has a role", async () => {
    const res = await exchange(await projected())
    expect(res.status).toBe(200)
    const body = await json(res)
    expect(body).toMatchObject({ token_type: "Bearer", expires_in: 3599 })
    const claims = jwtPayload(body.access_token)
    expect(claims).toMatchObject({
      oid: DEFAULT_WORKLOAD_APP.objectId,
      appid: DEFAULT_WORKLOAD_APP.clientId,
      appidacr: "2",
    })
    const rg = `/subscriptions/${t.emu.subscriptionId}/resourcegroups/DevTest?api-version=2021-04-01`
    expect((await t.arm(rg, body.access_token)).status).toBe(403)
    const put = await t.arm(
      `/subscriptions/${t.emu.subscriptionId}/providers/Microsoft.Authorization/roleAssignments/7b2e3d4c-5f6a-4b7c-8d9e-0f1a2b3c4d5e?api-version=2022-04-01`,
      await t.adminToken(),
      {
        method: "PUT",
        body: {
          properties: {
            roleDefinitionId: READER_ID(t.emu.subscriptionId),
            principalId: DEFAULT_WORKLOAD_APP.objectId,
          },
        },
      },
    )
    expect(put.status).toBe(201)
    expect((await t.arm(rg, body.access_token)).status).toBe(200)
  })

  it("a malformed JWT: AADSTS50027", async () => {
    await expectEntraError(
      await exchange("not-a-jwt"),
      400,
      "invalid_request",
      50027,
      "JWT token is invalid or malformed.",
    )
  })

  it("an unknown application: AADSTS700016", async () => {
    const unknown = "e0c79f1d-3a4c-4d5e-8f7a-8b9c0d1e2f7c"
    await expectEntraError(
      await exchange(await projected(), unknown),
      400,
      "unauthorized_client",
      700016,
      `Application with identifier '${unknown}' was not found in the directory '${t.emu.env.AZURE_TENANT_ID}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
    )
  })

  it("an app without a federated credential matching issuer, subject and audience: AADSTS70021 naming them", async () => {
    t.emu.world.putServicePrincipal({
      ...OTHER_APP,
      federatedIdentityCredentials: [
        {
          name: "other-sa",
          issuer,
          subject: "system:serviceaccount:prod:other",
          audiences: [TOKEN_EXCHANGE_AUDIENCE],
        },
      ],
    })
    await expectEntraError(
      await exchange(await projected(), OTHER_APP.clientId),
      400,
      "invalid_request",
      70021,
      `No matching federated identity record found for presented assertion. Assertion Issuer: '${issuer}'. Assertion Subject: '${subject}'. Assertion Audience: '${TOKEN_EXCHANGE_AUDIENCE}'.`,
    )
  })

  it("a credential whose issuer the emulator does not serve: AADSTS90061", async () => {
    const external = "https://oidc.prod-aks.azure.com/00000000-0000-0000-0000-000000000000/"
    t.emu.world.putServicePrincipal({
      ...OTHER_APP,
      federatedIdentityCredentials: [
        { name: "external", issuer: external, subject, audiences: [TOKEN_EXCHANGE_AUDIENCE] },
      ],
    })
    const assertion = await foreignAssertion({ iss: external, sub: subject, aud: [TOKEN_EXCHANGE_AUDIENCE] })
    await expectEntraError(
      await exchange(assertion, OTHER_APP.clientId),
      400,
      "invalid_request",
      90061,
      "Request to External OIDC endpoint failed.",
    )
  })

  it("a token the cluster did not sign: AADSTS700027, key not found or signature mismatch", async () => {
    const claims = { iss: issuer, sub: subject, aud: [TOKEN_EXCHANGE_AUDIENCE] }
    await expectEntraError(
      await exchange(await foreignAssertion(claims)),
      401,
      "invalid_client",
      700027,
      "Client assertion contains an invalid signature. [Reason - The key was not found.]",
    )
    const clusterKid = decodeProtectedHeader(await projected()).kid
    await expectEntraError(
      await exchange(await foreignAssertion(claims, clusterKid)),
      401,
      "invalid_client",
      700027,
      "Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value.]",
    )
  })

  it("an expired or not-yet-valid projected token: AADSTS700024 with the times", async () => {
    const token = await projected()
    const { nbf, exp } = jwtPayload(token) as { nbf: number; exp: number }
    const iso = (s: number) => new Date(s * 1000).toISOString()
    clock.advance(3600_000)
    try {
      await expectEntraError(
        await exchange(token),
        400,
        "invalid_client",
        700024,
        `Client assertion is not within its valid time range. Current time: ${iso(Math.floor(clock.now() / 1000))}, assertion valid from ${iso(nbf)}, expiry time of assertion ${iso(exp)}. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .`,
      )
    } finally {
      clock.advance(-3600_000)
    }
    clock.advance(-60_000)
    try {
      const res = await exchange(token)
      expect(res.status).toBe(400)
      expect((await json(res)).error_codes).toEqual([700024])
    } finally {
      clock.advance(60_000)
    }
  })

  it("a wrong client_assertion_type is refused", async () => {
    const res = await t.login(`/${t.emu.env.AZURE_TENANT_ID}/oauth2/v2.0/token`, {
      form: {
        grant_type: "client_credentials",
        client_id: DEFAULT_WORKLOAD_APP.clientId,
        scope: SCOPE,
        client_assertion_type: "jwt",
        client_assertion: await projected(),
      },
    })
    expect(res.status).toBe(400)
  })
})

describe("the kubelet's rotation of the projected token", () => {
  it("refreshes at 80 % of the lifetime (capped at 24 h)", () => {
    expect(kubeletRefreshAfter(3600)).toBe(2880)
    expect(kubeletRefreshAfter(86_400 * 2)).toBe(86_400)
  })

  it("writes a new token when the scheduled rotation runs, and stops when closed", async () => {
    const scheduled: Array<{ fn: () => void; ms: number }> = []
    const timers: Timers = { set: (fn, ms) => scheduled.push({ fn, ms }), clear: () => {} }
    const path = `${t.emu.env.AZURE_FEDERATED_TOKEN_FILE}.rotation-test`
    const issuers = new ClusterIssuers({
      store: t.emu.world,
      now: clock.now,
      baseUrl: () => t.emu.loginUrl,
    })
    const host = t.emu.world.findHost("aks")
    if (host === undefined) throw new Error("no aks host")
    const file = new ProjectedTokenFile(path, issuers, () => host, 3600, timers)
    await file.rotate()
    const first = await readFile(path, "utf8")
    expect(scheduled.map((s) => s.ms)).toEqual([2880_000])
    clock.advance(2880_000)
    scheduled[0]?.fn()
    await file.settled()
    const second = await readFile(path, "utf8")
    expect(second).not.toBe(first)
    expect((jwtPayload(second).iat as number) - (jwtPayload(first).iat as number)).toBe(2880)
    expect(file.writes).toBe(2)
    file.close()
    clock.advance(-2880_000)
  })
})

describe("workload identity needs HTTPS", () => {
  it("--no-tls is a HostSetupError (the SDKs refuse an http authority host)", async () => {
    await expect(startEmulator({ source: "workload-identity", armTls: false })).rejects.toBeInstanceOf(
      HostSetupError,
    )
  })
})
