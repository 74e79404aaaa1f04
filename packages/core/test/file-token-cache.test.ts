import { spawnSync } from "node:child_process"
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs"
import { hostname, tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Either, HashMap, Logger, LogLevel, Redacted, Ref, TestClock } from "effect"
import { afterEach, beforeEach, vi } from "vitest"
import type { AccessToken } from "../src/AccessToken.js"
import { TokenRequestFailed } from "../src/Errors.js"
import * as FileTokenCache from "../src/FileTokenCache.js"
import { TokenProvider } from "../src/TokenProvider.js"

const hour = 3_600_000

/** A fake upstream that counts its calls and issues a distinct token each time. */
const makeInner = (options: { lifetimeMs?: number; latencyMs?: number; fail?: Ref.Ref<boolean> } = {}) =>
  Effect.gen(function* () {
    const calls = yield* Ref.make<Array<string>>([])
    const inner = yield* Effect.provide(
      TokenProvider,
      TokenProvider.layerTest({
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
      }),
    )
    return { inner, calls }
  })

let dir: string
let path: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "azmi-ftc-"))
  path = join(dir, "sub", "tokens.json")
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const identity = JSON.stringify(["managed-identity", "IMDS", "http://127.0.0.1:1", "system-assigned"])
const opts = () => ({ identity, path })
/** The pid of a process that has exited (and been reaped). */
const deadPid = () =>
  Number(
    spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" })
      .stdout,
  )
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

  it.effect("keys by identity and resource", () =>
    Effect.gen(function* () {
      const { inner, calls } = yield* makeInner()
      const other = JSON.stringify(["managed-identity", "IMDS", "http://127.0.0.1:2", "system-assigned"])
      yield* FileTokenCache.make(inner, opts()).getToken("r1")
      yield* FileTokenCache.make(inner, opts()).getToken("r2")
      yield* FileTokenCache.make(inner, { ...opts(), identity: other }).getToken("r1")
      yield* FileTokenCache.make(inner, { ...opts(), identity: other }).getToken("r1")
      expect(yield* Ref.get(calls)).toEqual(["r1", "r2", "r1"])
      expect(Object.keys(readCache().entries)).toHaveLength(3)
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
    "only the abandoned lock is broken: a live holder's lock that replaced it meanwhile stands (no second holder)",
    () =>
      Effect.gen(function* () {
        // The race between processes, made deterministic: this process reads the lock of B, which
        // then releases it and exits, and C takes the lock — all before this process, having found B
        // gone, acts on what it read. Removing the lock now would remove C's, and two processes would
        // hold it (and both fetch).
        const { inner, calls } = yield* makeInner()
        const gone = deadPid()
        const lock = `${path}.lock`
        mkdirSync(join(dir, "sub"), { recursive: true })
        writeFileSync(lock, JSON.stringify({ pid: gone, host: hostname(), at: Date.now() }))
        const live = JSON.stringify({ pid: process.pid, host: hostname(), at: Date.now() })
        const kill = process.kill.bind(process)
        const asked: Array<number> = []
        const spy = vi.spyOn(process, "kill").mockImplementation((pid, signal) => {
          asked.push(pid)
          if (pid === gone && readFileSync(lock, "utf8") !== live) writeFileSync(lock, live)
          return kill(pid, signal)
        })
        const token = yield* FileTokenCache.make(inner, { ...opts(), lockTimeoutMs: 200 })
          .getToken("r")
          .pipe(Effect.ensuring(Effect.sync(() => spy.mockRestore())))
        expect(asked).toContain(gone) // B was found gone
        expect(existsSync(lock) ? readFileSync(lock, "utf8") : "removed").toBe(live) // C still holds it
        expect(() => readFileSync(path)).toThrow() // nothing written without the lock
        expect(Redacted.value(token.token)).toBe("token-1-for-r")
        expect(yield* Ref.get(calls)).toHaveLength(1)
      }),
  )

  it.live("a lock is broken by one process at a time: not while a live one holds the break guard", () =>
    Effect.gen(function* () {
      const { inner, calls } = yield* makeInner()
      const lock = `${path}.lock`
      mkdirSync(join(dir, "sub"), { recursive: true })
      const abandoned = JSON.stringify({ pid: deadPid(), host: hostname(), at: Date.now() })
      writeFileSync(lock, abandoned)
      writeFileSync(`${lock}.break`, JSON.stringify({ pid: process.pid, host: hostname(), at: Date.now() }))
      yield* FileTokenCache.make(inner, { ...opts(), lockTimeoutMs: 200 }).getToken("r")
      expect(readFileSync(lock, "utf8")).toBe(abandoned) // left to the breaker that holds the guard
      expect(yield* Ref.get(calls)).toHaveLength(1) // fetched uncached after lockTimeoutMs
      expect(() => readFileSync(path)).toThrow()
    }),
  )

  it.live(
    "a break guard left by a process that died while breaking is removed, then the lock is broken",
    () =>
      Effect.gen(function* () {
        const { inner, calls } = yield* makeInner()
        const lock = `${path}.lock`
        mkdirSync(join(dir, "sub"), { recursive: true })
        writeFileSync(lock, JSON.stringify({ pid: deadPid(), host: hostname(), at: Date.now() }))
        writeFileSync(`${lock}.break`, JSON.stringify({ pid: deadPid(), host: hostname(), at: Date.now() }))
        const token = yield* FileTokenCache.make(inner, { ...opts(), lockTimeoutMs: 5_000 }).getToken("r")
        expect(Redacted.value(token.token)).toBe("token-1-for-r")
        expect(readCache().entries).not.toEqual({})
        expect([existsSync(lock), existsSync(`${lock}.break`)]).toEqual([false, false])
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

  describe("a location that cannot be used, or trusted, is skipped at once with one warning", () => {
    /** Runs `effect` and returns what it logged at warning level. */
    const warnings = <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.gen(function* () {
        const lines: Array<string> = []
        const logger = Logger.make<unknown, void>(({ logLevel, message }) => {
          if (logLevel === LogLevel.Warning) lines.push(String(message))
        })
        const value = yield* effect.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
        return { value, lines }
      })

    /** A cache file that holds a token for `opts()`'s identity, planted there by someone else. */
    const plant = (file: string) =>
      writeFileSync(
        file,
        JSON.stringify({
          version: 1,
          entries: {
            [FileTokenCache.keyOf(identity, "r")]: {
              accessToken: "planted",
              tokenType: "Bearer",
              resource: "r",
              expiresOn: Date.now() + 24 * hour,
              refreshOn: Date.now() + 12 * hour,
            },
          },
        }),
        { mode: 0o600 },
      )

    // TestClock: were the lock waited for (as the cache did for any error), these would never end.
    it.effect("a cache directory that is a file, or a dangling link: no lock wait, one warning", () =>
      Effect.gen(function* () {
        writeFileSync(join(dir, "file"), "")
        symlinkSync(join(dir, "nowhere"), join(dir, "dangling"))
        for (const parent of ["file", "dangling"]) {
          const { inner, calls } = yield* makeInner()
          const cache = FileTokenCache.make(inner, {
            ...opts(),
            path: join(dir, parent, "tokens.json"),
            lockTimeoutMs: 3_600_000,
          })
          const { value, lines } = yield* warnings(
            Effect.zip(cache.getToken("r"), cache.getToken("r2")).pipe(Effect.zipLeft(cache.getToken("r"))),
          )
          expect(Redacted.value(value[0].token)).toBe("token-1-for-r")
          expect(yield* Ref.get(calls)).toEqual(["r", "r2", "r"]) // no cache: every call goes upstream
          expect(lines, parent).toHaveLength(1)
          expect(lines[0]).toMatch(/^token cache: not used \(/)
        }
      }),
    )

    it.effect(
      "group/world-writable file or directory: the planted token is not served, nothing is written",
      () =>
        Effect.gen(function* () {
          const sub = join(dir, "sub")
          mkdirSync(sub, { mode: 0o700 })
          for (const [dirMode, fileMode] of [
            [0o700, 0o666],
            [0o777, 0o600],
            [0o770, 0o600],
            [0o700, 0o620],
          ] as const) {
            chmodSync(sub, dirMode)
            plant(path)
            chmodSync(path, fileMode)
            const { inner, calls } = yield* makeInner()
            const { value, lines } = yield* warnings(
              FileTokenCache.make(inner, { ...opts(), lockTimeoutMs: 3_600_000 }).getToken("r"),
            )
            const modes = `${dirMode.toString(8)}/${fileMode.toString(8)}`
            expect(Redacted.value(value.token), modes).toBe("token-1-for-r")
            expect(yield* Ref.get(calls)).toEqual(["r"])
            expect(lines, modes).toEqual([expect.stringMatching(/writable by (every user|its group)/)])
            expect(readFileSync(path, "utf8"), modes).toContain("planted") // left alone, not rewritten
          }
          // The same file, made private again, is trusted.
          chmodSync(sub, 0o700)
          chmodSync(path, 0o600)
          const { inner } = yield* makeInner()
          expect(Redacted.value((yield* FileTokenCache.make(inner, opts()).getToken("r")).token)).toBe(
            "planted",
          )
        }),
    )

    it.effect("a cache file or directory that is a symbolic link is not followed", () =>
      Effect.gen(function* () {
        const elsewhere = join(dir, "elsewhere")
        mkdirSync(elsewhere, { mode: 0o700 })
        plant(join(elsewhere, "tokens.json"))
        const sub = join(dir, "sub")
        mkdirSync(sub, { mode: 0o700 })
        symlinkSync(join(elsewhere, "tokens.json"), path)
        const { inner } = yield* makeInner()
        const file = yield* warnings(FileTokenCache.make(inner, opts()).getToken("r"))
        expect(Redacted.value(file.value.token)).toBe("token-1-for-r")
        expect(file.lines).toEqual([expect.stringContaining("is a symbolic link")])
        rmSync(sub, { recursive: true })
        symlinkSync(elsewhere, sub)
        const linkedDir = yield* warnings(FileTokenCache.make(inner, opts()).getToken("r"))
        expect(Redacted.value(linkedDir.value.token)).toBe("token-2-for-r")
        expect(linkedDir.lines).toEqual([expect.stringContaining("is a symbolic link")])
      }),
    )

    it.effect.skipIf(process.getuid?.() !== 0)("a cache file owned by another user is not trusted", () =>
      Effect.gen(function* () {
        mkdirSync(join(dir, "sub"), { mode: 0o700 })
        plant(path)
        chownSync(path, 65534, 65534)
        const { inner } = yield* makeInner()
        const { value, lines } = yield* warnings(FileTokenCache.make(inner, opts()).getToken("r"))
        expect(Redacted.value(value.token)).toBe("token-1-for-r")
        expect(lines).toEqual([expect.stringContaining("is owned by uid 65534")])
      }),
    )

    it.effect("a FIFO planted as the cache file or the lock is refused at once, never opened blocking", () =>
      Effect.gen(function* () {
        // A blocking open() of a FIFO would hold a thread of Node's pool forever: no timeout frees it,
        // and the process could never exit. (Were it blocking, this test would never end.)
        mkdirSync(join(dir, "sub"), { mode: 0o700 })
        spawnSync("mkfifo", [path])
        const { inner } = yield* makeInner()
        const file = yield* warnings(FileTokenCache.make(inner, opts()).getToken("r"))
        expect(Redacted.value(file.value.token)).toBe("token-1-for-r")
        expect(file.lines).toEqual([expect.stringContaining("is not a file")])
        rmSync(path)
        spawnSync("mkfifo", [`${path}.lock`])
        const lock = yield* warnings(FileTokenCache.make(inner, opts()).getToken("r"))
        expect(Redacted.value(lock.value.token)).toBe("token-2-for-r")
        expect(lock.lines).toEqual([expect.stringContaining("the lock file")])
      }),
    )

    it.effect.skipIf(process.platform !== "linux")(
      "a directory that can never be made (/proc/self/azmi): one warning",
      () =>
        Effect.gen(function* () {
          const { inner, calls } = yield* makeInner()
          const cache = FileTokenCache.make(inner, { ...opts(), path: "/proc/self/azmi/tokens.json" })
          const { lines } = yield* warnings(Effect.zip(cache.getToken("r"), cache.getToken("r")))
          expect(yield* Ref.get(calls)).toEqual(["r", "r"])
          expect(lines).toEqual([expect.stringContaining("mkdir /proc/self/azmi: ENOENT")])
        }),
    )
  })

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
