/**
 * Azure Arc, safely: the challenge file is read only when the realm is exactly `<dir>/<name>.key` after
 * normalisation, it is no link, a regular file of at most 4096 bytes with a printable secret; anything else
 * is ArcChallengeFailed naming the rule and the secret request is never sent. One challenge round. A
 * user-assigned identity counts only when the response echoes it. (A temporary directory stands in for
 * /var/opt/azcmagent/tokens; the directory is an option of the source for tests only.)
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, posix } from "node:path"
import { HttpClient } from "@effect/platform"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Layer, Redacted, TestClock } from "effect"
import fc from "fast-check"
import * as AzureArc from "../src/AzureArc.js"
import { ARC_KEY_DIRECTORY, ArcChallengeFailed, errorCategory } from "../src/Errors.js"
import { IdentitySelector } from "../src/IdentitySelector.js"
import { keyFileOf, readKeyFile } from "../src/internal/arcChallenge.js"
import * as ManagedIdentity from "../src/ManagedIdentity.js"
import { ManagedIdentitySource } from "../src/ManagedIdentitySource.js"
import { hostPolicy, type RetryPolicy } from "../src/Retry.js"
import { TokenProvider } from "../src/TokenProvider.js"
import { makeFake, type Recorded, type Step } from "./fixtures/fakeHttp.js"
import { ARM, failureOf, runSource } from "./fixtures/runSource.js"

const ENDPOINT = "http://127.0.0.1:40342/metadata/identity/oauth2/token"
const noJitter: RetryPolicy = { ...hostPolicy, jitter: 0 }
const SECRET = "5d1c9e0a7b3f4e26a8c0d2f4b6e8a0c2d4f6b8e0a2c4e6f8b0d2f4a6c8e0b2d4"
const CLIENT = "0d7e6c5b-4a39-4827-9615-0f1e2d3c4b5a"

let root: string
let dir: string
let outside: string
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "azmi-arc-"))
  dir = join(root, "tokens")
  outside = join(root, "elsewhere")
  mkdirSync(dir)
  mkdirSync(outside)
  writeFileSync(join(dir, "good.key"), SECRET)
  writeFileSync(join(outside, "private.key"), "not-for-arc")
  symlinkSync(join(outside, "private.key"), join(dir, "out.key"))
  symlinkSync(join(dir, "good.key"), join(dir, "inside.key"))
  mkdirSync(join(dir, "adir.key"))
  execFileSync("mkfifo", [join(dir, "pipe.key")])
  writeFileSync(join(dir, "max.key"), "a".repeat(4096))
  writeFileSync(join(dir, "big.key"), "a".repeat(4097))
  writeFileSync(join(dir, "empty.key"), "")
  writeFileSync(join(dir, "newline.key"), `${SECRET}\n`)
})
afterAll(() => {
  rmSync(root, { recursive: true, force: true })
})

const tokenBody = (at: number, extra: Record<string, string> = {}) => ({
  access_token: "eyJ.arc-token.sig",
  expires_in: "86399",
  expires_on: String(Math.floor(at / 1000) + 86_399),
  resource: ARM,
  token_type: "Bearer",
  ...extra,
})

/** HIMDS: a 401 naming `realm` without Authorization, the token (and `extra`) with the file's secret. */
const himds =
  (realm: string | undefined, extra: Record<string, string> = {}) =>
  (_n: number, r: Recorded): Step => {
    if (r.headers.authorization === undefined) {
      return {
        status: 401,
        body: { error: "unauthorized_client", error_description: "key file" },
        headers: realm === undefined ? {} : { "www-authenticate": `Basic realm=${realm}` },
      }
    }
    return r.headers.authorization === `Basic ${SECRET}`
      ? { status: 200, body: tokenBody(r.at, extra) }
      : { status: 401, headers: { "www-authenticate": `Basic realm=${join(dir, "good.key")}` } }
  }

const run = (
  respond: (n: number, r: Recorded) => Step,
  selector: IdentitySelector = IdentitySelector.SystemAssigned(),
) => runSource(AzureArc.make({ endpoint: ENDPOINT, policy: noJitter, keyDirectory: dir }), respond, selector)

const sentSecret = (requests: ReadonlyArray<Recorded>) =>
  requests.some((r) => r.headers.authorization !== undefined)

