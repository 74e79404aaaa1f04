/**
 * Service Fabric: the request shape, system-assigned only (refused before any request), SF's nested error
 * bodies, its retry guidance (429 and 5xx; not 404) on the TestClock — and the pin: the server certificate's
 * SHA-1 must equal IDENTITY_SERVER_THUMBPRINT before the secret is sent, whoever signed it. The pin is
 * tested against the emulator's real HTTPS endpoint (whose CA this process does not trust).
 */
import { type Emulator, startEmulator } from "@azmi/emulator"
import { HttpClient } from "@effect/platform"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Redacted } from "effect"
import fc from "fast-check"
import { serviceFabricThumbprintCheck } from "../src/AzureHost.js"
import { errorCategory, errorKind } from "../src/Errors.js"
import { IdentitySelector } from "../src/IdentitySelector.js"
import { normaliseThumbprint, sameThumbprint } from "../src/internal/thumbprint.js"
import { hostPolicy, type RetryPolicy } from "../src/Retry.js"
import * as ServiceFabric from "../src/ServiceFabric.js"
import type { Step } from "./fixtures/fakeHttp.js"
import { ARM, failureOf, runSource } from "./fixtures/runSource.js"

const ENDPOINT = "https://127.0.0.1:2377/metadata/identity/oauth2/token"
const THUMB = "9F2C4E6A8B0D1F3E5A7C9B1D3F5E7A9C1B3D5F7E"
const noJitter: RetryPolicy = { ...hostPolicy, jitter: 0 }

const run = (
  respond: (n: number, at: number) => Step,
  selector: IdentitySelector = IdentitySelector.SystemAssigned(),
) =>
  runSource(
    // The fake transport replaces the pinned one (the pin is tested against a real server below).
    Effect.flatMap(HttpClient.HttpClient, (client) =>
      ServiceFabric.make({
        endpoint: `${ENDPOINT}?ignored=1`,
        header: Redacted.make("sf-secret"),
        thumbprint: THUMB,
        policy: noJitter,
        client,
      }),
    ),
    (n, r) => respond(n, r.at),
    selector,
  )

const ok = (_n: number, at: number): Step => ({
  status: 200,
  body: {
    token_type: "Bearer",
    access_token: "eyJ.sf-token.sig",
    expires_on: Math.floor(at / 1000) + 3600,
    resource: ARM,
  },
})

const sfError = (status: number, code: string, message: string): Step => ({
  status,
  body: { error: { correlationId: "7f0c", code, message } },
})

describe("Service Fabric request", () => {
  it.effect(
    "GET IDENTITY_ENDPOINT with api-version 2019-07-01-preview, the resource and the secret header; no Metadata",
    () =>
      Effect.gen(function* () {
        const { exit, requests } = yield* run(ok)
        expect(Exit.isSuccess(exit)).toBe(true)
        const r = requests[0]!
        expect(r.method).toBe("GET")
        expect(r.url.origin + r.url.pathname).toBe(ENDPOINT)
        expect(Object.fromEntries(r.url.searchParams)).toEqual({
          "api-version": "2019-07-01-preview",
          resource: ARM,
        })
        expect(r.headers.secret).toBe("sf-secret")
        expect(r.headers.metadata).toBeUndefined()
        if (Exit.isSuccess(exit)) expect(exit.value.expiresOn % 1000).toBe(0)
      }),
  )

  it.effect("a user-assigned identity is refused before any request, saying the cluster decides", () =>
    Effect.gen(function* () {
      for (const selector of [
        IdentitySelector.ClientId({ clientId: "0d7e6c5b-4a39-4827-9615-0f1e2d3c4b5a" }),
        IdentitySelector.ObjectId({ objectId: "0d7e6c5b-4a39-4827-9615-0f1e2d3c4b5a" }),
      ]) {
        const { exit, requests } = yield* run(ok, selector)
        expect(requests).toHaveLength(0)
        const e = failureOf(exit) as { _tag: string; message: string; hint: string }
        expect(e._tag).toBe("IdentitySelectionUnsupported")
        expect(e.message).toMatch(/^Service Fabric supports only its system-assigned identity/)
        expect(e.hint).toContain("set in the cluster")
        expect(errorKind(e as never)).toBe("IdentityUnavailable")
      }
    }),
  )

  it.effect("expires_on as an integer or a numeric string", () =>
    Effect.gen(function* () {
      for (const expiresOn of [7200, "7200"]) {
        const { exit } = yield* run(() => ({
          status: 200,
          body: { access_token: "t", expires_on: expiresOn },
        }))
        expect(exit).toMatchObject(Exit.succeed(expect.objectContaining({ expiresOn: 7_200_000 })))
      }
    }),
  )
})

