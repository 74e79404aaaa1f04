/**
 * The token cache file as a reader that does not load Effect sees it (`azmi token`'s fast path): a
 * token is found by the digest of the inputs its identity was resolved from, only while fresh, and
 * only in a file the same trust rules as FileTokenCache's accept.
 */
import { spawnSync } from "node:child_process"
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Redacted } from "effect"
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import type { AccessToken } from "../src/AccessToken.js"
import { settings } from "../src/Config.js"
import * as FileTokenCache from "../src/FileTokenCache.js"
import { IdentitySelector } from "../src/IdentitySelector.js"
import { configVariables } from "../src/internal/configVariables.js"
import * as TokenCacheFile from "../src/TokenCacheFile.js"
import { TokenProvider } from "../src/TokenProvider.js"

const hour = 3_600_000
let dir: string
let path: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "azmi-tcf-"))
  path = join(dir, "sub", "tokens.json")
})
afterEach(() => {
  vi.useRealTimers()
  rmSync(dir, { recursive: true, force: true })
})

const identity = JSON.stringify(["managed-identity", "IMDS", "http://127.0.0.1:1", "system-assigned"])

/** An upstream that counts its calls; its tokens live `lifetimeMs`. */
const upstream = (lifetimeMs = 24 * hour) => {
  const calls: Array<string> = []
  const inner = TokenProvider.of({
    description: "fake",
    getToken: (resource) =>
      Effect.sync(() => {
        calls.push(resource)
        const now = Date.now()
        return {
          token: Redacted.make(`token-${calls.length}`),
          tokenType: "Bearer",
          resource,
          expiresOn: now + lifetimeMs,
          refreshOn: now + lifetimeMs / 2,
        } satisfies AccessToken
      }),
  })
  return { inner, calls }
}

const read = () => TokenCacheFile.readCacheFile(path, TokenCacheFile.bounded())

