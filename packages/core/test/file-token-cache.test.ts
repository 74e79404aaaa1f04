import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Either, HashMap, Logger, LogLevel, Redacted, Ref, TestClock } from "effect"
import { afterEach, beforeEach } from "vitest"
import type { AccessToken } from "../src/AccessToken.js"
import { TokenRequestFailed } from "../src/Errors.js"
import * as FileTokenCache from "../src/FileTokenCache.js"
import { TokenProvider } from "../src/TokenProvider.js"

const hour = 3_600_000

/** A fake upstream that counts its calls and issues a distinct token each time. */
const makeInner = (options: { lifetimeMs?: number; latencyMs?: number; fail?: Ref.Ref<boolean> } = {}) =>
  Effect.gen(function* () {
    const calls = yield* Ref.make<Array<string>>([])
    const inner = TokenProvider.of({
      description: "fake",
      getToken: (resource) =>
        Effect.gen(function* () {
          if (options.latencyMs !== undefined) yield* Effect.sleep(options.latencyMs)
          if (options.fail !== undefined && (yield* Ref.get(options.fail))) {
            return yield* new TokenRequestFailed({ endpoint: "fake", status: 500, attempts: 1 })
          }
          const n = (yield* Ref.updateAndGet(calls, (c) => [...c, resource])).length
          const base = yield* Clock.currentTimeMillis
          const life = options.lifetimeMs ?? 24 * hour
          return {
            token: Redacted.make(`token-${n}-for-${resource}`),
            tokenType: "Bearer",
            resource,
            expiresOn: base + life,
            refreshOn: base + life / 2,
            clientId: "client-1",
          } satisfies AccessToken
        }),
    })
    return { inner, calls }
  })

let dir: string
let path: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "azmi-ftc-"))
  path = join(dir, "sub", "tokens.json")
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const opts = () => ({ endpoint: "http://127.0.0.1:1", identity: "system-assigned", path })
const readCache = () =>
  JSON.parse(readFileSync(path, "utf8")) as { entries: Record<string, { expiresOn: number }> }

