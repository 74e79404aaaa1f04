/**
 * Integration tests against @azmi/emulator (IMDS, Entra token issuer) and small local servers.
 * Everything listens on 127.0.0.1 and is closed at the end.
 */
import { createServer, type IncomingMessage, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { type Emulator, startEmulator } from "@azmi/emulator"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Logger, LogLevel, Redacted } from "effect"
import * as ClientSecret from "../src/ClientSecret.js"
import { AzmiConfig } from "../src/Config.js"
import * as HttpTransport from "../src/HttpTransport.js"
import { IdentitySelector } from "../src/IdentitySelector.js"
import { InstanceMetadata } from "../src/InstanceMetadata.js"
import * as InstanceMetadataLive from "../src/InstanceMetadataLive.js"
import * as ManagedIdentity from "../src/ManagedIdentity.js"
import { TokenProvider } from "../src/TokenProvider.js"

let emu: Emulator
const servers: Array<Server> = []

beforeAll(async () => {
  emu = await startEmulator({
    limits: { imdsRequestsPerSecond: Number.POSITIVE_INFINITY, imdsConcurrency: Number.POSITIVE_INFINITY },
  })
})
afterAll(async () => {
  await emu?.close()
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
})

const ARM = "https://management.azure.com/"

const failure = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined

/** A local HTTP server answering with `handler`; records the requests. */
const serve = async (
  handler: (req: IncomingMessage, body: string) => { status: number; body: unknown; delayMs?: number },
) => {
  const seen: Array<IncomingMessage> = []
  const server = createServer((req, res) => {
    seen.push(req)
    let body = ""
    req.on("data", (c) => {
      body += c
    })
    req.on("end", () => {
      const r = handler(req, body)
      setTimeout(() => {
        res.writeHead(r.status, { "content-type": "application/json" })
        res.end(JSON.stringify(r.body))
      }, r.delayMs ?? 0)
    })
  })
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server }
}

const tokenBody = () => ({
  access_token: "eyJ.local.sig",
  expires_on: String(Math.floor(Date.now() / 1000) + 3600),
  resource: ARM,
  token_type: "Bearer",
})

describe("managed identity against the emulator", () => {
  it.live(
    "gets a token for the VM's system-assigned identity; 100 concurrent cold calls → 1 IMDS request",
    () =>
      Effect.gen(function* () {
        emu.requests.reset()
        const tp = yield* TokenProvider
        const tokens = yield* Effect.all(
          Array.from({ length: 100 }, () => tp.getToken(ARM)),
          { concurrency: "unbounded" },
        )
        expect(emu.requests.count({ target: "imds-token" })).toBe(1)
        const jwt = Redacted.value(tokens[0]!.token)
        const payload = JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString())
        expect(payload.aud).toBe(ARM)
        expect(tokens[0]!.resource).toBe(ARM)
        expect(tokens[0]!.expiresOn).toBeGreaterThan(Date.now())
        expect(tokens[0]!.refreshOn).toBeLessThan(tokens[0]!.expiresOn)
      }).pipe(Effect.provide(ManagedIdentity.layer({ imdsEndpoint: emu.imdsUrl }))),
  )

  it.live("retries an injected 503 (Retry-After: 0) and succeeds", () =>
    Effect.gen(function* () {
      emu.requests.reset()
      emu.faults.inject({ target: "imds-token", status: 503, retryAfter: 0, count: 2 })
      const tp = yield* TokenProvider
      yield* tp.getToken("https://vault.azure.net")
      expect(emu.requests.count({ target: "imds-token" })).toBe(3)
    }).pipe(Effect.provide(ManagedIdentity.layer({ imdsEndpoint: emu.imdsUrl }))),
  )

  it.live(
    "an unknown user-assigned identity is IdentityNotFound; a missing access_token is MalformedTokenResponse",
    () =>
      Effect.gen(function* () {
        const other = yield* Effect.exit(
          Effect.flatMap(TokenProvider, (tp) => tp.getToken(ARM)).pipe(
            Effect.provide(
              ManagedIdentity.layer({
                imdsEndpoint: emu.imdsUrl,
                identity: IdentitySelector.ClientId({ clientId: "00000000-0000-0000-0000-0000000000aa" }),
              }),
            ),
          ),
        )
        expect(failure(other)).toMatchObject({
          _tag: "IdentityNotFound",
          selector: "client_id=00000000-0000-0000-0000-0000000000aa",
        })
        emu.faults.inject({ target: "imds-token", malformed: "missing-access-token" })
        const malformed = yield* Effect.exit(
          Effect.flatMap(TokenProvider, (tp) => tp.getToken(ARM)).pipe(
            Effect.provide(ManagedIdentity.layer({ imdsEndpoint: emu.imdsUrl })),
          ),
        )
        expect(failure(malformed)).toMatchObject({ _tag: "MalformedTokenResponse", field: "access_token" })
        emu.faults.clear()
      }),
  )

  it.live("instance metadata gives the VM's subscription and resource group", () =>
    Effect.gen(function* () {
      emu.requests.reset()
      const compute = yield* Effect.flatMap(InstanceMetadata, (m) => m.compute)
      yield* Effect.flatMap(InstanceMetadata, (m) => m.compute)
      expect(emu.requests.count({ target: "imds-instance" })).toBe(1)
      expect(compute.subscriptionId).toBe(emu.subscriptionId)
      expect(compute.resourceGroupName).toBe(emu.vm.resourceGroup)
      expect(compute.name).toBe(emu.vm.name)
    }).pipe(
      Effect.provide(
        InstanceMetadataLive.layer.pipe(
          Layer.provide(HttpTransport.layerConfig),
          Layer.provideMerge(AzmiConfig.layer({ imdsEndpoint: emu.imdsUrl })),
        ),
      ),
    ),
  )
})

