import { spawn, spawnSync } from "node:child_process"
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Option, Redacted } from "effect"
import { AzmiConfig, type ConfigOptions, isLocalHost } from "../src/Config.js"
import { IdentitySelector } from "../src/IdentitySelector.js"

const resolve = (env: Record<string, string>, options: ConfigOptions = {}) =>
  AzmiConfig.make(options).pipe(
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
  )

const failure = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined

describe("AzmiConfig", () => {
  it.effect("defaults: IMDS at 169.254.169.254, system-assigned, managed identity, 1 s / 10 s / 120 s", () =>
    Effect.gen(function* () {
      const c = yield* resolve({})
      expect(c.source).toEqual({ _tag: "Imds", endpoint: "http://169.254.169.254" })
      expect(c.identity).toEqual(IdentitySelector.SystemAssigned())
      expect(c.credential).toBe("managed-identity")
      expect([c.connectTimeoutMs, c.attemptTimeoutMs, c.deadlineMs]).toEqual([1_000, 10_000, 120_000])
      expect(c.armEndpoint).toBe("https://management.azure.com")
      expect(c.armAudience).toBe("https://management.azure.com/")
    }),
  )

  it.effect(
    "AZMI_IMDS_ENDPOINT wins over AZURE_POD_IDENTITY_AUTHORITY_HOST; a trailing slash is dropped",
    () =>
      Effect.gen(function* () {
        const both = yield* resolve({
          AZMI_IMDS_ENDPOINT: "http://127.0.0.1:8080/",
          AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://127.0.0.1:9090",
        })
        expect(both.source).toEqual({ _tag: "Imds", endpoint: "http://127.0.0.1:8080" })
        const pod = yield* resolve({ AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://localhost:9090/" })
        expect(pod.source).toEqual({ _tag: "Imds", endpoint: "http://localhost:9090" })
      }),
  )

  it.effect("AZURE_CLIENT_ID selects a user-assigned identity by client id", () =>
    Effect.gen(function* () {
      const c = yield* resolve({ AZURE_CLIENT_ID: "11111111-2222-3333-4444-555555555555" })
      expect(c.identity).toEqual(
        IdentitySelector.ClientId({ clientId: "11111111-2222-3333-4444-555555555555" }),
      )
    }),
  )

  it.effect("a selector id that is not a GUID / UAMI resource id is refused before any request", () =>
    Effect.gen(function* () {
      const env = yield* Effect.exit(resolve({ AZURE_CLIENT_ID: "not a guid" }))
      expect(failure(env)).toMatchObject({ _tag: "InvalidConfiguration", variable: "AZURE_CLIENT_ID" })
      const obj = yield* Effect.exit(
        resolve({}, { identity: IdentitySelector.ObjectId({ objectId: "x&y=1" }) }),
      )
      expect(failure(obj)).toMatchObject({ _tag: "InvalidConfiguration", variable: "identity.objectId" })
      const res = yield* Effect.exit(
        resolve({}, { identity: IdentitySelector.ResourceId({ resourceId: "/subscriptions/x/../../evil" }) }),
      )
      expect(failure(res)).toMatchObject({ _tag: "InvalidConfiguration", variable: "identity.resourceId" })
      const ok = yield* resolve(
        {},
        {
          identity: IdentitySelector.ResourceId({
            resourceId:
              "/subscriptions/98f51385-2edc-4b79-bed9-7718de4cb861/resourceGroups/DevTest/providers/Microsoft.ManagedIdentity/userAssignedIdentities/my-id",
          }),
        },
      )
      expect(ok.identity._tag).toBe("ResourceId")
    }),
  )

  it.effect("IDENTITY_ENDPOINT + IDENTITY_HEADER choose App Service, header Redacted", () =>
    Effect.gen(function* () {
      const c = yield* resolve({
        IDENTITY_ENDPOINT: "http://127.0.0.1:41741/msi/token",
        IDENTITY_HEADER: "h-secret",
      })
      expect(c.source._tag).toBe("AppService")
      if (c.source._tag === "AppService") {
        expect(c.source.endpoint).toBe("http://127.0.0.1:41741/msi/token")
        expect(Redacted.value(c.source.header)).toBe("h-secret")
        expect(JSON.stringify(c)).not.toContain("h-secret")
      }
      const onlyOne = yield* resolve({ IDENTITY_ENDPOINT: "http://127.0.0.1:41741/msi/token" })
      expect(onlyOne.source._tag).toBe("Imds")
    }),
  )

  it.effect("tenant, client id and secret together select the service principal, secret Redacted", () =>
    Effect.gen(function* () {
      const c = yield* resolve({
        AZURE_TENANT_ID: "t1",
        AZURE_CLIENT_ID: "0c1c1c1c-1111-2222-3333-444444444444",
        AZURE_CLIENT_SECRET: "s3cret",
      })
      expect(c.credential).toBe("client-secret")
      const sp = Option.getOrThrow(c.clientSecret)
      expect(sp.authorityHost).toBe("https://login.microsoftonline.com")
      expect(JSON.stringify(c)).not.toContain("s3cret")
      const forced = yield* Effect.exit(resolve({}, { credential: "client-secret" }))
      expect(failure(forced)).toMatchObject({ _tag: "InvalidConfiguration" })
    }),
  )

  it.effect("managed-identity endpoints must be loopback or link-local unless allowed", () =>
    Effect.gen(function* () {
      const rejected = [
        "http://127.0.0.1@evil.com",
        "http://169.254.169.254.evil.com",
        "http://10.0.0.1",
        "http://0.0.0.0:80",
        "http://imds-emulator:8080",
        "http://user:pw@127.0.0.1",
        "file:///etc/passwd",
        "not a url",
      ]
      for (const endpoint of rejected) {
        const exit = yield* Effect.exit(resolve({ AZMI_IMDS_ENDPOINT: endpoint }))
        expect(failure(exit), endpoint).toMatchObject({
          _tag: "InvalidConfiguration",
          variable: "AZMI_IMDS_ENDPOINT",
        })
      }
      const appService = yield* Effect.exit(
        resolve({ IDENTITY_ENDPOINT: "http://evil.com/token", IDENTITY_HEADER: "h" }),
      )
      expect(failure(appService)).toMatchObject({
        _tag: "InvalidConfiguration",
        variable: "IDENTITY_ENDPOINT",
      })
      for (const endpoint of [
        "http://127.0.0.1:1",
        "http://127.8.9.1",
        "http://[::1]:80",
        "http://localhost",
        "http://169.254.10.20",
        "http://2130706433",
      ]) {
        const c = yield* resolve({ AZMI_IMDS_ENDPOINT: endpoint })
        expect(c.source._tag, endpoint).toBe("Imds")
      }
      const allowed = yield* resolve({
        AZMI_IMDS_ENDPOINT: "http://10.0.0.1",
        AZMI_ALLOW_REMOTE_ENDPOINTS: "1",
      })
      expect(allowed.source).toEqual({ _tag: "Imds", endpoint: "http://10.0.0.1" })
      const byOption = yield* resolve({}, { imdsEndpoint: "http://10.0.0.1", allowNonLocalEndpoints: true })
      expect(byOption.source).toEqual({ _tag: "Imds", endpoint: "http://10.0.0.1" })
    }),
  )

  it.effect("the authority and ARM endpoints must be https unless they are on this machine", () =>
    Effect.gen(function* () {
      const authority = yield* Effect.exit(resolve({ AZURE_AUTHORITY_HOST: "http://login.example.com" }))
      expect(failure(authority)).toMatchObject({
        _tag: "InvalidConfiguration",
        variable: "AZURE_AUTHORITY_HOST",
      })
      const arm = yield* Effect.exit(resolve({ AZMI_ARM_ENDPOINT: "http://management.example.com" }))
      expect(failure(arm)).toMatchObject({ _tag: "InvalidConfiguration", variable: "AZMI_ARM_ENDPOINT" })
      const local = yield* resolve({
        AZMI_ARM_ENDPOINT: "http://127.0.0.1:8443/",
        AZURE_AUTHORITY_HOST: "https://login.example.com/",
      })
      expect(local.armEndpoint).toBe("http://127.0.0.1:8443")
    }),
  )

  it("isLocalHost", () => {
    expect(isLocalHost("127.0.0.1")).toBe(true)
    expect(isLocalHost("169.254.169.254")).toBe(true)
    expect(isLocalHost("[fe80::1]")).toBe(true)
    expect(isLocalHost("169.255.0.1")).toBe(false)
    expect(isLocalHost("128.0.0.1")).toBe(false)
    expect(isLocalHost("[::2]")).toBe(false)
    // fe80::/10 is fe80–febf as a full hextet; "fe8::" is 0fe8::, not link-local.
    expect(isLocalHost("[febf::1]")).toBe(true)
    expect(isLocalHost("[fe8::1]")).toBe(false)
    expect(isLocalHost(new URL("http://[0fe8::1]/").hostname)).toBe(false)
    expect(isLocalHost("[fec0::1]")).toBe(false)
  })

  it.effect("bad timeouts are InvalidConfiguration naming the variable", () =>
    Effect.gen(function* () {
      for (const [k, v] of [
        ["AZMI_CONNECT_TIMEOUT_MS", "abc"],
        ["AZMI_DEADLINE_MS", "-5"],
        ["AZMI_ATTEMPT_TIMEOUT_MS", "1.5"],
      ]) {
        const exit = yield* Effect.exit(resolve({ [k!]: v! }))
        expect(failure(exit)).toMatchObject({ _tag: "InvalidConfiguration", variable: k })
      }
      const ok = yield* resolve({ AZMI_CONNECT_TIMEOUT_MS: "250", AZMI_DEADLINE_MS: "5000" })
      expect([ok.connectTimeoutMs, ok.deadlineMs]).toEqual([250, 5000])
    }),
  )

  it.effect(
    "AZMI_CA_CERT_FILE must be a regular file: a FIFO or a device is refused, never read (it would block)",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "azmi-config-"))
        try {
          const fifo = join(dir, "ca.fifo")
          spawnSync("mkfifo", [fifo])
          // Without the check, the read would block until this writer (2 s later) writes and closes.
          const writer = spawn("sh", ["-c", `sleep 2; echo not-a-ca > '${fifo}'`], { stdio: "ignore" })
          try {
            for (const path of [fifo, "/dev/zero", dir]) {
              const exit = yield* Effect.exit(resolve({ AZMI_CA_CERT_FILE: path }))
              expect(failure(exit), path).toMatchObject({
                _tag: "InvalidConfiguration",
                variable: "AZMI_CA_CERT_FILE",
              })
            }
          } finally {
            writer.kill()
            // Release the writer if it is already blocked opening the FIFO.
            yield* Effect.sync(() => closeSync(openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK)))
          }
          writeFileSync(join(dir, "ca.pem"), "PEM")
          expect(
            Option.getOrUndefined((yield* resolve({ AZMI_CA_CERT_FILE: join(dir, "ca.pem") })).caCert),
          ).toBe("PEM")
        } finally {
          rmSync(dir, { recursive: true, force: true })
        }
      }),
  )

  describe("identityKey: everything that selects the identity, never a secret", () => {
    const key = (env: Record<string, string>, options: ConfigOptions = {}) =>
      Effect.map(resolve(env, options), (c) => c.identityKey)
    const sp = {
      AZURE_TENANT_ID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
      AZURE_CLIENT_ID: "b3c1e2d4-5f6a-4b7c-8d9e-0a1b2c3d4e5f",
      AZURE_CLIENT_SECRET: "s3cret-one",
    }
    const app = { IDENTITY_ENDPOINT: "http://127.0.0.1:41741/msi/token", IDENTITY_HEADER: "header-one" }

    it.effect("differs in each thing that selects an identity, and only in those", () =>
      Effect.gen(function* () {
        const keys = [
          yield* key({}),
          yield* key({ AZMI_IMDS_ENDPOINT: "http://127.0.0.1:8080" }),
          yield* key({ AZURE_CLIENT_ID: "11111111-2222-3333-4444-555555555555" }),
          yield* key(
            {},
            { identity: IdentitySelector.ObjectId({ objectId: "11111111-2222-3333-4444-555555555555" }) },
          ),
          yield* key(app),
          yield* key({ ...app, IDENTITY_ENDPOINT: "http://127.0.0.1:41742/msi/token" }),
          yield* key({ ...app, IDENTITY_HEADER: "header-two" }),
          yield* key(sp),
          yield* key({ ...sp, AZURE_CLIENT_SECRET: "s3cret-two" }),
          yield* key({ ...sp, AZURE_TENANT_ID: "contoso.onmicrosoft.com" }),
          yield* key({ ...sp, AZURE_AUTHORITY_HOST: "https://login.microsoftonline.us" }),
        ]
        expect(new Set(keys).size).toBe(keys.length)
        // Not in the key: what does not change the identity (ARM endpoint, time budgets, id case).
        expect(yield* key({ AZMI_ARM_ENDPOINT: "https://127.0.0.1:1", AZMI_DEADLINE_MS: "5" })).toBe(keys[0])
        expect(yield* key({ AZURE_CLIENT_ID: "11111111-2222-3333-4444-555555555555".toUpperCase() })).toBe(
          keys[2],
        )
        expect(yield* key({ ...app, IDENTITY_ENDPOINT: `${app.IDENTITY_ENDPOINT}?x=1` })).toBe(keys[4])
      }),
    )

    it.effect("follows the credential the core chose: a forced managed identity ignores the secret", () =>
      Effect.gen(function* () {
        expect(yield* key(sp, { credential: "managed-identity" })).toBe(
          yield* key({ AZURE_CLIENT_ID: sp.AZURE_CLIENT_ID }),
        )
        expect(JSON.parse(yield* key(sp))[0]).toBe("client-secret")
      }),
    )

    it.effect("holds digests of the secret and the identity header, never the values", () =>
      Effect.gen(function* () {
        const spKey = yield* key(sp)
        const appKey = yield* key(app)
        expect(spKey).not.toContain("s3cret")
        expect(appKey).not.toContain("header-one")
        expect(spKey).toMatch(/"sha256:[0-9a-f]{64}"/)
        expect(appKey).toMatch(/"sha256:[0-9a-f]{64}"/)
      }),
    )
  })
})
