/**
 * An opt-in token cache shared between processes through one file, so a script that runs `azmi token`
 * a hundred times asks IMDS once (the Azure CLI asks every time).
 *
 * A `TokenProvider` wrapper: entries are keyed by (endpoint, identity, resource). The file lives under
 * `$XDG_RUNTIME_DIR/azmi/` (a per-user tmpfs), else the user cache directory; it and its directory are
 * private to the user (0600 / 0700). Every write re-reads the file under a lock file, drops expired
 * entries and replaces the file atomically (temp file + rename), so readers never see a half-written
 * file and concurrent writers lose nothing. A process that misses takes the lock before it fetches, so
 * processes starting together make one request, not one each. The cache never makes a token request
 * fail: if the file cannot be read or written, the wrapped provider answers as if there were no cache.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { FileTokenCache } from "@azmi/core"
 *
 * // TokenProvider in, TokenProvider out: the cached one.
 * const cached = FileTokenCache.layer({ endpoint: "http://169.254.169.254", identity: "system-assigned" })
 * // Layer.provide(cached, someTokenProviderLayer)
 * ```
 * @module
 */
import { randomBytes } from "node:crypto"
import { promises as fs } from "node:fs"
import { homedir, hostname } from "node:os"
import { dirname, join } from "node:path"
import { Clock, Duration, Effect, Exit, Layer, Option, Random, Redacted } from "effect"
import type { AccessToken } from "./AccessToken.js"
import { TokenProvider } from "./TokenProvider.js"

/** Options of {@link make} and {@link layer}. */
export interface FileTokenCacheOptions {
  /** Where tokens come from (IMDS base URL, or authority host for a service principal); part of the key. */
  readonly endpoint: string
  /** Which identity (e.g. `system-assigned`, `client_id=…`); part of the key. */
  readonly identity: string
  /** The cache file; default {@link defaultPath}. */
  readonly path?: string | undefined
  /** Give up waiting for another process's lock after this long and fetch without the cache. Default 10000. */
  readonly lockTimeoutMs?: number | undefined
  /** A lock older than this is considered abandoned even if its owner looks alive. Default 120000. */
  readonly staleLockMs?: number | undefined
  /** Serve a cached token only while it is valid for at least this long. Default 60000. */
  readonly minValidityMs?: number | undefined
  /**
   * Only read: on a miss, ask `inner` without locking or writing. For a fast path in front of a provider
   * that is itself file-cached (it takes the lock and writes), so the two never wait on each other.
   */
  readonly readOnly?: boolean | undefined
}

/** One cached token as stored on disk. */
interface Entry {
  readonly accessToken: string
  readonly tokenType: string
  readonly resource: string
  readonly expiresOn: number
  readonly refreshOn: number
  readonly clientId?: string | undefined
}

interface CacheFile {
  readonly version: 1
  readonly entries: Record<string, Entry>
}

/**
 * The default cache file: `$XDG_RUNTIME_DIR/azmi/tokens.json`, else the platform's per-user cache
 * directory (`$XDG_CACHE_HOME` or `~/.cache` on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%`
 * on Windows) + `azmi/tokens.json`.
 */
export const defaultPath = (
  env: Readonly<Record<string, string | undefined>> = process.env,
  platform: NodeJS.Platform = process.platform,
  home: string = homedir(),
): string => {
  const nonEmpty = (v: string | undefined) => (v === undefined || v === "" ? undefined : v)
  const runtime = nonEmpty(env.XDG_RUNTIME_DIR)
  if (runtime !== undefined) return join(runtime, "azmi", "tokens.json")
  const cacheDir =
    platform === "darwin"
      ? join(home, "Library", "Caches")
      : platform === "win32"
        ? (nonEmpty(env.LOCALAPPDATA) ?? join(home, "AppData", "Local"))
        : (nonEmpty(env.XDG_CACHE_HOME) ?? join(home, ".cache"))
  return join(cacheDir, "azmi", "tokens.json")
}

const emptyFile = (): CacheFile => ({ version: 1, entries: {} })

const isEntry = (u: unknown): u is Entry => {
  if (typeof u !== "object" || u === null) return false
  const e = u as Record<string, unknown>
  return (
    typeof e.accessToken === "string" &&
    typeof e.tokenType === "string" &&
    typeof e.resource === "string" &&
    typeof e.expiresOn === "number" &&
    typeof e.refreshOn === "number"
  )
}