describe("Azure Arc challenge", () => {
  it.effect(
    "GET with Metadata and api-version 2020-06-01 → 401 → the same GET with Authorization: Basic <file> → token",
    () =>
      Effect.gen(function* () {
        const { exit, requests } = yield* run(himds(join(dir, "good.key")))
        expect(Exit.isSuccess(exit)).toBe(true)
        expect(requests).toHaveLength(2)
        const [first, second] = requests as [Recorded, Recorded]
        expect(first.url.origin + first.url.pathname).toBe(ENDPOINT)
        expect(Object.fromEntries(first.url.searchParams)).toEqual({
          "api-version": "2020-06-01",
          resource: ARM,
        })
        expect(first.headers.metadata).toBe("true")
        expect(first.headers.authorization).toBeUndefined()
        expect(second.url.href).toBe(first.url.href)
        expect(second.headers.authorization).toBe(`Basic ${SECRET}`)
        if (Exit.isSuccess(exit)) expect(Redacted.value(exit.value.token)).toBe("eyJ.arc-token.sig")
      }),
  )

  it.effect("a 4096-byte key is read; a quoted realm is fine", () =>
    Effect.gen(function* () {
      const secret = yield* readKeyFile(join(dir, "max.key"), ENDPOINT, dir)
      expect(Redacted.value(secret)).toHaveLength(4096)
      const { exit } = yield* run(himds(`"${join(dir, "good.key")}"`))
      expect(Exit.isSuccess(exit)).toBe(true)
    }),
  )

  it.effect.each([
    ["no WWW-Authenticate", undefined, "missing-header"],
    ["a path outside the directory", "/etc/shadow", "path"],
    ["a path escaping with ..", "DIR/../elsewhere/private.key", "path"],
    ["a path with . or //", "DIR/./good.key", "path"],
    ["another extension", "DIR/good.txt", "path"],
    ["a hidden name", "DIR/.key", "path"],
    ["something after the path", "DIR/good.key, charset=UTF-8", "path"],
    ["a relative path", "tokens/good.key", "path"],
    ["a link out of the directory", "DIR/out.key", "symlink"],
    ["a link inside the directory (no link is followed)", "DIR/inside.key", "symlink"],
    ["a directory", "DIR/adir.key", "not-regular-file"],
    ["a FIFO (no hang)", "DIR/pipe.key", "not-regular-file"],
    ["4097 bytes", "DIR/big.key", "too-large"],
    ["an empty file", "DIR/empty.key", "invalid-content"],
    ["a trailing newline (not a header value)", "DIR/newline.key", "invalid-content"],
    ["a missing file", "DIR/gone.key", "missing-file"],
  ] as const)("%s → ArcChallengeFailed (%s), nothing sent", ([, realm, rule]) =>
    Effect.gen(function* () {
      const { exit, requests } = yield* run(himds(realm?.replace("DIR", dir)))
      expect(requests).toHaveLength(1)
      expect(sentSecret(requests)).toBe(false)
      const e = failureOf(exit) as { _tag: string; rule: string; message: string }
      expect(e).toMatchObject({ _tag: "ArcChallengeFailed", rule })
      expect(errorCategory(e as never)).toBe("AuthenticationFailed")
      expect(e.message).not.toContain("not-for-arc")
    }),
  )

  it.effect("a malformed challenge (not Basic realm=) is refused, naming what came", () =>
    Effect.gen(function* () {
      const { exit, requests } = yield* run(() => ({
        status: 401,
        headers: { "www-authenticate": "Bearer realm=x" },
      }))
      expect(requests).toHaveLength(1)
      expect(failureOf(exit)).toMatchObject({ _tag: "ArcChallengeFailed", rule: "header-format" })
    }),
  )

  it.effect("one challenge round: a 401 to the answered request fails (refused), no third request", () =>
    Effect.gen(function* () {
      const { exit, requests } = yield* run((_n, r) =>
        r.headers.authorization === undefined
          ? { status: 401, headers: { "www-authenticate": `Basic realm=${join(dir, "good.key")}` } }
          : { status: 401, headers: { "www-authenticate": `Basic realm=${join(dir, "good.key")}` } },
      )
      expect(requests).toHaveLength(2)
      expect(failureOf(exit)).toMatchObject({
        _tag: "ArcChallengeFailed",
        rule: "refused",
        path: join(dir, "good.key"),
      })
    }),
  )

  it.effect(
    "a 5xx after the challenge is retried with backoff, each attempt with its own challenge: 0, 1, 3 s",
    () =>
      Effect.gen(function* () {
        let answered = 0
        const { exit, times, requests } = yield* run((n, r) => {
          if (r.headers.authorization === undefined) return himds(join(dir, "good.key"))(n, r)
          answered++
          return answered < 3 ? { status: 503 } : himds(join(dir, "good.key"))(n, r)
        })
        expect(Exit.isSuccess(exit)).toBe(true)
        expect(requests).toHaveLength(6)
        expect(times.filter((_, i) => i % 2 === 0)).toEqual([0, 1_000, 3_000])
      }),
  )

  it.effect("platforms other than Linux are refused before reading", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(readKeyFile(join(dir, "good.key"), ENDPOINT, dir, "win32"))
      expect(failureOf(exit)).toMatchObject({ rule: "platform", detail: "win32" })
    }),
  )

  it("a permission error says who may read the directory and how to join the himds group", () => {
    const e = new ArcChallengeFailed({
      endpoint: ENDPOINT,
      rule: "unreadable",
      path: "/x.key",
      detail: "EACCES",
    })
    expect(e.message).toBe("Azure Arc's key file /x.key could not be read (EACCES).")
    expect(e.hint).toBe(
      'Only root and members of the himds group may read /var/opt/azcmagent/tokens: run as root, or add this user to the group (sudo usermod -aG himds "$USER", then log in again).',
    )
  })
})