describe("Service Fabric errors (nested {error: {code, message}}) and retry guidance", () => {
  it.effect(
    "SecretHeaderInvalid (401): not retried; the hint names the secret header and IDENTITY_HEADER",
    () =>
      Effect.gen(function* () {
        const { exit, requests } = yield* run(() =>
          sfError(401, "SecretHeaderInvalid", "The secret in the request headers is not valid."),
        )
        expect(requests).toHaveLength(1)
        const e = failureOf(exit) as { _tag: string; error: string; errorDescription: string; hint: string }
        expect(e).toMatchObject({
          _tag: "TokenRequestFailed",
          status: 401,
          error: "SecretHeaderInvalid",
          errorDescription: "The secret in the request headers is not valid.",
        })
        expect(e.hint).toBe(
          "The endpoint refused the secret header azmi sent: set IDENTITY_HEADER to the secret the host gave this process.",
        )
        expect(errorCategory(e as never)).toBe("AuthenticationFailed")
      }),
  )

  it.effect("ManagedIdentityNotFound (404) is IdentityNotFound with Service Fabric's fix, not retried", () =>
    Effect.gen(function* () {
      const { exit, requests } = yield* run(() =>
        sfError(404, "ManagedIdentityNotFound", "No managed identity is configured for the application."),
      )
      expect(requests).toHaveLength(1)
      const e = failureOf(exit) as { _tag: string; hint: string }
      expect(e._tag).toBe("IdentityNotFound")
      expect(e.hint).toContain("assign a managed identity to the application")
    }),
  )

  it.effect("5xx is retried with backoff: attempts at 0, 1, 3, 7 s", () =>
    Effect.gen(function* () {
      const { exit, times } = yield* run((n, at) =>
        n < 4 ? sfError(503, "ServiceUnavailable", "busy") : ok(n, at),
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(times).toEqual([0, 1_000, 3_000, 7_000])
    }),
  )

  it.effect("429 waits for Retry-After; 404, 408 and 410 are not retried (unlike IMDS)", () =>
    Effect.gen(function* () {
      const throttled = yield* run((n, at) =>
        n === 1
          ? { ...sfError(429, "TooManyRequests", "slow down"), headers: { "retry-after": "5" } }
          : ok(n, at),
      )
      expect(throttled.times).toEqual([0, 5_000])
      for (const status of [404, 408, 410]) {
        const { requests } = yield* run(() => sfError(status, "Whatever", "no"))
        expect(requests).toHaveLength(1)
      }
    }),
  )
})

describe("IDENTITY_SERVER_THUMBPRINT normalisation (hostile inputs)", () => {
  const seed = Number(process.env.FC_SEED ?? Date.now() ^ (Math.random() * 2 ** 31))
  console.log(`service-fabric thumbprint properties: fast-check seed ${seed}`)

  it("any spelling of a thumbprint (case, colons, spaces anywhere) normalises to its 40 upper-case digits", () => {
    const spelling = fc
      .tuple(
        fc.uint8Array({ minLength: 20, maxLength: 20 }),
        fc.array(fc.constantFrom("", "", "", ":", " ", "\t", " : "), { minLength: 41, maxLength: 41 }),
        fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
      )
      .map(([bytes, seps, upper]) => {
        const hex = Buffer.from(bytes).toString("hex").toUpperCase()
        const shown = [...hex].map((c, i) => (upper[i] ? c : c.toLowerCase()))
        return { hex, raw: shown.map((c, i) => seps[i] + c).join("") + seps[40] }
      })
    fc.assert(
      fc.property(spelling, ({ hex, raw }) => normaliseThumbprint(raw) === hex),
      { seed, numRuns: 500 },
    )
  })

  it("anything that is not 40 hex digits after dropping case, colons and spaces is refused", () => {
    const oracle = (raw: string) => {
      const bare = raw
        .split("")
        .filter((c) => c !== ":" && !/\s/.test(c))
        .join("")
      return bare.length === 40 && [...bare].every((c) => "0123456789abcdefABCDEF".includes(c))
    }
    const hostile = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.string({ unit: fc.constantFrom(..."0123456789abcdefABCDEF:- \u00a0\uff10\u0660gG"), maxLength: 70 }),
      fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 38, maxLength: 66 }),
    )
    fc.assert(
      fc.property(hostile, (raw) => (normaliseThumbprint(raw) !== undefined) === oracle(raw)),
      { seed, numRuns: 2_000 },
    )
  })

  it("two normalised thumbprints match exactly when they are equal", () => {
    const thumb = fc
      .uint8Array({ minLength: 20, maxLength: 20 })
      .map((b) => Buffer.from(b).toString("hex").toUpperCase())
    fc.assert(
      fc.property(thumb, thumb, fc.nat(39), (a, b, i) => {
        const oneOff = a.slice(0, i) + (a[i] === "0" ? "1" : "0") + a.slice(i + 1)
        return sameThumbprint(a, b) === (a === b) && sameThumbprint(a, a) && !sameThumbprint(a, oneOff)
      }),
      { seed, numRuns: 500 },
    )
  })
})

