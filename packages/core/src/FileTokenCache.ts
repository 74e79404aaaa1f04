/**
 * An opt-in token cache shared between processes through one file, so a script that runs `azmi token`
 * a hundred times asks IMDS once (the Azure CLI asks every time).
 *
 * A `TokenProvider` wrapper: entries are keyed by (identity, resource), where the identity is
 * everything that selects it (`AzmiConfig.identityKey`: source, endpoint, selector, tenant, client, a
 * digest of a secret). The file lives under `$XDG_RUNTIME_DIR/azmi/` (a per-user tmpfs), else the user
 * cache directory; it and its directory are private to the user (0600 / 0700). Every write re-reads
 * the file under a lock file, drops expired entries and replaces the file atomically (temp file +
 * rename), so readers never see a half-written file and concurrent writers lose nothing. A process that
 * misses takes the lock before it fetches, so processes starting together make one request, not one
 * each.
 *
 * The file is a secret store, so it is trusted only when it is safe: the directory and the file must be
 * what they claim (a real directory, a regular file — no symbolic links), owned by this user, and
 * writable by nobody else. The cache never makes a token request fail or wait: a lock held by another
 * process is waited for (up to `lockTimeoutMs`), but any other problem — an unsafe or unusable location,
 * a filesystem call that takes longer than `fsTimeoutMs` — logs ONE warning and the process goes on
 * without the cache, asking the wrapped provider directly.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { AzmiConfig, FileTokenCache } from "@azmi/core"
 *
 * // TokenProvider in, TokenProvider out: the cached one.
 * const cached = Layer.unwrapEffect(
 *   Effect.map(AzmiConfig.make(), (config) => FileTokenCache.layer({ identity: config.identityKey })),
 * )
 * // Layer.provide(cached, someTokenProviderLayer)
 * ```
 * @module
 */
import { randomBytes } from "node:crypto"
import { constants, promises as fs, type Stats } from "node:fs"
import { homedir, hostname } from "node:os"
import { dirname, join } from "node:path"
import { Clock, Duration, Effect, Either, Exit, Layer, Option, Random, Redacted } from "effect"
import type { AccessToken } from "./AccessToken.js"
import { TokenProvider } from "./TokenProvider.js"

/** Options of {@link make} and {@link layer}. */
export interface FileTokenCacheOptions {
  /**
   * Everything that selects the identity tokens are for — use `AzmiConfig.identityKey`, which names
   * the credential the core chose. Part of the key: tokens of one identity are never served for another.
   */
  readonly identity: string
  /** The cache file; default {@link defaultPath}. */
  readonly path?: string | undefined
  /** Give up waiting for another process's lock after this long and fetch without the cache. Default 10000. */
  readonly lockTimeoutMs?: number | undefined
  /** A lock older than this is considered abandoned even if its owner looks alive. Default 120000. */
  readonly staleLockMs?: number | undefined
  /** Serve a cached token only while it is valid for at least this long. Default 60000. */
  readonly minValidityMs?: number | undefined
  /** Longest wait for one filesystem call; a slower one makes the cache unusable for this process. Default 2000. */
  readonly fsTimeoutMs?: number | undefined
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

// A damaged or foreign file reads as empty (and the next write replaces it): its content is ours to
// judge, its location and ownership are not (see `trusted`).
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

/** Why the cache cannot be used in this process (the one warning says it). */
class Unusable {
  readonly _tag = "Unusable"
  constructor(readonly reason: string) {}
}

const codeOf = (error: unknown) => (error as NodeJS.ErrnoException | undefined)?.code

const describe = (what: string, error: unknown) =>
  `${what}: ${codeOf(error) ?? (error instanceof Error ? error.message : String(error))}`

const uniqueSuffix = () => `${process.pid}.${randomBytes(6).toString("hex")}`

// Owner and mode mean nothing on Windows (no getuid): there the user profile's ACLs protect the file.
const uid = typeof process.getuid === "function" ? process.getuid() : undefined

/** Why `stat` (of `what`) may not hold secrets: not the expected kind, not ours, or writable by others. */
const untrusted = (what: string, stat: Stats, kind: "directory" | "file"): string | undefined => {
  if (stat.isSymbolicLink()) return `${what} is a symbolic link`
  if (kind === "directory" ? !stat.isDirectory() : !stat.isFile()) return `${what} is not a ${kind}`
  if (uid === undefined) return undefined
  if (stat.uid !== uid) return `${what} is owned by uid ${stat.uid}, not this user (${uid})`
  if ((stat.mode & 0o022) !== 0) {
    return `${what} is writable by ${stat.mode & 0o002 ? "every user" : "its group"} (mode ${(stat.mode & 0o777).toString(8)})`
  }
  return undefined
}

/**
 * How the cache file and the lock are opened for reading. `O_NOFOLLOW`: a symbolic link planted at the
 * path fails instead of being followed. `O_NONBLOCK`: a FIFO planted there opens at once (and is then
 * refused as not a regular file) instead of blocking a thread of Node's pool — which no timeout can
 * free, and which would keep the process from ever exiting. (Neither flag exists on Windows.)
 */
const OPEN_FOR_READ = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0)

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
export const keyOf = (identity: string, resource: string): string => JSON.stringify([identity, resource])