describe("instance metadata off Azure", () => {
  it.live("nothing listening: ImdsUnavailable at once", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(Effect.flatMap(InstanceMetadata, (m) => m.compute))
      expect(failure(exit)).toMatchObject({ _tag: "ImdsUnavailable", reason: "ConnectionRefused" })
    }).pipe(
      Effect.provide(
        InstanceMetadataLive.layer.pipe(
          Layer.provide(HttpTransport.layerConfig),
          Layer.provideMerge(AzmiConfig.layer({ imdsEndpoint: "http://127.0.0.1:9" })),
        ),
      ),
    ),
  )
})

describe("service principal against the emulator", () => {
  it.live("gets a token with the admin's client secret and refuses a wrong one", () =>
    Effect.gen(function* () {
      const base = {
        tenantId: emu.admin.tenantId,
        clientId: emu.admin.clientId,
        authorityHost: emu.loginUrl,
        caCert: emu.caCert,
        credential: "client-secret" as const,
      }
      const lines: Array<string> = []
      const capture = Logger.make(({ message, annotations }) => {
        lines.push(JSON.stringify({ message, annotations: Object.fromEntries(annotations) }))
      })
      const ok = yield* Effect.flatMap(TokenProvider, (tp) => tp.getToken(ARM)).pipe(
        Effect.provide(ClientSecret.layer({ ...base, clientSecret: emu.admin.clientSecret })),
        Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
        Logger.withMinimumLogLevel(LogLevel.All),
      )
      const payload = JSON.parse(Buffer.from(Redacted.value(ok.token).split(".")[1]!, "base64url").toString())
      expect(payload.aud).toMatch(/^https:\/\/management\.azure\.com\/?$/)
      const bad = yield* Effect.exit(
        Effect.flatMap(TokenProvider, (tp) => tp.getToken(ARM)).pipe(
          Effect.provide(ClientSecret.layer({ ...base, clientSecret: "wrong-secret-value" })),
          Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
          Logger.withMinimumLogLevel(LogLevel.All),
        ),
      )
      const error = failure(bad) as Error
      expect(error).toMatchObject({ _tag: "ClientAuthenticationFailed" })
      expect(error.message).not.toContain("wrong-secret-value")
      for (const line of lines) {
        expect(line).not.toContain(emu.admin.clientSecret)
        expect(line).not.toContain("wrong-secret-value")
        expect(line).not.toContain(Redacted.value(ok.token))
      }
    }),
  )
})