describe("FileTokenCache", () => {
  it.effect("a second 'process' reads the first one's token from the file: one upstream call", () =>
    Effect.gen(function* () {
      const { inner, calls } = yield* makeInner()
      const first = FileTokenCache.make(inner, opts())
      const second = FileTokenCache.make(inner, opts())
      const a = yield* first.getToken("https://management.azure.com/")
      const b = yield* second.getToken("https://management.azure.com/")
      expect(Redacted.value(b.token)).toBe(Redacted.value(a.token))
      expect(b.expiresOn).toBe(a.expiresOn)
      expect(b.clientId).toBe("client-1")
      expect(yield* Ref.get(calls)).toHaveLength(1)
    }),
  )

  it.effect("a token the process already holds is not read from the file again", () =>
    Effect.gen(function* () {
      const { inner, calls } = yield* makeInner()
      const cache = FileTokenCache.make(inner, opts())
      const a = yield* cache.getToken("r")
      // Were the file read again, this would be a miss and a second upstream call.
      writeFileSync(path, "not json")
      const b = yield* cache.getToken("r")
      expect(Redacted.value(b.token)).toBe(Redacted.value(a.token))
      expect(yield* Ref.get(calls)).toHaveLength(1)
    }),
  )

  it.effect("the file is private (0600) in a private directory (0700) and no temp or lock file is left", () =>
    Effect.gen(function* () {
      const { inner } = yield* makeInner()
      yield* FileTokenCache.make(inner, opts()).getToken("r")
      expect(statSync(path).mode & 0o777).toBe(0o600)
      expect(statSync(join(dir, "sub")).mode & 0o777).toBe(0o700)
      const left = spawnSync("ls", ["-a", join(dir, "sub")], { encoding: "utf8" }).stdout.split("\n")
      expect(left.filter((f) => f.endsWith(".tmp") || f.endsWith(".lock"))).toEqual([])
    }),
  )

  it.effect("keys by endpoint, identity and resource", () =>
    Effect.gen(function* () {
      const { inner, calls } = yield* makeInner()
      yield* FileTokenCache.make(inner, opts()).getToken("r1")
      yield* FileTokenCache.make(inner, opts()).getToken("r2")
      yield* FileTokenCache.make(inner, { ...opts(), identity: "client_id=x" }).getToken("r1")
      yield* FileTokenCache.make(inner, { ...opts(), endpoint: "http://127.0.0.1:2" }).getToken("r1")
      yield* FileTokenCache.make(inner, { ...opts(), endpoint: "HTTP://127.0.0.1:1/" }).getToken("r1")
      expect(yield* Ref.get(calls)).toEqual(["r1", "r2", "r1", "r1"])
      expect(Object.keys(readCache().entries)).toHaveLength(4)
    }),
  )

  it.effect("after refreshOn it fetches again; expired entries are dropped on the next write", () =>
    Effect.gen(function* () {
      const { inner, calls } = yield* makeInner({ lifetimeMs: 2 * hour })
      const cache = FileTokenCache.make(inner, opts())
      yield* cache.getToken("old")
      yield* cache.getToken("r")
      yield* TestClock.adjust("30 minutes")
      yield* cache.getToken("r") // still fresh (refreshOn = 1 h)
      expect(yield* Ref.get(calls)).toEqual(["old", "r"])
      yield* TestClock.adjust("45 minutes") // past refreshOn of both
      const renewed = yield* cache.getToken("r")
      expect(Redacted.value(renewed.token)).toBe("token-3-for-r")
      yield* TestClock.adjust("2 hours") // "old" (and the first "r") have expired
      yield* cache.getToken("r")
      const keys = Object.keys(readCache().entries)
      expect(keys).toHaveLength(1)
      expect(keys[0]).toContain('"r"')
    }),
  )

  it.effect("when a refresh-ahead fetch fails, the still-valid cached token is served", () =>
    Effect.gen(function* () {
      const fail = yield* Ref.make(false)
      const { inner } = yield* makeInner({ lifetimeMs: 2 * hour, fail })
      const cache = FileTokenCache.make(inner, opts())
      const first = yield* cache.getToken("r")
      yield* TestClock.adjust("90 minutes")
      yield* Ref.set(fail, true)
      const served = yield* cache.getToken("r")
      expect(Redacted.value(served.token)).toBe(Redacted.value(first.token))
      yield* TestClock.adjust("30 minutes") // now expired: the failure surfaces
      const expired = yield* Effect.either(cache.getToken("r"))
      expect(Either.isLeft(expired) && expired.left._tag).toBe("TokenRequestFailed")
    }),
  )

  it.effect("forceRefresh skips the cache and stores the new token", () =>
    Effect.gen(function* () {
      const { inner, calls } = yield* makeInner()
      const cache = FileTokenCache.make(inner, opts())
      yield* cache.getToken("r")
      const forced = yield* cache.getToken("r", { forceRefresh: true })
      expect(Redacted.value(forced.token)).toBe("token-2-for-r")
      const after = yield* FileTokenCache.make(inner, opts()).getToken("r")
      expect(Redacted.value(after.token)).toBe("token-2-for-r")
      expect(yield* Ref.get(calls)).toHaveLength(2)
    }),
  )

  it.effect("readOnly serves hits but leaves misses to the inner provider: no lock, no write", () =>
    Effect.gen(function* () {
      const { inner, calls } = yield* makeInner()
      const reader = FileTokenCache.make(inner, { ...opts(), readOnly: true })
      yield* reader.getToken("r")
      expect(() => readFileSync(path)).toThrow()
      yield* FileTokenCache.make(inner, opts()).getToken("r")
      const hit = yield* reader.getToken("r")
      expect(Redacted.value(hit.token)).toBe("token-2-for-r")
      expect(yield* Ref.get(calls)).toHaveLength(2)
    }),
  )

  it.effect("a damaged cache file reads as empty and is replaced", () =>
    Effect.gen(function* () {
      const { inner, calls } = yield* makeInner()
      yield* FileTokenCache.make(inner, opts()).getToken("r")
      writeFileSync(path, '{"entries": {"x": {"accessToken": 1}}, "trunc')
      const token = yield* FileTokenCache.make(inner, opts()).getToken("r")
      expect(Redacted.value(token.token)).toBe("token-2-for-r")
      expect(Object.keys(readCache().entries)).toHaveLength(1)
      expect(yield* Ref.get(calls)).toHaveLength(2)
    }),
  )

  it.effect("an unwritable cache location never fails the request", () =>
    Effect.gen(function* () {
      const { inner, calls } = yield* makeInner()
      writeFileSync(join(dir, "file"), "")
      const cache = FileTokenCache.make(inner, {
        ...opts(),
        path: join(dir, "file", "tokens.json"),
        lockTimeoutMs: 0,
      })
      const token = yield* cache.getToken("r")
      expect(Redacted.value(token.token)).toBe("token-1-for-r")
      yield* cache.getToken("r")
      expect(yield* Ref.get(calls)).toHaveLength(2)
    }),
  )

  it.live("a lock left by a process that died is broken", () =>
    Effect.gen(function* () {
      const { inner, calls } = yield* makeInner()
      const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
        encoding: "utf8",
      })
      const { mkdirSync } = yield* Effect.promise(() => import("node:fs"))
      mkdirSync(join(dir, "sub"), { recursive: true })
      const { hostname } = yield* Effect.promise(() => import("node:os"))
      writeFileSync(
        `${path}.lock`,
        JSON.stringify({ pid: Number(dead.stdout), host: hostname(), at: Date.now() }),
      )
      const token = yield* FileTokenCache.make(inner, { ...opts(), lockTimeoutMs: 5_000 }).getToken("r")
      expect(Redacted.value(token.token)).toBe("token-1-for-r")
      expect(readCache().entries).not.toEqual({})
      expect(yield* Ref.get(calls)).toHaveLength(1)
    }),
  )

  it.live(
    "a live lock holder is waited for, and after lockTimeoutMs the request goes upstream uncached",
    () =>
      Effect.gen(function* () {
        const { inner, calls } = yield* makeInner()
        const { mkdirSync } = yield* Effect.promise(() => import("node:fs"))
        const { hostname } = yield* Effect.promise(() => import("node:os"))
        mkdirSync(join(dir, "sub"), { recursive: true })
        writeFileSync(`${path}.lock`, JSON.stringify({ pid: process.pid, host: hostname(), at: Date.now() }))
        const token = yield* FileTokenCache.make(inner, { ...opts(), lockTimeoutMs: 100 }).getToken("r")
        expect(Redacted.value(token.token)).toBe("token-1-for-r")
        expect(yield* Ref.get(calls)).toHaveLength(1)
        expect(() => readFileSync(path)).toThrow() // nothing written without the lock
      }),
  )

  it.live("concurrent 'processes' for one key make one upstream call; for many keys lose no entry", () =>
    Effect.gen(function* () {
      const { inner, calls } = yield* makeInner({ latencyMs: 30 })
      const same = yield* Effect.all(
        Array.from({ length: 12 }, () => FileTokenCache.make(inner, opts()).getToken("shared")),
        { concurrency: "unbounded" },
      )
      expect(new Set(same.map((t) => Redacted.value(t.token))).size).toBe(1)
      expect(yield* Ref.get(calls)).toEqual(["shared"])
      yield* Effect.all(
        Array.from({ length: 12 }, (_, i) => FileTokenCache.make(inner, opts()).getToken(`r${i}`)),
        { concurrency: "unbounded" },
      )
      expect(Object.keys(readCache().entries)).toHaveLength(13)
    }),
  )

  it.effect("no log line carries the token", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const logger = Logger.make<unknown, void>(({ message, annotations }) => {
        lines.push(JSON.stringify([message, HashMap.toEntries(annotations)]))
      })
      const { inner } = yield* makeInner()
      const run = (e: Effect.Effect<AccessToken, unknown>) =>
        e.pipe(Effect.provide(Logger.add(logger)), Logger.withMinimumLogLevel(LogLevel.All))
      yield* run(FileTokenCache.make(inner, opts()).getToken("r"))
      yield* run(FileTokenCache.make(inner, opts()).getToken("r"))
      expect(lines.length).toBeGreaterThan(0)
      expect(lines.join("\n")).not.toContain("token-1")
    }),
  )

  describe("defaultPath", () => {
    it("prefers $XDG_RUNTIME_DIR, then the user cache directory", () => {
      expect(FileTokenCache.defaultPath({ XDG_RUNTIME_DIR: "/run/user/1000" }, "linux", "/home/u")).toBe(
        "/run/user/1000/azmi/tokens.json",
      )
      expect(FileTokenCache.defaultPath({ XDG_CACHE_HOME: "/c" }, "linux", "/home/u")).toBe(
        "/c/azmi/tokens.json",
      )
      expect(FileTokenCache.defaultPath({}, "linux", "/home/u")).toBe("/home/u/.cache/azmi/tokens.json")
      expect(FileTokenCache.defaultPath({ XDG_RUNTIME_DIR: "" }, "darwin", "/Users/u")).toBe(
        "/Users/u/Library/Caches/azmi/tokens.json",
      )
    })
  })
})