describe("the pin, against the emulator's Service Fabric endpoint (its CA not trusted here)", () => {
  let emu: Emulator
  beforeAll(async () => {
    emu = await startEmulator({ source: "service-fabric" })
  })
  afterAll(async () => {
    await emu?.close()
  })

  const sfRequests = () => emu.requests.count({ target: "service-fabric-token" })

  const pinned = (thumbprint: string) =>
    Effect.scoped(
      Effect.flatMap(
        ServiceFabric.make({
          endpoint: emu.env.IDENTITY_ENDPOINT!,
          header: Redacted.make(emu.env.IDENTITY_HEADER!),
          thumbprint,
          policy: { ...hostPolicy, baseDelayMs: 5, maxDelayMs: 5 },
        }),
        (source) => Effect.exit(source.requestToken(ARM, IdentitySelector.SystemAssigned())),
      ),
    )

  it.live(
    "the right thumbprint (however it was written) gets a token, though no trusted CA signed the certificate",
    () =>
      Effect.gen(function* () {
        // As Windows shows it: lower case, the bytes separated by colons (ServiceFabric.make normalises).
        const thumbprint = normaliseThumbprint(emu.env.IDENTITY_SERVER_THUMBPRINT!)!
          .toLowerCase()
          .replace(/(..)(?!$)/g, "$1:")
        const before = sfRequests()
        const exit = yield* pinned(thumbprint)
        expect(exit).toMatchObject(
          Exit.succeed(expect.objectContaining({ resource: ARM, tokenType: "Bearer" })),
        )
        expect(sfRequests() - before).toBe(1)
      }),
  )

  it.live(
    "another thumbprint: ServerCertificateMismatch naming both, not retried, and no request reached the server",
    () =>
      Effect.gen(function* () {
        const actual = normaliseThumbprint(emu.env.IDENTITY_SERVER_THUMBPRINT!)!
        const wrong = `${actual.slice(0, 39)}${actual.endsWith("0") ? "1" : "0"}`
        const before = sfRequests()
        const exit = yield* pinned(wrong)
        const e = failureOf(exit) as { _tag: string; expected: string; actual: string; message: string }
        expect(e).toMatchObject({ _tag: "ServerCertificateMismatch", expected: wrong, actual })
        expect(e.message).toContain(wrong)
        expect(e.message).toContain(actual)
        expect(e.message).toContain("the secret was not sent")
        expect(errorCategory(e as never)).toBe("AuthenticationFailed")
        expect(sfRequests() - before).toBe(0)
      }),
  )

  it.live("azmi doctor's check compares the certificate without sending anything", () =>
    Effect.gen(function* () {
      const actual = normaliseThumbprint(emu.env.IDENTITY_SERVER_THUMBPRINT!)!
      const before = sfRequests()
      const good = yield* serviceFabricThumbprintCheck(emu.env.IDENTITY_ENDPOINT!, actual, 1_000)
      const bad = yield* serviceFabricThumbprintCheck(emu.env.IDENTITY_ENDPOINT!, THUMB, 1_000)
      expect(good).toMatchObject({ ok: true })
      expect(bad).toMatchObject({ ok: false })
      expect(bad.detail).toContain(actual)
      expect(bad.detail).toContain(THUMB)
      expect(sfRequests() - before).toBe(0)
    }),
  )
})
