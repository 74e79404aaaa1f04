// IMDS's token route answers a failure with the status every azmi-http route gives its kind (the core's
// one `statusOfKind`), so an IMDS client retries azmi-http's own faults; and a parameter IMDS clients
// spell in lower case is refused in any other case rather than ignored (which would hand a request for
// a user-assigned identity the default identity's token).
import {
  ArcChallengeFailed,
  FederatedCredentialNotFound,
  FederatedTokenExpired,
  FederatedTokenFileUnreadable,
  IdentitySelectionUnsupported,
  ServerCertificateMismatch,
  type TokenError,
  testToken,
  UserAssignedIdentityNotConfirmed,
} from "@azmi/core"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { renderError } from "../src/errors.js"
import { cachedTokenProvider, useTestApp } from "./fixtures.js"

const setup = useTestApp()
const imds = { config: { imds: true } }
const arm = "https://management.azure.com/"
const guid = "0b8f3d7c-5c1e-4a0e-9c51-6b1f1c2f4a11"
const query = `api-version=2018-02-01&resource=${encodeURIComponent(arm)}`
const tokenPath = (extra = "") => `/metadata/identity/oauth2/token?${query}${extra}`
const metadata = { Metadata: "true" }

const fed = "/var/run/secrets/azure/tokens/azure-identity-token"

// The server's own setup: the status /v1 answers for its kind, a 5xx an IMDS client retries.
const ownFailures: ReadonlyArray<[string, TokenError]> = [
  ["the federated token file unreadable", new FederatedTokenFileUnreadable({ path: fed, reason: "Missing" })],
  [
    "Service Fabric's certificate not the pinned one",
    new ServerCertificateMismatch({
      endpoint: "https://127.0.0.1:2377",
      expected: "A".repeat(40),
      actual: "B".repeat(40),
      variable: "IDENTITY_SERVER_THUMBPRINT",
    }),
  ],
]

// A credential the upstream refused (or azmi refused, knowing it would be): passed on as a refusal.
const refusedCredentials: ReadonlyArray<[string, TokenError]> = [
  [
    "the federated token expired",
    new FederatedTokenExpired({
      path: fed,
      expiresOn: 1_800_000_000_000,
      checkedAt: 1_800_000_100_000,
      refusedBy: "azmi",
    }),
  ],
  [
    "no federated credential at Entra",
    new FederatedCredentialNotFound({
      tenantId: guid,
      clientId: guid,
      issuer: "https://oidc.example/",
      subject: "system:serviceaccount:default:app",
      audience: "api://AzureADTokenExchange",
    }),
  ],
  [
    "Arc's challenge refused",
    new ArcChallengeFailed({ endpoint: "http://127.0.0.1:40342", rule: "refused" }),
  ],
]

describe("IMDS's token route: azmi-http's own failures", () => {
  it.each(ownFailures)(
    "%s: the status /v1 answers for it (a 5xx an IMDS client retries)",
    async (_, error) => {
      const { app } = setup({ ...imds, token: () => Effect.fail(error) })
      const res = await app.request(tokenPath(), { headers: metadata })
      const expected = renderError(error).status
      expect(expected).toBeGreaterThanOrEqual(500)
      expect(res.status).toBe(expected)
      const body = (await res.json()) as { error: string; error_description: string }
      expect(body.error).toBe(expected === 502 ? "server_error" : "service_unavailable")
      expect(body.error_description).toBe(error.message)
    },
  )

  it.each(refusedCredentials)(
    "%s: 401 unauthorized_client, the refusal passed on (retrying cannot change it)",
    async (_, error) => {
      const { app } = setup({ ...imds, token: () => Effect.fail(error) })
      const res = await app.request(tokenPath(), { headers: metadata })
      expect(res.status).toBe(401)
      expect(await res.json()).toEqual({ error: "unauthorized_client", error_description: error.message })
    },
  )

  it("an identity the host cannot serve: the caller's 400 when the caller named it, 503 when it is azmi-http's own", async () => {
    const refusals: ReadonlyArray<TokenError> = [
      new IdentitySelectionUnsupported({
        source: "Cloud Shell",
        selector: `client_id ${guid}`,
        supported: "system-assigned",
      }),
      new UserAssignedIdentityNotConfirmed({ source: "Azure Arc", selector: `client_id ${guid}` }),
    ]
    for (const error of refusals) {
      const { app } = setup({ ...imds, token: () => Effect.fail(error) })
      const named = await app.request(tokenPath(`&client_id=${guid}`), { headers: metadata })
      expect(named.status).toBe(400)
      expect(((await named.json()) as { error: string }).error).toBe("invalid_request")
      const own = await app.request(tokenPath(), { headers: metadata })
      expect(own.status).toBe(503)
    }
  })
})