describe("Azure Arc user-assigned identities: accepted only when the response echoes them (fail closed)", () => {
  it.effect.each([
    [IdentitySelector.ClientId({ clientId: CLIENT }), "client_id", { client_id: CLIENT.toUpperCase() }],
    [IdentitySelector.ObjectId({ objectId: CLIENT }), "object_id", { object_id: CLIENT }],
    [
      IdentitySelector.ResourceId({ resourceId: "/subscriptions/s/resourcegroups/g/providers/x/y" }),
      "msi_res_id",
      { mi_res_id: "/subscriptions/S/resourceGroups/g/providers/x/y" },
    ],
  ] as const)("%s is sent as %s and confirmed by its echo", ([selector, param, echo]) =>
    Effect.gen(function* () {
      const { exit, requests } = yield* run(himds(join(dir, "good.key"), echo), selector)
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(requests[0]!.url.searchParams.has(param)).toBe(true)
      expect(requests[0]!.url.searchParams.has("mi_res_id")).toBe(false)
    }),
  )

  it.effect("no echo (or another id echoed): UserAssignedIdentityNotConfirmed, the token discarded", () =>
    Effect.gen(function* () {
      const selector = IdentitySelector.ClientId({ clientId: CLIENT })
      for (const echo of [{}, { client_id: "6c4f5d7b-9e0a-4b1c-8d3e-4f5a6b7c8d94" }]) {
        const { exit } = yield* run(himds(join(dir, "good.key"), echo), selector)
        const e = failureOf(exit) as { _tag: string; message: string }
        expect(e._tag).toBe("UserAssignedIdentityNotConfirmed")
        expect(e.message).toContain(`client_id=${CLIENT}`)
        expect(errorCategory(e as never)).toBe("CredentialUnavailable")
      }
    }),
  )
})

