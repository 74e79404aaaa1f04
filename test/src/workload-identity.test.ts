/**
 * AKS workload identity end to end (issue 14): azmi's core and CLI against the emulator's federation — a
 * cluster OIDC issuer, the kubelet's projected token file, federated credentials, Entra's checks.
 *
 * 1. `azmi-emulator --source workload-identity` as its own process: with nothing but the start-up line's
 *    `env`, the core and `azmi token` get a token for the federated app, and ARM accepts it once the app
 *    holds Reader.
 * 2. An emulator in this process (its world and clock in the test's hands): each way Entra refuses a
 *    federated token comes back as its typed error, with its hint; an expired or malformed file is never
 *    sent at all.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  ArmClient,
  type AzmiError,
  HttpTransport,
  ResourceGroups,
  ResourceGroupsLive,
  TokenProvider,
  WorkloadIdentity,
} from "@azmi/core"
import { type Emulator, startEmulator } from "@azmi/emulator"
import { Cause, Effect, Exit, Layer, Option, Redacted } from "effect"
import { generateKeyPair, SignJWT } from "jose"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { azmi, expectNoLeaks } from "./cli-support.js"
import { grantReader, type RunningEmulator, spawnEmulator } from "./emulator-process.js"
import { startHttp } from "./http-support.js"
import { withFederatedCredentials } from "./workload-support.js"

const ARM = "https://management.azure.com/"
const SUBJECT = "system:serviceaccount:default:workload-identity-sa"

type Env = Readonly<Record<string, string | undefined>>

/** The configuration the webhook's variables describe (what detection hands the credential). */
const configOf = (env: Env, patch: Partial<WorkloadIdentity.WorkloadIdentityConfig> = {}) => ({
  _tag: "WorkloadIdentity" as const,
  tokenFile: env.AZURE_FEDERATED_TOKEN_FILE ?? "",
  tenantId: env.AZURE_TENANT_ID ?? "",
  clientId: env.AZURE_CLIENT_ID ?? "",
  authorityHost: env.AZURE_AUTHORITY_HOST,
  ...patch,
})

const credential = (config: WorkloadIdentity.WorkloadIdentityConfig, caCert: string) =>
  WorkloadIdentity.layer(config).pipe(Layer.provide(HttpTransport.layer({ caCert })))

const getToken = (config: WorkloadIdentity.WorkloadIdentityConfig, caCert: string) =>
  Effect.runPromiseExit(
    Effect.flatMap(TokenProvider, (tp) => tp.getToken(ARM)).pipe(Effect.provide(credential(config, caCert))),
  )

const failureOf = (exit: Exit.Exit<unknown, unknown>): AzmiError => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure, got a token")
  const failure = Option.getOrUndefined(Cause.failureOption(exit.cause))
  if (failure === undefined) throw new Error(`expected a typed failure: ${Cause.pretty(exit.cause)}`)
  return failure as AzmiError
}

const claimsOf = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString()) as Record<string, unknown>

/** A token signed by a key no cluster published (for forged, foreign and stale tokens). */
const foreignToken = async (claims: Record<string, unknown>, nowSeconds: number, lifetime = 3600) => {
  const { privateKey } = await generateKeyPair("RS256")
  return new SignJWT({
    aud: ["api://AzureADTokenExchange"],
    iat: nowSeconds,
    nbf: nowSeconds,
    exp: nowSeconds + lifetime,
    ...claims,
  })
    .setProtectedHeader({ alg: "RS256", kid: "not-the-clusters" })
    .sign(privateKey)
}

// ---------------------------------------------------------------------------------------------------
// 1. The emulator as its own process
// ---------------------------------------------------------------------------------------------------