/**
 * Wraps `inner` so tokens are shared through the cache file.
 *
 * @example
 * ```ts
 * const cached = FileTokenCache.make(inner, { identity: config.identityKey })
 * ```
 */
export const make = (inner: TokenProvider["Type"], options: FileTokenCacheOptions): TokenProvider["Type"] => {
  const path = options.path ?? defaultPath()
  const dir = dirname(path)
  const lockPath = `${path}.lock`
  const lockTimeoutMs = options.lockTimeoutMs ?? 10_000
  const staleLockMs = options.staleLockMs ?? 120_000
  const minValidityMs = options.minValidityMs ?? 60_000
  const fsTimeoutMs = options.fsTimeoutMs ?? 2_000

  const fresh = (entry: Entry | undefined, now: number) =>
    entry !== undefined && now < entry.refreshOn && now < entry.expiresOn - minValidityMs ? entry : undefined
  const usable = (entry: Entry | undefined, now: number) =>
    entry !== undefined && now < entry.expiresOn - minValidityMs ? entry : undefined

  /**
   * One filesystem call, bounded: a call that never settles (`mkdir` under /proc, a hung network
   * filesystem) must not hold up the command. Its failure is returned as the error's code.
   */
  const io = <A>(what: string, call: () => Promise<A>): Effect.Effect<A, Unusable | NodeJS.ErrnoException> =>
    Effect.tryPromise({ try: call, catch: (error) => error as NodeJS.ErrnoException }).pipe(
      Effect.timeoutFail({
        duration: Duration.millis(fsTimeoutMs),
        onTimeout: () => new Unusable(`${what} took longer than ${fsTimeoutMs} ms`),
      }),
    )
  const must = <A>(what: string, call: () => Promise<A>) =>
    io(what, call).pipe(
      Effect.mapError((error) => (error instanceof Unusable ? error : new Unusable(describe(what, error)))),
    )

  /** The directory, checked (`absent` when it does not exist yet). */
  const checkDir = Effect.gen(function* () {
    const stat = yield* Effect.either(io(`lstat ${dir}`, () => fs.lstat(dir)))
    if (Either.isLeft(stat)) {
      if (!(stat.left instanceof Unusable) && codeOf(stat.left) === "ENOENT") return "absent" as const
      return yield* Effect.fail(
        stat.left instanceof Unusable ? stat.left : new Unusable(describe(`lstat ${dir}`, stat.left)),
      )
    }
    const why = untrusted(`the cache directory ${dir}`, stat.right, "directory")
    if (why !== undefined) return yield* Effect.fail(new Unusable(why))
    return "ok" as const
  })

  /**
   * Creates the directory (0700) and the few missing ancestors above it — one `mkdir` at a time, not
   * `mkdir -p`: Node's recursive mkdir loops forever where a parent exists but a child can never be
   * made (`/proc/self/azmi`).
   */
  const makeDir = (target: string, ancestors: number): Effect.Effect<void, Unusable> =>
    Effect.gen(function* () {
      const made = yield* Effect.either(io(`mkdir ${target}`, () => fs.mkdir(target, { mode: 0o700 })))
      if (Either.isRight(made)) return
      const error = made.left
      if (error instanceof Unusable) return yield* Effect.fail(error)
      if (codeOf(error) === "EEXIST") return
      if (codeOf(error) === "ENOENT" && ancestors > 0 && dirname(target) !== target) {
        yield* makeDir(dirname(target), ancestors - 1)
        return yield* must(`mkdir ${target}`, () =>
          fs.mkdir(target, { mode: 0o700 }).catch((e: unknown) => {
            if (codeOf(e) !== "EEXIST") throw e
          }),
        )
      }
      return yield* Effect.fail(new Unusable(describe(`mkdir ${target}`, error)))
    })

  const ensureDir = Effect.gen(function* () {
    if ((yield* checkDir) === "ok") return
    yield* makeDir(dir, 3)
    if ((yield* checkDir) !== "ok") return yield* Effect.fail(new Unusable(`${dir} could not be created`))
  })

  /** The text of `file` (named `what` in messages) if it is a trusted regular file; `undefined` if absent. */
  const readTrusted = (file: string, what: string) =>
    Effect.gen(function* () {
      const opened = yield* Effect.either(io(`open ${file}`, () => fs.open(file, OPEN_FOR_READ)))
      if (Either.isLeft(opened)) {
        if (!(opened.left instanceof Unusable) && codeOf(opened.left) === "ENOENT") return undefined
        const why =
          !(opened.left instanceof Unusable) && codeOf(opened.left) === "ELOOP"
            ? `${what} ${file} is a symbolic link`
            : opened.left instanceof Unusable
              ? opened.left.reason
              : describe(`open ${file}`, opened.left)
        return yield* Effect.fail(new Unusable(why))
      }
      const handle = opened.right
      return yield* Effect.gen(function* () {
        const why = untrusted(`${what} ${file}`, yield* must(`stat ${file}`, () => handle.stat()), "file")
        if (why !== undefined) return yield* Effect.fail(new Unusable(why))
        return yield* must(`read ${file}`, () => handle.readFile("utf8"))
      }).pipe(Effect.ensuring(io(`close ${file}`, () => handle.close()).pipe(Effect.ignore)))
    })

  /** The file's entries; empty when there is no file (or no directory) yet. */
  const readFile = Effect.gen(function* () {
    if ((yield* checkDir) === "absent") return emptyFile()
    const text = yield* readTrusted(path, "the cache file")
    return text === undefined ? emptyFile() : parse(text)
  })

  /** Writes `file` atomically: a private temp file in the same directory, then rename over the target. */
  const writeFile = (file: CacheFile) =>
    Effect.gen(function* () {
      const temp = `${path}.${uniqueSuffix()}.tmp`
      yield* must(`write ${temp}`, () =>
        fs.writeFile(temp, JSON.stringify(file), { mode: 0o600, flag: "wx" }),
      )
      yield* must(`rename ${temp}`, () => fs.rename(temp, path)).pipe(
        Effect.tapError(() => Effect.promise(() => fs.rm(temp, { force: true }).catch(() => {}))),
      )
    })

  /** One attempt to create the lock file: `true` when this process now holds it, `false` when another does. */
  const tryLock = (now: number) =>
    Effect.gen(function* () {
      const owner: LockOwner = { pid: process.pid, host: hostname(), at: now }
      const created = yield* Effect.either(
        io(`create ${lockPath}`, () =>
          fs.writeFile(lockPath, JSON.stringify(owner), { mode: 0o600, flag: "wx" }),
        ),
      )
      if (Either.isRight(created)) return true
      if (created.left instanceof Unusable) return yield* Effect.fail(created.left)
      // Only "it exists" means another process holds it; anything else means no lock can be taken here.
      if (codeOf(created.left) !== "EEXIST") {
        return yield* Effect.fail(new Unusable(describe(`create ${lockPath}`, created.left)))
      }
      // Someone holds it. Break it only if its owner died or it is far too old.
      const text = yield* readTrusted(lockPath, "the lock file")
      if (text === undefined) return false
      let held: Partial<LockOwner> = {}
      try {
        held = JSON.parse(text) as Partial<LockOwner>
      } catch {
        // Caught between create and write, or its writer died there: judge by the file's age.
        const stat = yield* io(`stat ${lockPath}`, () => fs.stat(lockPath)).pipe(
          Effect.orElseSucceed(() => undefined),
        )
        held = stat === undefined ? {} : { at: stat.mtimeMs }
      }
      const abandoned =
        (typeof held.at === "number" && now - held.at > staleLockMs) ||
        (held.host === hostname() && typeof held.pid === "number" && processIsGone(held.pid))
      if (abandoned)
        yield* io(`remove ${lockPath}`, () => fs.rm(lockPath, { force: true })).pipe(Effect.ignore)
      return false
    })

  /** `true` once the lock is held; `false` when another process kept it past `lockTimeoutMs`. */
  const acquireLock = Effect.gen(function* () {
    yield* ensureDir
    const start = yield* Clock.currentTimeMillis
    for (;;) {
      const now = yield* Clock.currentTimeMillis
      if (yield* tryLock(now)) return true
      if (now - start >= lockTimeoutMs) return false
      yield* Effect.sleep(Duration.millis(yield* Random.nextIntBetween(5, 25)))
    }
  })

  const releaseLock = io(`remove ${lockPath}`, () => fs.rm(lockPath, { force: true })).pipe(Effect.ignore)

  const store = (key: string, token: AccessToken) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const file = yield* readFile
      const entries: Record<string, Entry> = {}
      for (const [k, e] of Object.entries(file.entries)) if (e.expiresOn > now) entries[k] = e
      entries[key] = toEntry(token)
      yield* writeFile({ version: 1, entries })
    })

  // What this process already read or wrote: a token it holds is not read from disk again (an ARM
  // list asks for one per page).
  const memory = new Map<string, Entry>()
  // Set at the first problem that is not "another process holds the lock": from then on this process
  // asks `inner` directly, and says so once.
  let unusable: string | undefined

  const disable = (problem: Unusable) =>
    Effect.suspend(() => {
      if (unusable !== undefined) return Effect.void
      unusable = problem.reason
      return Effect.logWarning(`token cache: not used (${problem.reason}); tokens are fetched without it`)
    })

  /** Runs a cache step; when the cache turns out unusable, disables it and answers with `orElse`. */
  const orWithout = <A, E>(
    step: Effect.Effect<A, Unusable | E>,
    orElse: () => Effect.Effect<A, E>,
  ): Effect.Effect<A, E> =>
    Effect.catchIf(
      step,
      (e): e is Unusable => e instanceof Unusable,
      (problem) => Effect.zipRight(disable(problem), orElse()),
    )

  const getToken: TokenProvider["Type"]["getToken"] = (resource, getOptions) =>
    Effect.gen(function* () {
      if (unusable !== undefined) return yield* inner.getToken(resource, getOptions)
      const key = keyOf(options.identity, resource)
      const force = getOptions?.forceRefresh === true
      if (!force) {
        const held = fresh(memory.get(key), yield* Clock.currentTimeMillis)
        if (held !== undefined) return toToken(held)
      }
      return yield* orWithout(
        Effect.gen(function* () {
          if (!force) {
            const hit = fresh((yield* readFile).entries[key], yield* Clock.currentTimeMillis)
            if (hit !== undefined) {
              memory.set(key, hit)
              yield* Effect.logDebug("token cache: hit").pipe(Effect.annotateLogs({ resource }))
              return toToken(hit)
            }
          }
          if (!(yield* acquireLock)) {
            yield* Effect.logDebug("token cache: lock busy; fetching without the cache").pipe(
              Effect.annotateLogs({ lockPath }),
            )
            return yield* inner.getToken(resource, getOptions)
          }
          return yield* Effect.gen(function* () {
            // Another process may have fetched while this one waited for the lock.
            const cached = (yield* readFile).entries[key]
            if (!force) {
              const hit = fresh(cached, yield* Clock.currentTimeMillis)
              if (hit !== undefined) return toToken(hit)
            }
            yield* Effect.logDebug("token cache: miss").pipe(Effect.annotateLogs({ resource }))
            const fetched = yield* Effect.exit(inner.getToken(resource, getOptions))
            if (Exit.isSuccess(fetched)) {
              memory.set(key, toEntry(fetched.value))
              // The token is good whether or not it could be stored.
              yield* orWithout(store(key, fetched.value), () => Effect.void)
              return fetched.value
            }
            // Refresh-ahead failed but the cached token is still good: use it rather than fail.
            const fallback = Option.fromNullable(usable(cached, yield* Clock.currentTimeMillis))
            if (!force && Option.isSome(fallback)) return toToken(fallback.value)
            return yield* fetched
          }).pipe(Effect.ensuring(releaseLock))
        }),
        () => inner.getToken(resource, getOptions),
      )
    })

  return TokenProvider.of({ getToken, description: `${inner.description} (file cache ${path})` })
}

/**
 * A layer that replaces the `TokenProvider` it is given with the file-cached one.
 *
 * @example
 * ```ts
 * const live = FileTokenCache.layer({ identity: config.identityKey }).pipe(Layer.provide(ManagedIdentity.layer()))
 * ```
 */
export const layer = (options: FileTokenCacheOptions): Layer.Layer<TokenProvider, never, TokenProvider> =>
  Layer.effect(
    TokenProvider,
    Effect.map(TokenProvider, (inner) => make(inner, options)),
  )
