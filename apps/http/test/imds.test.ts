// IMDS's own protocol on azmi-http (AZMI_HTTP_IMDS=1): what an unmodified IMDS client sends, and
// exactly what IMDS answers — refusals, the string-typed token, upstream errors passed through.
import {
  type AccessToken,
  IdentityNotFound,
  IdentitySelector,
  ImdsThrottled,
  ImdsUnavailable,
  InvalidResource,
  MultipleIdentities,
  type TokenError,
  TokenRequestFailed,
} from "@azmi/core"
import { Effect, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { cachedTokenProvider, instanceDocument, sub, tokenSecret, useTestApp } from "./fixtures.js"

const setup = useTestApp()
const imds = { config: { imds: true } }
const arm = "https://management.azure.com/"
const tokenPath = (query = `api-version=2018-02-01&resource=${encodeURIComponent(arm)}`) =>
  `/metadata/identity/oauth2/token?${query}`
const metadata = { Metadata: "true" }
const guid = "0b8f3d7c-5c1e-4a0e-9c51-6b1f1c2f4a11"
const uamiId = `/subscriptions/${guid}/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app`

// A token whose every time is known: issued at 1,800,000,000 s, valid 24 h 5 min like IMDS's.
const issuedAt = 1_800_000_000_000
const token = (resource: string): AccessToken => ({
  token: Redacted.make(tokenSecret),
  tokenType: "Bearer",
  resource,
  expiresOn: issuedAt + 86_700_000,
  refreshOn: issuedAt + 43_350_000,
  notBefore: issuedAt,
  clientId: "2084ae4a-0000-4000-8000-000000000001",
})

describe("IMDS's token route", () => {
  it("is not served without AZMI_HTTP_IMDS", async () => {
    const { app, tokenCalls } = setup()
    expect((await app.request(tokenPath(), { headers: metadata })).status).toBe(404)
    expect(tokenCalls).toEqual([])
  })

  it("answers IMDS's own request as IMDS does: every field a string, IMDS's key order, expires_in counting down", async () => {
    const { app, tokenCalls } = setup({ ...imds, token: (r) => Effect.succeed(token(r)) })
    const res = await app.request(tokenPath(), { headers: metadata })
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8")
    expect(res.headers.get("cache-control")).toBe("no-store")
    const text = await res.text()
    const body = JSON.parse(text) as Record<string, string>
    expect(Object.keys(body)).toEqual([
      "access_token",
      "client_id",
      "expires_in",
      "expires_on",
      "ext_expires_in",
      "not_before",
      "resource",
      "token_type",
    ])
    for (const value of Object.values(body)) expect(typeof value).toBe("string")
    const left = Math.floor((issuedAt + 86_700_000 - Date.now()) / 1000)
    expect(body).toEqual({
      access_token: tokenSecret,
      client_id: "2084ae4a-0000-4000-8000-000000000001",
      expires_in: expect.stringMatching(/^\d+$/),
      expires_on: String((issuedAt + 86_700_000) / 1000),
      ext_expires_in: body.expires_in,
      not_before: String(issuedAt / 1000),
      resource: arm,
      token_type: "Bearer",
    })
    expect(Math.abs(Number(body.expires_in) - left)).toBeLessThanOrEqual(1)
    expect(tokenCalls).toEqual([{ resource: arm, selector: "system" }])
  })

  it.each([
    ["no Metadata header", {}],
    ["Metadata: True", { Metadata: "True" }],
    ["Metadata: TRUE", { Metadata: "TRUE" }],
    ["Metadata: false", { Metadata: "false" }],
    ["Metadata: 1", { Metadata: "1" }],
  ])("%s: IMDS's 400, and no token", async (_name, headers) => {
    const { app, tokenCalls } = setup(imds)
    const res = await app.request(tokenPath(), { headers })
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({
      error: "invalid_request",
      error_description: "Required metadata header not specified",
    })
    expect(tokenCalls).toEqual([])
  })

  it("a trailing slash is IMDS's path too (MSAL, so @azure/identity, sends one)", async () => {
    const { app } = setup(imds)
    const res = await app.request(tokenPath().replace("token?", "token/?"), { headers: metadata })
    expect(res.status).toBe(200)
    const instance = await app.request("/metadata/instance/?api-version=2021-02-01", { headers: metadata })
    expect(instance.status).toBe(200)
    // Nowhere else: azmi's own routes keep their strict paths.
    expect((await app.request("/healthz/")).status).toBe(404)
  })

  it("the SDKs' probe (no query, no Metadata header) gets IMDS's 400 at once, never a 404", async () => {
    const { app, tokenCalls } = setup(imds)
    const res = await app.request("/metadata/identity/oauth2/token")
    expect(res.status).toBe(400)
    expect(((await res.json()) as { error_description: string }).error_description).toBe(
      "Required metadata header not specified",
    )
    expect(tokenCalls).toEqual([])
  })

  it.each([
    ["X-Forwarded-For", "203.0.113.7"],
    ["Forwarded", "for=203.0.113.7"],
    ["X-Real-IP", "203.0.113.7"],
    ["Via", "1.1 proxy"],
  ])("a request carrying %s is refused with 400, and no token", async (name, value) => {
    const { app, tokenCalls } = setup(imds)
    const res = await app.request(tokenPath(), { headers: { ...metadata, [name]: value } })
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({
      error: "invalid_request",
      error_description: `Requests with the ${name} header are not accepted`,
    })
    expect(tokenCalls).toEqual([])
  })

  it.each([
    ["missing", `resource=${encodeURIComponent(arm)}`],
    ["older than 2018-02-01", `api-version=2017-12-01&resource=${encodeURIComponent(arm)}`],
    ["unknown", `api-version=2018-02-02&resource=${encodeURIComponent(arm)}`],
    ["empty", `api-version=&resource=${encodeURIComponent(arm)}`],
  ])("api-version %s: IMDS's 400", async (_name, query) => {
    const { app, tokenCalls } = setup(imds)
    const res = await app.request(tokenPath(query), { headers: metadata })
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({
      error: "invalid_request",
      error_description:
        "Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds",
    })
    expect(tokenCalls).toEqual([])
  })

  it.each(["2018-02-01", "2019-08-01", "2025-04-07"])("api-version %s is taken", async (version) => {
    const { app } = setup(imds)
    const res = await app.request(tokenPath(`api-version=${version}&resource=${encodeURIComponent(arm)}`), {
      headers: metadata,
    })
    expect(res.status).toBe(200)
  })

  it("no resource, or an empty one: 400", async () => {
    const { app, tokenCalls } = setup(imds)
    for (const query of ["api-version=2018-02-01", "api-version=2018-02-01&resource="]) {
      const res = await app.request(tokenPath(query), { headers: metadata })
      expect(res.status).toBe(400)
      expect(await res.json()).toEqual({
        error: "invalid_request",
        error_description: "Required query variable 'resource' is missing",
      })
    }
    expect(tokenCalls).toEqual([])
  })

  it("a repeated parameter is refused, not guessed", async () => {
    const { app, tokenCalls } = setup(imds)
    const res = await app.request(
      tokenPath(
        `api-version=2018-02-01&resource=${encodeURIComponent(arm)}&resource=https%3A%2F%2Fvault.azure.net`,
      ),
      { headers: metadata },
    )
    expect(res.status).toBe(400)
    expect(((await res.json()) as { error_description: string }).error_description).toContain("'resource'")
    expect(tokenCalls).toEqual([])
  })

  it.each([
    ["client_id", guid, "ClientId", {}],
    ["object_id", guid, "ObjectId", { object_id: guid }],
    ["msi_res_id", uamiId, "ResourceId", { msi_res_id: uamiId }],
    ["mi_res_id", uamiId, "ResourceId", { msi_res_id: uamiId }],
  ])("%s names that identity (and IMDS's answer echoes what it echoes)", async (param, id, tag, echo) => {
    const { app, tokenCalls } = setup(imds)
    const res = await app.request(
      tokenPath(
        `api-version=2018-02-01&resource=${encodeURIComponent(arm)}&${param}=${encodeURIComponent(id)}`,
      ),
      {
        headers: metadata,
      },
    )
    expect(res.status).toBe(200)
    const body = (await res.json()) as Record<string, string>
    expect(body.client_id).toBe(`client-of-${tag}`)
    expect(body).toMatchObject(echo)
    if (!("object_id" in echo)) expect(body.object_id).toBeUndefined()
    if (!("msi_res_id" in echo)) expect(body.msi_res_id).toBeUndefined()
    expect(tokenCalls).toEqual([{ resource: arm, selector: tag }])
  })

  it("identities are kept apart: each identity's token comes from its own provider and cache", async () => {
    const { app, tokenCalls } = setup(imds)
    const get = async (extra: string) =>
      (
        (await (
          await app.request(tokenPath(`api-version=2018-02-01&resource=${encodeURIComponent(arm)}${extra}`), {
            headers: metadata,
          })
        ).json()) as { client_id: string }
      ).client_id
    expect(await get("")).toBe("client-of-system")
    expect(await get(`&client_id=${guid}`)).toBe("client-of-ClientId")
    expect(await get(`&object_id=${guid}`)).toBe("client-of-ObjectId")
    expect(await get("")).toBe("client-of-system")
    expect(tokenCalls.map((c) => c.selector)).toEqual(["system", "ClientId", "ObjectId", "system"])
  })

  it("a caller naming the process's own identity (the AZURE_CLIENT_ID it was given too) shares its cache", async () => {
    const { app, tokenCalls } = setup({ ...imds, ownIdentity: IdentitySelector.ClientId({ clientId: guid }) })
    const ask = (extra: string) =>
      app.request(tokenPath(`api-version=2018-02-01&resource=${encodeURIComponent(arm)}${extra}`), {
        headers: metadata,
      })
    expect((await ask(`&client_id=${guid.toUpperCase()}`)).status).toBe(200)
    expect((await ask("")).status).toBe(200)
    expect((await ask("&client_id=1b8f3d7c-5c1e-4a0e-9c51-6b1f1c2f4a11")).status).toBe(200)
    expect(tokenCalls.map((c) => c.selector)).toEqual(["system", "system", "ClientId"])
  })

  it("more than one identity, or an id that can name none: 400, and no token", async () => {
    const { app, tokenCalls } = setup(imds)
    const two = await app.request(
      tokenPath(
        `api-version=2018-02-01&resource=${encodeURIComponent(arm)}&client_id=${guid}&object_id=${guid}`,
      ),
      { headers: metadata },
    )
    expect(two.status).toBe(400)
    expect(await two.json()).toEqual({
      error: "invalid_request",
      error_description:
        "Only one of client_id, object_id and msi_res_id can be specified; got client_id, object_id",
    })
    const notGuid = await app.request(
      tokenPath(`api-version=2018-02-01&resource=${encodeURIComponent(arm)}&client_id=not-a-guid`),
      { headers: metadata },
    )
    expect(notGuid.status).toBe(400)
    expect(((await notGuid.json()) as { error: string }).error).toBe("invalid_request")
    expect(tokenCalls).toEqual([])
  })

  it("parameters IMDS does not use (bypass_cache, xms_cc, token_sha256_to_refresh) are ignored, as IMDS ignores them", async () => {
    const { app, tokenCalls } = setup(imds)
    const res = await app.request(
      tokenPath(
        `api-version=2018-02-01&resource=${encodeURIComponent(arm)}&bypass_cache=true&xms_cc=cp1&token_sha256_to_refresh=abc`,
      ),
      { headers: metadata },
    )
    expect(res.status).toBe(200)
    expect(tokenCalls).toHaveLength(1)
  })

  // The upstream's answer reaches the IMDS client with IMDS's status and body, not azmi's 502/503.
  it.each<[string, TokenError, number, Record<string, string>, Record<string, string>?]>([
    [
      "400 Identity not found",
      new IdentityNotFound({ selector: "system-assigned", description: "Identity not found" }),
      400,
      { error: "invalid_request", error_description: "Identity not found" },
    ],
    [
      "400 multiple identities",
      new MultipleIdentities({
        description:
          "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request",
      }),
      400,
      {
        error: "invalid_request",
        error_description:
          "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request",
      },
    ],
    [
      "400 invalid_resource",
      new InvalidResource({
        resource: "https://nope.example/",
        description:
          "AADSTS500011: The resource principal named https://nope.example/ was not found in the tenant.",
      }),
      400,
      {
        error: "invalid_resource",
        error_description:
          "AADSTS500011: The resource principal named https://nope.example/ was not found in the tenant.",
      },
    ],
    [
      "500 from AAD",
      new TokenRequestFailed({
        endpoint: "http://169.254.169.254/metadata/identity/oauth2/token",
        status: 500,
        error: "unknown",
        errorDescription: "Failed to retrieve token from the Active directory.",
        attempts: 4,
      }),
      500,
      { error: "unknown", error_description: "Failed to retrieve token from the Active directory." },
    ],
    [
      "429 after every retry",
      new ImdsThrottled({ attempts: 4, retryAfterSeconds: 3 }),
      429,
      {
        error: "too_many_requests",
        error_description: "IMDS throttled the token request (429) on all 4 attempts.",
      },
      { "retry-after": "3" },
    ],
  ])("upstream %s is passed through", async (_name, error, status, body, headers = {}) => {
    const { app } = setup({ ...imds, token: () => Effect.fail(error) })
    const res = await app.request(tokenPath(), { headers: metadata })
    expect(res.status).toBe(status)
    expect(await res.json()).toEqual(body)
    for (const [name, value] of Object.entries(headers)) expect(res.headers.get(name)).toBe(value)
  })

  it("upstream throttling is not passed on while a valid token is cached, even when its refresh is due", async () => {
    // The core's real refresh-ahead cache over a source whose first token is due for refresh at once,
    // and which throttles every request after that.
    const { layer: tokenProvider, asked } = cachedTokenProvider((resource, call) => {
      if (call > 1) return Effect.fail(new ImdsThrottled({ attempts: 4, retryAfterSeconds: 1 }))
      const now = Date.now()
      return Effect.succeed({ ...token(resource), expiresOn: now + 3_600_000, refreshOn: now - 1 })
    })
    const { app } = setup({ ...imds, tokenProvider })
    const statuses: Array<number> = []
    for (let i = 0; i < 10; i++) statuses.push((await app.request(tokenPath(), { headers: metadata })).status)
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(statuses).toEqual(Array(10).fill(200))
    // The background refresh did ask, and was throttled: one refresh for all ten requests (its retry
    // waits a second after the failure, so a slow machine may just see that one too).
    expect(asked()).toBeGreaterThanOrEqual(2)
    expect(asked()).toBeLessThanOrEqual(3)
  })

  it("no upstream at all: 503, which IMDS clients retry", async () => {
    const { app } = setup({
      ...imds,
      token: () =>
        Effect.fail(new ImdsUnavailable({ endpoint: "http://169.254.169.254", reason: "ConnectionRefused" })),
    })
    const res = await app.request(tokenPath(), { headers: metadata })
    expect(res.status).toBe(503)
    expect(((await res.json()) as { error: string }).error).toBe("service_unavailable")
  })

  it.each(["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])(
    "%s: IMDS's 405 with Allow: GET, and no token",
    async (method) => {
      const { app, tokenCalls } = setup(imds)
      const res = await app.request(tokenPath(), { method, headers: metadata })
      expect(res.status).toBe(405)
      expect(res.headers.get("allow")).toBe("GET")
      if (method !== "HEAD")
        expect(await res.json()).toEqual({
          error: "method_not_allowed",
          error_description: "The requested method is not allowed",
        })
      expect(tokenCalls).toEqual([])
    },
  )

  it("answers clients on this machine only", async () => {
    const { app, tokenCalls } = setup(imds)
    const request = new Request(`http://127.0.0.1${tokenPath()}`, { headers: metadata })
    const remote = await app.fetch(request, { incoming: { socket: { remoteAddress: "192.0.2.9" } } })
    expect(remote.status).toBe(403)
    expect(((await remote.json()) as { error: string }).error).toBe("forbidden")
    expect(tokenCalls).toEqual([])
    for (const address of ["127.0.0.1", "::1", "::ffff:127.0.0.1"]) {
      const local = await app.fetch(request.clone(), { incoming: { socket: { remoteAddress: address } } })
      expect([address, local.status]).toEqual([address, 200])
    }
  })
})

describe("the API key guards /v1 only", () => {
  const apiKey = "api-key-0123456789abcdef-XYZ"
  it("IMDS's routes need no key (IMDS clients cannot send one); /v1 keeps its key, Metadata: true or not", async () => {
    const { app, tokenCalls, calls } = setup({ config: { imds: true, apiKey: Redacted.make(apiKey) } })
    expect((await app.request(tokenPath(), { headers: metadata })).status).toBe(200)
    expect(
      (await app.request(tokenPath(), { headers: { ...metadata, Authorization: "Bearer wrong" } })).status,
    ).toBe(200)
    for (const path of ["/v1/instance", `/v1/subscriptions/${sub}/resourceGroups/DevTest`]) {
      expect((await app.request(path, { headers: metadata })).status).toBe(401)
      expect((await app.request(path, { headers: { Authorization: `Bearer ${apiKey}` } })).status).toBe(200)
    }
    expect(tokenCalls).toHaveLength(2)
    expect(calls).toHaveLength(1)
  })
})

describe("IMDS's instance routes", () => {
  const instance = (path = "", query = "api-version=2021-02-01") => `/metadata/instance${path}?${query}`

  it("the whole document, as IMDS returned it", async () => {
    const { app, documentCalls } = setup(imds)
    const res = await app.request(instance(), { headers: metadata })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual(instanceDocument)
    expect(documentCalls).toEqual(["2021-02-01"])
  })

  it("a sub-path is that node; its keys match without case; an array element by index", async () => {
    const { app } = setup(imds)
    expect(await (await app.request(instance("/compute"), { headers: metadata })).json()).toEqual(
      instanceDocument.compute,
    )
    expect(await (await app.request(instance("/Compute/TagsList/0"), { headers: metadata })).json()).toEqual({
      name: "env",
      value: "dev",
    })
  })

  it("a leaf needs format=text (IMDS's 400 otherwise); a node as text lists its children", async () => {
    const { app } = setup(imds)
    const leaf = await app.request(instance("/compute/location", "api-version=2021-02-01&format=text"), {
      headers: metadata,
    })
    expect(leaf.status).toBe(200)
    expect(leaf.headers.get("content-type")).toBe("text/plain; charset=utf-8")
    expect(await leaf.text()).toBe("westus")
    const json = await app.request(instance("/compute/location"), { headers: metadata })
    expect(json.status).toBe(400)
    expect(await json.json()).toEqual({
      error: "Bad request. Leaf nodes can only be requested with format=text",
    })
    const node = await app.request(instance("/network/interface/0", "api-version=2021-02-01&format=text"), {
      headers: metadata,
    })
    expect(await node.text()).toBe("ipv4/")
    const compute = await app.request(instance("/compute", "api-version=2021-02-01&format=text"), {
      headers: metadata,
    })
    expect((await compute.text()).split("\n")).toEqual([
      "location",
      "name",
      "resourceGroupName",
      "subscriptionId",
      "tagsList/",
      "vmId",
    ])
  })

  it("a path that names nothing: 404 {error: Not found}", async () => {
    const { app } = setup(imds)
    const res = await app.request(instance("/compute/nothing"), { headers: metadata })
    expect(res.status).toBe(404)
    expect(await res.json()).toEqual({ error: "Not found" })
  })

  it("IMDS's instance-category refusals: header, api-version (with the newest ones listed), format", async () => {
    const { app, documentCalls } = setup(imds)
    const noHeader = await app.request(instance())
    expect(noHeader.status).toBe(400)
    expect(await noHeader.json()).toEqual({ error: "Bad request. Required metadata header not specified" })
    const noVersion = await app.request(instance("", "format=json"), { headers: metadata })
    expect(noVersion.status).toBe(400)
    expect(await noVersion.json()).toEqual({
      error:
        "Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds",
      "newest-versions": ["2025-04-07", "2024-07-17", "2024-03-15"],
    })
    const format = await app.request(instance("", "api-version=2021-02-01&format=xml"), { headers: metadata })
    expect(format.status).toBe(400)
    const relayed = await app.request(instance(), {
      headers: { ...metadata, "X-Forwarded-For": "203.0.113.7" },
    })
    expect(relayed.status).toBe(400)
    expect(documentCalls).toEqual([])
  })

  it("an upstream failure keeps its status", async () => {
    const { app } = setup({
      ...imds,
      instanceDocument: () =>
        Effect.fail(
          new TokenRequestFailed({
            endpoint: "http://169.254.169.254/metadata/instance",
            status: 400,
            error: "Bad request. api-version is invalid",
            attempts: 1,
          }),
        ),
    })
    const res = await app.request(instance(), { headers: metadata })
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({ error: "Bad request. api-version is invalid" })
  })

  it("other methods: 405 with Allow: GET", async () => {
    const { app } = setup(imds)
    for (const path of ["/metadata/instance", "/metadata/instance/compute"]) {
      const res = await app.request(path, { method: "POST", headers: metadata })
      expect(res.status).toBe(405)
      expect(res.headers.get("allow")).toBe("GET")
      expect(await res.json()).toEqual({ error: "Method not allowed" })
    }
  })
})

describe("the token route's hot path (a cached token of the default identity, answered before hono)", () => {
  // The core's real cache over a source that counts its calls: the first request fills it (routed
  // path), later ones are hits answered by the hot path.
  const cachedSetup = () => {
    const { layer: tokenProvider, asked } = cachedTokenProvider((resource) => Effect.succeed(token(resource)))
    return { ...setup({ ...imds, tokenProvider }), asked }
  }
  const headersOf = (res: Response) =>
    Object.fromEntries([...res.headers].filter(([k]) => k !== "x-request-id"))

  it("a hit answers what the routed path answered: status, headers and body, with its own id and log line", async () => {
    const { app, logs, asked } = cachedSetup()
    const first = await app.request(tokenPath(), { headers: metadata })
    const second = await app.request(tokenPath(), {
      headers: { ...metadata, "x-ms-client-request-id": "c-1" },
    })
    expect(asked()).toBe(1)
    expect(second.status).toBe(first.status)
    expect(headersOf(second)).toEqual({ ...headersOf(first), "x-ms-client-request-id": "c-1" })
    const [a, b] = [
      (await first.json()) as Record<string, string>,
      (await second.json()) as Record<string, string>,
    ]
    expect({ ...b, expires_in: "", ext_expires_in: "" }).toEqual({ ...a, expires_in: "", ext_expires_in: "" })
    expect(Math.abs(Number(a.expires_in) - Number(b.expires_in))).toBeLessThanOrEqual(1)
    expect(second.headers.get("x-request-id")).not.toBe(first.headers.get("x-request-id"))
    const lines = logs.map((l) => JSON.parse(l) as Record<string, unknown>)
    for (const line of lines)
      expect(line).toMatchObject({ route: "/metadata/identity/oauth2/token", method: "GET", status: 200 })
    expect(lines[1]?.clientRequestId).toBe("c-1")
  })

  it.each<[string, Record<string, string>, string, number]>([
    ["no Metadata header", {}, "", 400],
    ["X-Forwarded-For", { ...metadata, "X-Forwarded-For": "203.0.113.7" }, "", 400],
    ["a repeated parameter", metadata, "&resource=x", 400],
    ["a body", { ...metadata, "content-length": "3" }, "", 200],
  ])(
    "once the token is cached, %s is still decided by the routed path",
    async (_name, headers, extra, status) => {
      const { app, asked } = cachedSetup()
      expect((await app.request(tokenPath(), { headers: metadata })).status).toBe(200)
      const res = await app.request(`${tokenPath()}${extra}`, { headers })
      expect(res.status).toBe(status)
      expect(asked()).toBe(1)
    },
  )

  it("once the token is cached, a rebinding Host, a remote client and a named identity still get no cached token", async () => {
    const { app, tokenCalls } = cachedSetup()
    expect((await app.request(tokenPath(), { headers: metadata })).status).toBe(200)
    expect(
      (await app.request(`http://rebind.attacker.example${tokenPath()}`, { headers: metadata })).status,
    ).toBe(421)
    const remote = await app.fetch(new Request(`http://127.0.0.1${tokenPath()}`, { headers: metadata }), {
      incoming: { socket: { remoteAddress: "192.0.2.9" } },
    })
    expect(remote.status).toBe(403)
    const named = await app.request(
      tokenPath(`api-version=2018-02-01&resource=${encodeURIComponent(arm)}&client_id=${guid}`),
      {
        headers: metadata,
      },
    )
    expect(((await named.json()) as { client_id: string }).client_id).toBe("client-of-ClientId")
    expect(tokenCalls).toEqual([{ resource: arm, selector: "ClientId" }])
  })
})