describe("azmi-emulator --source workload-identity (its own process): the start-up line's env is all azmi needs", () => {
  let emu: RunningEmulator
  let ca: string
  beforeAll(async () => {
    emu = await spawnEmulator("workload-identity")
    ca = readFileSync(emu.line.caCertPath, "utf8")
  })
  afterAll(async () => {
    await emu?.stop()
  })

  it("the core gets a token for the federated app, and ARM accepts it once the app holds Reader", async () => {
    const config = configOf(emu.line.env)
    const exit = await getToken(config, ca)
    if (Exit.isFailure(exit)) throw new Error(Cause.pretty(exit.cause))
    const claims = claimsOf(Redacted.value(exit.value.token))
    expect(claims).toMatchObject({ appid: emu.line.host.clientId, oid: emu.line.host.principalId })
    expect(String(claims.aud)).toMatch(/^https:\/\/management\.azure\.com\/?$/)

    const readGroup = Effect.flatMap(ResourceGroups, (rg) => rg.get(emu.line.subscriptionId, "DevTest")).pipe(
      Effect.provide(ResourceGroupsLive.layer),
      Effect.provide(ArmClient.layerUndici({ endpoint: emu.line.armUrl, caCert: ca })),
      Effect.provide(credential(config, ca)),
    )
    const before = await Effect.runPromiseExit(readGroup)
    expect(failureOf(before)).toMatchObject({
      _tag: "AuthorizationFailed",
      principalId: emu.line.host.principalId,
    })
    await grantReader(emu.line, emu.line.host.principalId)
    const after = await Effect.runPromise(readGroup)
    expect(after.value.name).toBe("DevTest")
  })
})

describe("azmi (the CLI) on an AKS pod: the start-up line's env alone", () => {
  let emu: RunningEmulator
  let home: string
  let env: Record<string, string>
  beforeAll(async () => {
    emu = await spawnEmulator("workload-identity")
    home = mkdtempSync(join(tmpdir(), "azmi-wi-cli-"))
    env = { ...emu.line.env, PATH: process.env.PATH ?? "", HOME: home, XDG_RUNTIME_DIR: join(home, "run") }
  })
  afterAll(async () => {
    await emu?.stop()
    rmSync(home, { recursive: true, force: true })
  })
  const tokenPosts = async () => {
    const q = new URLSearchParams({ target: "login", method: "POST", pathIncludes: "/oauth2/v2.0/token" })
    const res = await fetch(`${emu.line.controlUrl}/_emulator/requests?${q}`)
    return ((await res.json()) as { counts: { total: number } }).counts.total
  }

  it("azmi token: a token for the federated app; with --cache, a second process reuses it (one token request for both)", async () => {
    const first = await azmi({ env }, ["--cache", "token"], { printsToken: true })
    expect(first.code, first.stderr).toBe(0)
    const claims = claimsOf((JSON.parse(first.stdout) as { accessToken: string }).accessToken)
    expect(claims).toMatchObject({ appid: emu.line.host.clientId, oid: emu.line.host.principalId })
    const second = await azmi({ env }, ["--cache", "token"], { printsToken: true })
    expect(second.code, second.stderr).toBe(0)
    expect(second.stdout).toBe(first.stdout)
    expect(await tokenPosts()).toBe(1)
    // --debug shows the requests (scanned for the federated token below) and nothing of their body.
    const debug = await azmi({ env }, ["--debug", "token", "-o", "none"])
    expect(debug.code).toBe(0)
    expect(debug.stderr).toContain("Entra ID token request: HTTP 200")
  })

  it("azmi group show: ARM refuses the workload (exit 4, the grant as HINT), then, once it holds Reader, answers", async () => {
    const denied = await azmi({ env }, ["group", "show", "-g", "DevTest"])
    expect(denied.code).toBe(4)
    expect(denied.stderr).toContain(`--assignee-object-id ${emu.line.host.principalId} --role Reader`)
    await grantReader(emu.line, emu.line.host.principalId)
    const shown = await azmi({ env }, ["group", "show", "-g", "DevTest", "--query", "name", "-o", "tsv"])
    expect([shown.code, shown.stdout]).toEqual([0, "DevTest\n"])
  })

  it("azmi doctor opens with the host detected and its deciding variables, then the federated token's checks once: readable, issuer and subject, not expired", async () => {
    const r = await azmi({ env }, ["doctor"])
    const lines = r.stdout.split("\n")
    expect(lines[0]).toBe(
      `✔ Host: workload identity at ${emu.line.env.AZURE_AUTHORITY_HOST?.replace(/\/$/, "")}, decided by AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID, AZURE_CLIENT_ID`,
    )
    expect(lines[1]).toBe(
      `✔ Federated token file readable: ${emu.line.env.AZURE_FEDERATED_TOKEN_FILE} (AZURE_FEDERATED_TOKEN_FILE)`,
    )
    expect(lines[2]).toBe(
      `✔ Federated token issuer and subject: iss ${emu.line.host.oidcIssuer}, sub ${SUBJECT}, aud api://AzureADTokenExchange (a federated credential on ${emu.line.host.clientId} must name these)`,
    )
    expect(lines[3]).toMatch(/^✔ Federated token not expired: expires \S+ \(in (59|60) min\)$/)
    expect(lines.filter((l) => l.includes("Federated token"))).toHaveLength(3)
    expect(r.stdout).toContain("✔ Token obtainable")
  })

  it("no output of any run carries the federated token (or a token where none is printed)", () => {
    expectNoLeaks(readFileSync(emu.line.env.AZURE_FEDERATED_TOKEN_FILE ?? "", "utf8"))
  })
})