describe("HTTP transport (live sockets)", () => {
  it.live("sends User-Agent azmi/<version>, a fresh x-ms-client-request-id and no tracing headers", () =>
    Effect.gen(function* () {
      const srv = yield* Effect.promise(() => serve(() => ({ status: 200, body: tokenBody() })))
      yield* Effect.flatMap(TokenProvider, (tp) =>
        Effect.zip(tp.getToken(ARM), tp.getToken("https://vault.azure.net")),
      ).pipe(Effect.provide(ManagedIdentity.layer({ imdsEndpoint: srv.url })))
      const [a, b] = srv.seen
      expect(a!.headers["user-agent"]).toMatch(/^azmi\/\d+\.\d+\.\d+/)
      expect(a!.headers["x-ms-client-request-id"]).toMatch(/^[0-9a-f-]{36}$/)
      expect(b!.headers["x-ms-client-request-id"]).not.toBe(a!.headers["x-ms-client-request-id"])
      expect(a!.headers.traceparent).toBeUndefined()
      expect(a!.headers.b3).toBeUndefined()
      expect(a!.headers.metadata).toBe("true")
    }),
  )

  it.live("nothing listening: ImdsUnavailable (ConnectionRefused) after a single attempt", () =>
    Effect.gen(function* () {
      const srv = yield* Effect.promise(() => serve(() => ({ status: 200, body: {} })))
      yield* Effect.promise(() => new Promise((r) => srv.server.close(r)))
      const exit = yield* Effect.exit(
        Effect.flatMap(TokenProvider, (tp) => tp.getToken(ARM)).pipe(
          Effect.provide(ManagedIdentity.layer({ imdsEndpoint: srv.url })),
        ),
      )
      expect(failure(exit)).toMatchObject({ _tag: "ImdsUnavailable", reason: "ConnectionRefused" })
      expect(srv.seen).toHaveLength(0)
    }),
  )

  it.live("once connected, a response slower than the connect timeout is waited for", () =>
    Effect.gen(function* () {
      const srv = yield* Effect.promise(() => serve(() => ({ status: 200, body: tokenBody(), delayMs: 700 })))
      const token = yield* Effect.flatMap(TokenProvider, (tp) => tp.getToken(ARM)).pipe(
        Effect.provide(ManagedIdentity.layer({ imdsEndpoint: srv.url, connectTimeoutMs: 200 })),
      )
      expect(Redacted.value(token.token)).toBe("eyJ.local.sig")
      expect(srv.seen).toHaveLength(1)
    }),
  )

  it.live("App Service: IDENTITY_ENDPOINT with X-IDENTITY-HEADER, api-version 2019-08-01 and mi_res_id", () =>
    Effect.gen(function* () {
      const srv = yield* Effect.promise(() =>
        serve((req) =>
          req.headers["x-identity-header"] === "the-header-secret"
            ? { status: 200, body: { ...tokenBody(), expires_on: "11/05/2099 15:18:31 +00:00" } }
            : { status: 401, body: { statusCode: 401, message: "bad header" } },
        ),
      )
      const token = yield* Effect.flatMap(TokenProvider, (tp) => tp.getToken(ARM)).pipe(
        Effect.provide(
          ManagedIdentity.layer({
            identityEndpoint: `${srv.url}/msi/token`,
            identityHeader: "the-header-secret",
            identity: IdentitySelector.ResourceId({
              resourceId:
                "/subscriptions/98f51385-2edc-4b79-bed9-7718de4cb861/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x",
            }),
          }),
        ),
      )
      const url = new URL(srv.seen[0]!.url!, srv.url)
      expect(url.pathname).toBe("/msi/token")
      expect(url.searchParams.get("api-version")).toBe("2019-08-01")
      expect(url.searchParams.get("mi_res_id")).toBe(
        "/subscriptions/98f51385-2edc-4b79-bed9-7718de4cb861/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x",
      )
      expect(url.searchParams.get("resource")).toBe(ARM)
      expect(token.expiresOn).toBe(Date.UTC(2099, 10, 5, 15, 18, 31))
    }),
  )
})