// A damaged or foreign file reads as empty: the cache is an optimisation, never a failure.
const parse = (text: string): CacheFile => {
  try {
    const json: unknown = JSON.parse(text)
    if (typeof json !== "object" || json === null) return emptyFile()
    const raw = (json as { entries?: unknown }).entries
    if (typeof raw !== "object" || raw === null) return emptyFile()
    const entries: Record<string, Entry> = {}
    for (const [k, v] of Object.entries(raw)) if (isEntry(v)) entries[k] = v
    return { version: 1, entries }
  } catch {
    return emptyFile()
  }
}

const readFile = (path: string) =>
  Effect.tryPromise(() => fs.readFile(path, "utf8")).pipe(
    Effect.map(parse),
    Effect.orElseSucceed(() => emptyFile()),
  )

const uniqueSuffix = () => `${process.pid}.${randomBytes(6).toString("hex")}`

/** Writes `file` atomically: a private temp file in the same directory, then rename over the target. */
const writeFile = (path: string, file: CacheFile) =>
  Effect.tryPromise(async () => {
    await fs.mkdir(dirname(path), { recursive: true, mode: 0o700 })
    const temp = `${path}.${uniqueSuffix()}.tmp`
    try {
      await fs.writeFile(temp, JSON.stringify(file), { mode: 0o600, flag: "wx" })
      await fs.rename(temp, path)
    } catch (error) {
      await fs.rm(temp, { force: true })
      throw error
    }
  })

interface LockOwner {
  readonly pid: number
  readonly host: string
  readonly at: number
}

const processIsGone = (pid: number) => {
  try {
    process.kill(pid, 0)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH"
  }
}

/** One attempt to create the lock file; `true` when this process now holds it. */
const tryLock = (lockPath: string, now: number, staleLockMs: number) =>
  Effect.tryPromise(async () => {
    await fs.mkdir(dirname(lockPath), { recursive: true, mode: 0o700 })
    const owner: LockOwner = { pid: process.pid, host: hostname(), at: now }
    try {
      await fs.writeFile(lockPath, JSON.stringify(owner), { mode: 0o600, flag: "wx" })
      return true
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
    }
    // Someone holds it. Break it only if its owner died or it is far too old.
    const text = await fs.readFile(lockPath, "utf8").catch(() => undefined)
    if (text === undefined) return false
    let held: Partial<LockOwner> = {}
    try {
      held = JSON.parse(text) as Partial<LockOwner>
    } catch {
      // Caught between create and write, or its writer died there: judge by the file's age.
      const stat = await fs.stat(lockPath).catch(() => undefined)
      held = stat === undefined ? {} : { at: stat.mtimeMs }
    }
    const abandoned =
      (typeof held.at === "number" && now - held.at > staleLockMs) ||
      (held.host === hostname() && typeof held.pid === "number" && processIsGone(held.pid))
    if (abandoned) await fs.rm(lockPath, { force: true })
    return false
  })

const acquireLock = (lockPath: string, timeoutMs: number, staleLockMs: number) =>
  Effect.gen(function* () {
    const start = yield* Clock.currentTimeMillis
    for (;;) {
      const now = yield* Clock.currentTimeMillis
      const held = yield* tryLock(lockPath, now, staleLockMs).pipe(Effect.orElseSucceed(() => false))
      if (held) return true
      if (now - start >= timeoutMs) return false
      yield* Effect.sleep(Duration.millis(yield* Random.nextIntBetween(5, 25)))
    }
  })

const releaseLock = (lockPath: string) =>
  Effect.promise(() => fs.rm(lockPath, { force: true }).catch(() => {}))

const toToken = (e: Entry): AccessToken => ({
  token: Redacted.make(e.accessToken),
  tokenType: e.tokenType,
  resource: e.resource,
  expiresOn: e.expiresOn,
  refreshOn: e.refreshOn,
  clientId: e.clientId,
})

const toEntry = (t: AccessToken): Entry => ({
  accessToken: Redacted.value(t.token),
  tokenType: t.tokenType,
  resource: t.resource,
  expiresOn: t.expiresOn,
  refreshOn: t.refreshOn,
  ...(t.clientId === undefined ? {} : { clientId: t.clientId }),
})

/** The cache key of one token. */
export const keyOf = (endpoint: string, identity: string, resource: string): string =>
  JSON.stringify([endpoint.replace(/\/+$/, "").toLowerCase(), identity, resource])