// ---------------------------------------------------------------------------------------------------
// 2. Entra's refusals, one by one (an emulator in this process: its world and clock are the test's)
// ---------------------------------------------------------------------------------------------------

describe("Entra's refusals of a federated token, as azmi reports them", () => {
  let emu: Emulator
  let offsetMs = 0
  let scratch: string
  let issuer: string
  const nowSeconds = () => Math.floor((Date.now() + offsetMs) / 1000)
  const tokenRequests = () =>
    emu.requests.count({ target: "login", method: "POST", pathIncludes: "/oauth2/v2.0/token" })

  beforeAll(async () => {
    emu = await startEmulator({ source: "workload-identity", clock: () => Date.now() + offsetMs })
    scratch = mkdtempSync(join(tmpdir(), "azmi-wi-e2e-"))
    issuer = emu.host.oidcIssuer ?? ""
  })
  afterAll(async () => {
    await emu?.close()
    rmSync(scratch, { recursive: true, force: true })
  })

  const withCredentials = <A>(
    credentials: Parameters<typeof withFederatedCredentials>[1],
    body: () => Promise<A>,
  ) => withFederatedCredentials(emu, credentials, body)

  const tokenFile = (name: string, content: string) => {
    const path = join(scratch, name)
    writeFileSync(path, content)
    return path
  }

  it("the kubelet's file as is: a token (the baseline every case below departs from)", async () => {
    const exit = await getToken(configOf(emu.env), emu.caCert)
    expect(Exit.isSuccess(exit)).toBe(true)
  })

  it("no federated credential for the token's subject (AADSTS70021): FederatedCredentialNotFound, and its hint's values make it work", async () => {
    const error = await withCredentials(
      [
        {
          name: "other",
          issuer,
          subject: "system:serviceaccount:default:other-sa",
          audiences: ["api://AzureADTokenExchange"],
        },
      ],
      async () => failureOf(await getToken(configOf(emu.env), emu.caCert)),
    )
    expect(error).toMatchObject({
      _tag: "FederatedCredentialNotFound",
      issuer,
      subject: SUBJECT,
      audience: "api://AzureADTokenExchange",
      clientId: emu.env.AZURE_CLIENT_ID,
    })
    expect(error.hint).toContain(
      `az identity federated-credential create --name kubernetes-default-workload-identity-sa --identity-name "$(az identity list --query "[?clientId=='${emu.env.AZURE_CLIENT_ID}'].name | [0]" -o tsv)"`,
    )
    expect(error.hint).toContain(
      `--issuer ${issuer} --subject ${SUBJECT} --audience api://AzureADTokenExchange`,
    )
    // What the hint says to create, created: the same file now gets a token.
    if (error._tag !== "FederatedCredentialNotFound") throw new Error("unreachable")
    const fixed = await withCredentials(
      [
        {
          name: "kubernetes-default-workload-identity-sa",
          issuer: error.issuer,
          subject: error.subject,
          audiences: [error.audience],
        },
      ],
      () => getToken(configOf(emu.env), emu.caCert),
    )
    expect(Exit.isSuccess(fixed)).toBe(true)
  })

  it("a federated credential naming the issuer without its trailing slash (the classic typo): AADSTS70021, the hint has the slash", async () => {
    const error = await withCredentials(
      [
        {
          name: "typo",
          issuer: issuer.replace(/\/$/, ""),
          subject: SUBJECT,
          audiences: ["api://AzureADTokenExchange"],
        },
      ],
      async () => failureOf(await getToken(configOf(emu.env), emu.caCert)),
    )
    expect(error._tag).toBe("FederatedCredentialNotFound")
    expect(error.hint).toContain(`--issuer ${issuer} `)
    expect(issuer.endsWith("/")).toBe(true)
  })

  it("a token from another cluster (wrong issuer): AADSTS70021 naming that issuer", async () => {
    const otherIssuer = "https://oidc.other-cluster.example/4e2a/"
    const path = tokenFile(
      "other-cluster",
      await foreignToken({ iss: otherIssuer, sub: SUBJECT }, nowSeconds()),
    )
    const error = failureOf(await getToken(configOf(emu.env, { tokenFile: path }), emu.caCert))
    expect(error).toMatchObject({
      _tag: "FederatedCredentialNotFound",
      issuer: otherIssuer,
      subject: SUBJECT,
    })
    expect(error.hint).toContain(`--issuer ${otherIssuer} `)
  })

  it("a token Entra cannot fetch the issuer of (AADSTS90061): FederatedIssuerUnreachable", async () => {
    const unknown = "https://oidc.unreachable.example/9f1b/"
    const path = tokenFile("unreachable", await foreignToken({ iss: unknown, sub: SUBJECT }, nowSeconds()))
    const error = await withCredentials(
      [{ name: "unreachable", issuer: unknown, subject: SUBJECT, audiences: ["api://AzureADTokenExchange"] }],
      async () => failureOf(await getToken(configOf(emu.env, { tokenFile: path }), emu.caCert)),
    )
    expect(error).toMatchObject({ _tag: "FederatedIssuerUnreachable", issuer: unknown })
    expect(error.hint).toContain(`${unknown}.well-known/openid-configuration`)
  })

  it("a forged token with the cluster's issuer and subject (AADSTS700027): FederatedTokenSignatureInvalid", async () => {
    const path = tokenFile("forged", await foreignToken({ iss: issuer, sub: SUBJECT }, nowSeconds()))
    const error = failureOf(await getToken(configOf(emu.env, { tokenFile: path }), emu.caCert))
    expect(error).toMatchObject({
      _tag: "FederatedTokenSignatureInvalid",
      issuer,
      reason: "The key was not found.",
    })
    expect(error.hint).toContain("not signed by that issuer's current keys")
  })

  it("Entra's clock past the token's exp while this machine's is not (AADSTS700024): FederatedTokenExpired, refused by Entra", async () => {
    offsetMs = 2 * 3_600_000
    try {
      const error = failureOf(await getToken(configOf(emu.env), emu.caCert))
      expect(error).toMatchObject({ _tag: "FederatedTokenExpired", refusedBy: "entra" })
      expect(error.hint).toMatch(/clock .* or the file is stale/)
    } finally {
      offsetMs = 0
    }
  })

  it("an expired file is never sent: FederatedTokenExpired refused by azmi, the hint says the file is stale, no token request made", async () => {
    const path = tokenFile("stale", await foreignToken({ iss: issuer, sub: SUBJECT }, nowSeconds() - 7200))
    const before = tokenRequests()
    const error = failureOf(await getToken(configOf(emu.env, { tokenFile: path }), emu.caCert))
    expect(error).toMatchObject({ _tag: "FederatedTokenExpired", refusedBy: "azmi", path })
    expect(error.hint).toMatch(/^The file is stale/)
    expect(tokenRequests()).toBe(before)
  })

  it("a file that is not a JWT is never sent either: FederatedTokenMalformed, no token request made", async () => {
    const path = tokenFile("garbage", "this is not a service-account token\n")
    const before = tokenRequests()
    const error = failureOf(await getToken(configOf(emu.env, { tokenFile: path }), emu.caCert))
    expect(error).toMatchObject({ _tag: "FederatedTokenMalformed", refusedBy: "azmi" })
    expect(error.message).not.toContain("service-account token")
    expect(tokenRequests()).toBe(before)
  })

  it("no token file at the path: FederatedTokenFileUnreadable (Missing), no token request made", async () => {
    const before = tokenRequests()
    const error = failureOf(
      await getToken(configOf(emu.env, { tokenFile: join(scratch, "absent") }), emu.caCert),
    )
    expect(error).toMatchObject({ _tag: "FederatedTokenFileUnreadable", reason: "Missing" })
    expect(tokenRequests()).toBe(before)
  })

  it("an unknown client id (AADSTS700016): ApplicationNotFound naming it", async () => {
    const clientId = "0c0ffee0-1111-4222-8333-944445555666"
    const error = failureOf(await getToken(configOf(emu.env, { clientId }), emu.caCert))
    expect(error).toMatchObject({ _tag: "ApplicationNotFound", clientId, credential: "workload-identity" })
    expect(error.hint).toContain("AZURE_CLIENT_ID")
  })

  it("an http authority is refused before anything is read or sent", async () => {
    const before = tokenRequests()
    const error = failureOf(
      await getToken(
        configOf(emu.env, { authorityHost: emu.loginUrl.replace("https:", "http:") }),
        emu.caCert,
      ),
    )
    expect(error).toMatchObject({ _tag: "InvalidConfiguration", variable: "AZURE_AUTHORITY_HOST" })
    expect(tokenRequests()).toBe(before)
  })

  it("azmi token prints them with their hint: 70021 → exit 4 and the az command; a stale file → exit 4; no file → exit 3", async () => {
    const env = {
      ...emu.env,
      PATH: process.env.PATH ?? "",
      HOME: scratch,
      NODE_EXTRA_CA_CERTS: emu.caCertPath,
    }
    const missing = await withCredentials([], () => azmi({ env }, ["token"]))
    expect(missing.code).toBe(4)
    expect(missing.stderr).toContain(
      `ERROR: The identity ${emu.env.AZURE_CLIENT_ID} has no federated credential for issuer ${issuer}, subject ${SUBJECT} and audience api://AzureADTokenExchange (AADSTS70021).`,
    )
    expect(missing.stderr).toContain(
      `HINT: Someone allowed to change the identity (its Owner, or Managed Identity Contributor on it) must run: az identity federated-credential create --name kubernetes-default-workload-identity-sa`,
    )
    const stale = tokenFile(
      "stale-cli",
      await foreignToken({ iss: issuer, sub: SUBJECT }, nowSeconds() - 7200),
    )
    const expired = await azmi({ env: { ...env, AZURE_FEDERATED_TOKEN_FILE: stale } }, ["token"])
    expect(expired.code).toBe(4)
    expect(expired.stderr).toMatch(/^HINT: The file is stale/m)
    const absent = await azmi({ env: { ...env, AZURE_FEDERATED_TOKEN_FILE: join(scratch, "absent") } }, [
      "token",
    ])
    expect(absent.code).toBe(3)
    expect(absent.stderr).toContain("(AZURE_FEDERATED_TOKEN_FILE): it does not exist.")
  })

  it("azmi-http's token broker over workload identity: 20 concurrent neighbours, one token request to Entra", async () => {
    const header = "wi-broker-identity-header-0123456789"
    const http = await startHttp(emu, { ...emu.env, AZMI_IDENTITY_HEADER: header })
    try {
      const before = tokenRequests()
      const answers = await Promise.all(
        Array.from({ length: 20 }, async () => {
          const res = await fetch(
            `${http.url}/msi/token?api-version=2019-08-01&resource=${encodeURIComponent(ARM)}`,
            { headers: { "x-identity-header": header } },
          )
          return { status: res.status, body: (await res.json()) as { access_token: string } }
        }),
      )
      expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200))
      expect(new Set(answers.map((a) => a.body.access_token)).size).toBe(1)
      expect(claimsOf(answers[0]?.body.access_token ?? "")).toMatchObject({ appid: emu.env.AZURE_CLIENT_ID })
      expect(tokenRequests() - before).toBe(1)
    } finally {
      await http.stop()
    }
  })

  it("no error says anything of the federated token itself", async () => {
    const token = readFileSync(emu.env.AZURE_FEDERATED_TOKEN_FILE ?? "", "utf8")
    const error = await withCredentials([], async () =>
      failureOf(await getToken(configOf(emu.env), emu.caCert)),
    )
    for (const text of [error.message, error.hint ?? "", JSON.stringify(error)]) {
      expect(text).not.toContain(token)
      expect(text).not.toContain(token.split(".")[2] ?? "")
    }
  })
})