describe("the realm rule (hostile inputs, fast-check)", () => {
  const seed = Number(process.env.FC_SEED ?? Date.now() ^ (Math.random() * 2 ** 31))
  console.log(`azure-arc realm properties: fast-check seed ${seed}`)

  /** The rule, written independently: exactly `Basic realm=<dir>/<name>.key`, a plain name. */
  const oracle = (header: string): string | undefined => {
    const m = /^basic +realm=(.*)$/is.exec(header)
    if (m === null) return undefined
    let realm = m[1]!
    if (realm.length >= 2 && realm[0] === '"' && realm.at(-1) === '"') realm = realm.slice(1, -1)
    const prefix = `${ARC_KEY_DIRECTORY}/`
    if (!realm.startsWith(prefix)) return undefined
    const name = realm.slice(prefix.length)
    if (!name.endsWith(".key") || name.length <= 4 || name.length > 255) return undefined
    const stem = name.slice(0, -4)
    const plain = [...stem].every((c) => /[A-Za-z0-9._-]/.test(c)) && stem[0] !== "."
    return plain ? realm : undefined
  }

  const segment = fc.oneof(
    fc.constantFrom(
      "..",
      ".",
      "",
      "tokens",
      "azcmagent",
      "x.key",
      "..key",
      ".key",
      "a b.key",
      "%2e%2e",
      "k\u0000.key",
    ),
    fc.string({ unit: fc.constantFrom(..."abc.-_/%\\ \t\n\u2215\uff0e"), maxLength: 12 }),
    fc.stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,20}\.key$/),
  )
  const realm = fc.oneof(
    fc.array(segment, { maxLength: 4 }).map((s) => `${ARC_KEY_DIRECTORY}/${s.join("/")}`),
    fc.array(segment, { maxLength: 6 }).map((s) => `/${s.join("/")}`),
    fc.stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,20}\.key$/).map((n) => `${ARC_KEY_DIRECTORY}/${n}`),
    fc.string({ maxLength: 60 }),
  )
  const header = fc
    .tuple(
      fc.constantFrom(
        "Basic realm=",
        "basic realm=",
        "Basic  realm=",
        "Basic realm =",
        "Bearer realm=",
        "",
        "Basic realm=",
      ),
      realm,
      fc.constantFrom("", "", "", '"', ", charset=UTF-8", " ", "\r\n"),
      fc.boolean(),
    )
    .map(([p, r, suffix, quote]) => (quote ? `${p}"${r}"${suffix}` : `${p}${r}${suffix}`))

  it("a realm is accepted exactly when the independent rule accepts it, and then it lies directly in the directory", () => {
    fc.assert(
      fc.property(header, (h) => {
        const got = keyFileOf(h, ENDPOINT)
        const expected = oracle(h)
        if (Either.isRight(got)) {
          return (
            got.right === expected &&
            posix.dirname(got.right) === ARC_KEY_DIRECTORY &&
            posix.resolve(got.right) === got.right
          )
        }
        return expected === undefined && ["header-format", "path", "missing-header"].includes(got.left.rule)
      }),
      { seed, numRuns: 5_000 },
    )
  })

  it("a key file of n bytes is read exactly when 1 ≤ n ≤ 4096 (printable content)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 8_200 }), async (n) => {
        const path = join(dir, `size-${n}.key`)
        writeFileSync(path, "k".repeat(n))
        const exit = await Effect.runPromiseExit(readKeyFile(path, ENDPOINT, dir))
        rmSync(path)
        const readable = n >= 1 && n <= 4096
        return readable
          ? Exit.isSuccess(exit) && Redacted.value(exit.value).length === n
          : Exit.isFailure(exit) &&
              (failureOf(exit) as { rule: string }).rule === (n === 0 ? "invalid-content" : "too-large")
      }),
      { seed, numRuns: 200 },
    )
  })
})

describe("refresh-ahead holds on Arc (through its challenge)", () => {
  it.effect("a due token is served at once while one background refresh answers a fresh challenge", () => {
    let issued = 0
    const fake = makeFake((n, r) => {
      if (r.headers.authorization === undefined) return himds(join(dir, "good.key"))(n, r)
      issued++
      const expiresOn = Math.floor(r.at / 1000) + 600
      return { status: 200, body: { access_token: `eyJ.arc-${issued}.sig`, expires_on: String(expiresOn) } }
    })
    const layer = Layer.scoped(
      TokenProvider,
      ManagedIdentity.make({ identity: IdentitySelector.SystemAssigned() }),
    ).pipe(
      Layer.provide(
        Layer.effect(
          ManagedIdentitySource,
          AzureArc.make({ endpoint: ENDPOINT, policy: noJitter, keyDirectory: dir }),
        ),
      ),
      Layer.provide(Layer.succeed(HttpClient.HttpClient, fake.client)),
    )
    return Effect.gen(function* () {
      const tp = yield* TokenProvider
      const first = yield* tp.getToken(ARM)
      expect(fake.requests).toHaveLength(2)
      // 10-minute tokens are refreshed from 5 minutes before expiry on.
      yield* TestClock.adjust("6 minutes")
      const due = yield* tp.getToken(ARM)
      expect(Redacted.value(due.token)).toBe("eyJ.arc-1.sig")
      for (let i = 0; i < 20 && issued < 2; i++) yield* TestClock.adjust("10 millis")
      expect(fake.requests).toHaveLength(4)
      expect(fake.requests[3]!.headers.authorization).toBe(`Basic ${SECRET}`)
      const fresh = yield* tp.getToken(ARM)
      expect(Redacted.value(fresh.token)).toBe("eyJ.arc-2.sig")
      expect(fresh.expiresOn).toBeGreaterThan(first.expiresOn)
    }).pipe(Effect.provide(layer))
  })
})