/**
 * Wraps `inner` so tokens are shared through the cache file.
 *
 * @example
 * ```ts
 * const cached = FileTokenCache.make(inner, { endpoint: "http://127.0.0.1:8080", identity: "system-assigned" })
 * ```
 */
export const make = (inner: TokenProvider["Type"], options: FileTokenCacheOptions): TokenProvider["Type"] => {
  const path = options.path ?? defaultPath()
  const lockPath = `${path}.lock`
  const lockTimeoutMs = options.lockTimeoutMs ?? 10_000
  const staleLockMs = options.staleLockMs ?? 120_000
  const minValidityMs = options.minValidityMs ?? 60_000

  const fresh = (entry: Entry | undefined, now: number) =>
    entry !== undefined && now < entry.refreshOn && now < entry.expiresOn - minValidityMs ? entry : undefined
  const usable = (entry: Entry | undefined, now: number) =>
    entry !== undefined && now < entry.expiresOn - minValidityMs ? entry : undefined

  const store = (key: string, token: AccessToken) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const file = yield* readFile(path)
      const entries: Record<string, Entry> = {}
      for (const [k, e] of Object.entries(file.entries)) if (e.expiresOn > now) entries[k] = e
      entries[key] = toEntry(token)
      yield* writeFile(path, { version: 1, entries })
    }).pipe(
      Effect.catchAll((error) =>
        Effect.logWarning("token cache: could not write the cache file").pipe(
          Effect.annotateLogs({ path, error: String(error) }),
        ),
      ),
    )

  // What this process already read or wrote: a token it holds is not read from disk again (an ARM
  // list asks for one per page).
  const memory = new Map<string, Entry>()

  const getToken: TokenProvider["Type"]["getToken"] = (resource, getOptions) =>
    Effect.gen(function* () {
      const key = keyOf(options.endpoint, options.identity, resource)
      const force = getOptions?.forceRefresh === true
      if (!force) {
        const held = fresh(memory.get(key), yield* Clock.currentTimeMillis)
        if (held !== undefined) return toToken(held)
        const hit = fresh((yield* readFile(path)).entries[key], yield* Clock.currentTimeMillis)
        if (hit !== undefined) {
          memory.set(key, hit)
          yield* Effect.logDebug("token cache: hit").pipe(Effect.annotateLogs({ resource }))
          return toToken(hit)
        }
      }
      if (options.readOnly === true) return yield* inner.getToken(resource, getOptions)
      const locked = yield* acquireLock(lockPath, lockTimeoutMs, staleLockMs)
      if (!locked) {
        yield* Effect.logDebug("token cache: lock busy; fetching without the cache").pipe(
          Effect.annotateLogs({ lockPath }),
        )
        return yield* inner.getToken(resource, getOptions)
      }
      return yield* Effect.gen(function* () {
        // Another process may have fetched while this one waited for the lock.
        const cached = (yield* readFile(path)).entries[key]
        if (!force) {
          const hit = fresh(cached, yield* Clock.currentTimeMillis)
          if (hit !== undefined) return toToken(hit)
        }
        yield* Effect.logDebug("token cache: miss").pipe(Effect.annotateLogs({ resource }))
        const fetched = yield* Effect.exit(inner.getToken(resource, getOptions))
        if (Exit.isSuccess(fetched)) {
          memory.set(key, toEntry(fetched.value))
          yield* store(key, fetched.value)
          return fetched.value
        }
        // Refresh-ahead failed but the cached token is still good: use it rather than fail.
        const fallback = Option.fromNullable(usable(cached, yield* Clock.currentTimeMillis))
        if (!force && Option.isSome(fallback)) return toToken(fallback.value)
        return yield* fetched
      }).pipe(Effect.ensuring(releaseLock(lockPath)))
    })

  return TokenProvider.of({ getToken, description: `${inner.description} (file cache ${path})` })
}

/**
 * A layer that replaces the `TokenProvider` it is given with the file-cached one.
 *
 * @example
 * ```ts
 * const live = FileTokenCache.layer({ endpoint, identity }).pipe(Layer.provide(ManagedIdentity.layer()))
 * ```
 */
export const layer = (options: FileTokenCacheOptions): Layer.Layer<TokenProvider, never, TokenProvider> =>
  Layer.effect(
    TokenProvider,
    Effect.map(TokenProvider, (inner) => make(inner, options)),
  )