describe("IMDS's token route: parameter names", () => {
  it.each([
    ["Client_Id", guid],
    ["CLIENT_ID", guid],
    ["Object_Id", guid],
    ["MSI_RES_ID", "/subscriptions/x"],
    ["Mi_Res_Id", "/subscriptions/x"],
    ["Resource", arm],
    ["API-Version", "2018-02-01"],
  ])(
    "%s (another case of a name the route acts on) is refused, never ignored: 400, no token",
    async (name, value) => {
      const { app, tokenCalls } = setup(imds)
      // In place of its lower-case namesake where the route needs one (else the pair is a repeat).
      const rest = [
        ["api-version", "2018-02-01"],
        ["resource", arm],
      ].filter(([n]) => n !== name.toLowerCase())
      const search = new URLSearchParams([...rest, [name, value]] as Array<[string, string]>).toString()
      const res = await app.request(`/metadata/identity/oauth2/token?${search}`, { headers: metadata })
      expect(res.status).toBe(400)
      expect(await res.json()).toEqual({
        error: "invalid_request",
        error_description: `Query parameter '${name}' is not recognised; parameter names are lower case ('${name.toLowerCase()}')`,
      })
      expect(tokenCalls).toEqual([])
    },
  )

  it("once the default identity's token is cached (the hot path), Client_Id=<another identity> still gets no token", async () => {
    // The core's real cache over a source that counts its calls: the second request is a hot-path hit.
    const { layer: tokenProvider, asked } = cachedTokenProvider((resource) =>
      Effect.succeed(testToken(resource)),
    )
    const { app, tokenCalls } = setup({ ...imds, tokenProvider })
    expect((await app.request(tokenPath(), { headers: metadata })).status).toBe(200)
    expect((await app.request(tokenPath(), { headers: metadata })).status).toBe(200)
    expect(asked()).toBe(1)
    const res = await app.request(tokenPath(`&Client_Id=${guid}`), { headers: metadata })
    expect(res.status).toBe(400)
    expect(asked()).toBe(1)
    expect(tokenCalls).toEqual([])
  })

  it("names IMDS does not act on keep any case (ignored, as IMDS ignores them)", async () => {
    const { app } = setup(imds)
    const res = await app.request(tokenPath("&Bypass_Cache=true"), { headers: metadata })
    expect(res.status).toBe(200)
  })
})

describe("IMDS's routes: which peers are on this machine (the core's one loopback rule, on both paths)", () => {
  const cached = () =>
    setup({
      ...imds,
      tokenProvider: cachedTokenProvider((resource) => Effect.succeed(testToken(resource))).layer,
    })
  const from = (app: ReturnType<typeof setup>["app"], socket: Record<string, string>) =>
    app.fetch(new Request(`http://127.0.0.1${tokenPath()}`, { headers: metadata }), { incoming: { socket } })

  it.each([
    ["127.0.0.1", 200],
    ["127.8.9.10", 200],
    ["::1", 200],
    ["::ffff:127.0.0.1", 200],
    ["0:0:0:0:0:0:0:1", 200],
    ["192.0.2.9", 403],
    ["::ffff:192.0.2.9", 403],
    ["169.254.169.254", 403],
  ] as const)("a peer at %s: %i, routed and from the cache alike", async (remoteAddress, status) => {
    const { app } = cached()
    // In-process (no socket): fills the cache; then the routed answer is the hot path's too.
    expect((await app.request(tokenPath(), { headers: metadata })).status).toBe(200)
    expect((await from(app, { remoteAddress })).status).toBe(status)
    expect((await from(app, { remoteAddress })).status).toBe(status)
  })

  it("a socket that no longer knows its peer is not local: 403 before and after the token is cached", async () => {
    const { app } = cached()
    expect((await from(app, {})).status).toBe(403)
    expect((await app.request(tokenPath(), { headers: metadata })).status).toBe(200)
    expect((await from(app, {})).status).toBe(403)
  })
})