describe("TokenCacheFile", () => {
  it("finds a stored token by the inputs its identity was resolved from, for its resource only", async () => {
    const { inner } = upstream()
    await Effect.runPromise(FileTokenCache.make(inner, { identity, inputs: "sha256:a", path }).getToken("r"))
    const file = await read()
    expect(file.inputs).toEqual({ "sha256:a": identity })
    const now = Date.now()
    expect(TokenCacheFile.lookup(file, { inputs: "sha256:a", resource: "r", now })?.accessToken).toBe(
      "token-1",
    )
    expect(TokenCacheFile.lookup(file, { inputs: "sha256:b", resource: "r", now })).toBeUndefined()
    expect(TokenCacheFile.lookup(file, { inputs: "sha256:a", resource: "other", now })).toBeUndefined()
  })

  it("serves a token only before its refresh time, and while it is valid for a minute more", async () => {
    const { inner } = upstream(2 * hour)
    await Effect.runPromise(FileTokenCache.make(inner, { identity, inputs: "sha256:a", path }).getToken("r"))
    const file = await read()
    const entry = Object.values(file.entries)[0]
    if (entry === undefined) throw new Error("no entry")
    const at = (now: number) => TokenCacheFile.lookup(file, { inputs: "sha256:a", resource: "r", now })
    expect(at(entry.refreshOn - 1)).toBeDefined()
    expect(at(entry.refreshOn)).toBeUndefined()
    expect(
      TokenCacheFile.fresh({ ...entry, refreshOn: entry.expiresOn }, entry.expiresOn - 60_001),
    ).toBeDefined()
    expect(
      TokenCacheFile.fresh({ ...entry, refreshOn: entry.expiresOn }, entry.expiresOn - 60_000),
    ).toBeUndefined()
  })

  it("a hit in a file without this process's inputs records them; the upstream is not asked", async () => {
    const first = upstream()
    await Effect.runPromise(FileTokenCache.make(first.inner, { identity, path }).getToken("r"))
    expect((await read()).inputs).toEqual({})
    const second = upstream()
    const token = await Effect.runPromise(
      FileTokenCache.make(second.inner, { identity, inputs: "sha256:b", path }).getToken("r"),
    )
    expect([Redacted.value(token.token), second.calls]).toEqual(["token-1", []])
    expect((await read()).inputs).toEqual({ "sha256:b": identity })
  })

  it("drops expired tokens, and the inputs of identities with no token left, on the next write", () => {
    const entry = (expiresOn: number): TokenCacheFile.Entry => ({
      accessToken: "t",
      tokenType: "Bearer",
      resource: "r",
      expiresOn,
      refreshOn: expiresOn,
    })
    const file: TokenCacheFile.CacheFile = {
      version: 1,
      entries: {
        [TokenCacheFile.keyOf("old", "r")]: entry(1_000),
        [TokenCacheFile.keyOf("live", "r")]: entry(3_000),
        "not a key": entry(3_000),
      },
      inputs: { a: "old", b: "live", c: "gone" },
    }
    expect(TokenCacheFile.withoutExpired(file, 2_000)).toEqual({
      version: 1,
      entries: { [TokenCacheFile.keyOf("live", "r")]: entry(3_000), "not a key": entry(3_000) },
      inputs: { b: "live" },
    })
  })

  it("reads a damaged or foreign file as empty", () => {
    for (const text of [
      "",
      "{",
      "[]",
      "null",
      '{"entries":[1],"inputs":"x"}',
      '{"entries":{"k":{"accessToken":1}}}',
    ])
      expect(TokenCacheFile.parse(text), text).toEqual(TokenCacheFile.emptyFile())
  })

  describe("readCacheFile refuses, with a reason, what FileTokenCache would not trust", () => {
    const refusal = async () => {
      try {
        await read()
        return "read"
      } catch (error) {
        return error instanceof TokenCacheFile.Unusable ? error.reason : `threw ${String(error)}`
      }
    }
    const plant = (file: string) =>
      writeFileSync(file, JSON.stringify({ version: 1, entries: {}, inputs: {} }), { mode: 0o600 })

    it("no directory or no file yet: empty", async () => {
      expect(await read()).toEqual(TokenCacheFile.emptyFile())
      mkdirSync(join(dir, "sub"), { mode: 0o700 })
      expect(await read()).toEqual(TokenCacheFile.emptyFile())
    })

    it("a file or directory others may write, a symbolic link, a FIFO, a directory that is a file", async () => {
      const sub = join(dir, "sub")
      mkdirSync(sub, { mode: 0o700 })
      plant(path)
      chmodSync(path, 0o666)
      expect(await refusal()).toMatch(/the cache file .* is writable by every user/)
      chmodSync(path, 0o600)
      chmodSync(sub, 0o770)
      expect(await refusal()).toMatch(/the cache directory .* is writable by its group/)
      chmodSync(sub, 0o700)
      expect(await refusal()).toBe("read")
      rmSync(path)
      plant(join(dir, "elsewhere.json"))
      symlinkSync(join(dir, "elsewhere.json"), path)
      expect(await refusal()).toMatch(/is a symbolic link/)
      rmSync(path)
      spawnSync("mkfifo", [path])
      expect(await refusal()).toMatch(/is not a file/)
      rmSync(sub, { recursive: true })
      writeFileSync(sub, "")
      expect(await refusal()).toMatch(/is not a directory/)
    })
  })

  it("bounds every filesystem call: one that never settles is Unusable after the bound", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] })
    const io = TokenCacheFile.bounded(2_000)
    let outcome: unknown
    io("read /hung", () => new Promise<never>(() => {})).catch((error: unknown) => {
      outcome = error
    })
    await vi.advanceTimersByTimeAsync(1_999)
    expect(outcome).toBeUndefined()
    await vi.advanceTimersByTimeAsync(1)
    expect(outcome).toEqual(new TokenCacheFile.Unusable("read /hung took longer than 2000 ms"))
  })

  describe("inputsKey", () => {
    it("names every variable the core's resolver reads, and nothing else", () => {
      expect(new Set(Object.values(settings).map((s) => s.variable))).toEqual(new Set(configVariables))
    })

    it("changes with any of them, and with what the caller hands the resolver; never contains a value", () => {
      const base = TokenCacheFile.inputsKey({ flags: [] }, {})
      const keys = new Set([base])
      for (const variable of configVariables)
        keys.add(TokenCacheFile.inputsKey({ flags: [] }, { [variable]: "x" }))
      keys.add(TokenCacheFile.inputsKey({ flags: [["--imds-endpoint", "x"]] }, {}))
      keys.add(TokenCacheFile.inputsKey({ flags: [] }, { UNRELATED: "x" }))
      // Every variable made a key of its own; an unrelated one made none.
      expect(keys.size).toBe(configVariables.length + 2)
      const secret = TokenCacheFile.inputsKey({}, { AZURE_CLIENT_SECRET: "hunter2" })
      expect(secret).toMatch(/^sha256:[0-9a-f]{64}$/)
    })
  })

  describe("optionsInputsKey", () => {
    const GUID = "11111111-1111-1111-1111-111111111111"
    const env = { AZURE_CLIENT_ID: "c", AZURE_CLIENT_SECRET: "s", IDENTITY_HEADER: "h" }
    const all: TokenCacheFile.InputsKeyOptions = {
      flags: { "--imds-endpoint": "i", "--arm-endpoint": "a" },
      deadlineMs: 500,
      identity: { _tag: "ClientId", clientId: GUID },
      identitySetBy: "--client-id",
    }

    it("is the key files stored before it moved into the core were written with", () => {
      // Computed by the CLI's own digest (`coreOptions.cacheInputs`) before it moved here: a cache file
      // written by an earlier azmi must keep finding its tokens.
      expect(TokenCacheFile.optionsInputsKey(all, env)).toBe(
        "sha256:95d9fa02ebdf203e40a777f3b62475c373ecbb5a3b1c54142f7c3ed473117c01",
      )
      expect(TokenCacheFile.optionsInputsKey({}, {})).toBe(
        "sha256:825b8d99bd2bf01fcaa1022e6799801c7a932df0b92c0eb69c22c9af5dc8805f",
      )
      // …which is inputsKey of the options as plain data: flags sorted by name, absent options null.
      expect(TokenCacheFile.optionsInputsKey(all, env)).toBe(
        TokenCacheFile.inputsKey(
          {
            flags: [
              ["--arm-endpoint", "a"],
              ["--imds-endpoint", "i"],
            ],
            deadlineMs: 500,
            identity: ["ClientId", GUID],
            identitySetBy: "--client-id",
          },
          env,
        ),
      )
    })

    it("is the same for the same options, however they are built", () => {
      const key = TokenCacheFile.optionsInputsKey(all, env)
      expect(TokenCacheFile.optionsInputsKey({ ...all, flags: { ...all.flags } }, { ...env })).toBe(key)
      // Flags in another order; a flag, an option or a variable given as undefined is one not given.
      expect(
        TokenCacheFile.optionsInputsKey(
          { ...all, flags: { "--arm-endpoint": "a", "--imds-endpoint": "i" } },
          { ...env, AZMI_IMDS_ENDPOINT: undefined },
        ),
      ).toBe(key)
      const none = TokenCacheFile.optionsInputsKey({}, {})
      expect(
        TokenCacheFile.optionsInputsKey(
          { flags: { "--imds-endpoint": undefined }, deadlineMs: undefined, identity: undefined },
          {},
        ),
      ).toBe(none)
      expect(TokenCacheFile.optionsInputsKey({ flags: {} }, {})).toBe(none)
    })

    it("changes with each option and each field of the selector", () => {
      const variants: ReadonlyArray<TokenCacheFile.InputsKeyOptions> = [
        all,
        {},
        { ...all, flags: undefined },
        { ...all, flags: { "--imds-endpoint": "i" } },
        { ...all, flags: { "--arm-endpoint": "a" } },
        { ...all, flags: { "--imds-endpoint": "a", "--arm-endpoint": "i" } },
        { ...all, flags: { "--imds-endpoint": "i2", "--arm-endpoint": "a" } },
        { ...all, flags: { "--imds-endpoint": "i", "--arm-endpoint": "a2" } },
        { ...all, deadlineMs: undefined },
        { ...all, deadlineMs: 501 },
        { ...all, identitySetBy: undefined },
        { ...all, identitySetBy: "identity.clientId" },
        { ...all, identity: undefined },
        { ...all, identity: { _tag: "SystemAssigned" } },
        { ...all, identity: { _tag: "ClientId", clientId: "22222222-2222-2222-2222-222222222222" } },
        // The same id under another field is another selector.
        { ...all, identity: { _tag: "ObjectId", objectId: GUID } },
        { ...all, identity: { _tag: "ObjectId", objectId: "22222222-2222-2222-2222-222222222222" } },
        { ...all, identity: { _tag: "ResourceId", resourceId: GUID } },
        { ...all, identity: { _tag: "ResourceId", resourceId: "/x" } },
      ]
      const keys = new Set(variants.map((options) => TokenCacheFile.optionsInputsKey(options, env)))
      expect(keys.size).toBe(variants.length)
      // And with the environment, as inputsKey does.
      expect(keys.has(TokenCacheFile.optionsInputsKey(all, { ...env, IDENTITY_HEADER: "h2" }))).toBe(false)
    })

    it("is the same for the core's IdentitySelector and the same selector as plain data", () => {
      const cases: ReadonlyArray<readonly [IdentitySelector, TokenCacheFile.SelectorData]> = [
        [IdentitySelector.SystemAssigned(), { _tag: "SystemAssigned" }],
        [IdentitySelector.ClientId({ clientId: GUID }), { _tag: "ClientId", clientId: GUID }],
        [IdentitySelector.ObjectId({ objectId: GUID }), { _tag: "ObjectId", objectId: GUID }],
        [IdentitySelector.ResourceId({ resourceId: "/x" }), { _tag: "ResourceId", resourceId: "/x" }],
      ]
      for (const [core, plain] of cases)
        expect(TokenCacheFile.optionsInputsKey({ ...all, identity: core }, env)).toBe(
          TokenCacheFile.optionsInputsKey({ ...all, identity: plain }, env),
        )
    })
  })
})
