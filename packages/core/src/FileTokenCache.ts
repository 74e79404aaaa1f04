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
 * each. A lock whose owner died (or that is far too old) is broken — only that lock, by one process at
 * a time, so the lock never has two holders (see `breakLock`).
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
import { promises as fs } from "node:fs"
import { hostname } from "node:os"
import { dirname } from "node:path"
import { Clock, Duration, Effect, Either, Exit, Layer, Option, Random, Redacted } from "effect"
import type { AccessToken } from "./AccessToken.js"
import * as TokenCacheFile from "./TokenCacheFile.js"
import { TokenProvider } from "./TokenProvider.js"

const { Unusable } = TokenCacheFile
type Unusable = TokenCacheFile.Unusable

/** Options of {@link make} and {@link layer}. */
export interface FileTokenCacheOptions {
  /**
   * Everything that selects the identity tokens are for — use `AzmiConfig.identityKey`, which names
   * the credential the core chose. Part of the key: tokens of one identity are never served for another.
   */
  readonly identity: string
  /**
   * The digest of the raw inputs `identity` was resolved from (`TokenCacheFile.inputsKey`), stored with
   * the tokens so a later process with the same inputs finds them without resolving its configuration.
   */
  readonly inputs?: string | undefined
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

/** The default cache file (see `TokenCacheFile.defaultPath`). */
export const defaultPath = TokenCacheFile.defaultPath

/** The cache key of one token (see `TokenCacheFile.keyOf`). */
export const keyOf = TokenCacheFile.keyOf

const uniqueSuffix = () => `${process.pid}.${randomBytes(6).toString("hex")}`

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

const toToken = (e: TokenCacheFile.Entry): AccessToken => ({
  token: Redacted.make(e.accessToken),
  tokenType: e.tokenType,
  resource: e.resource,
  expiresOn: e.expiresOn,
  refreshOn: e.refreshOn,
  clientId: e.clientId,
})

const toEntry = (t: AccessToken): TokenCacheFile.Entry => ({
  accessToken: Redacted.value(t.token),
  tokenType: t.tokenType,
  resource: t.resource,
  expiresOn: t.expiresOn,
  refreshOn: t.refreshOn,
  ...(t.clientId === undefined ? {} : { clientId: t.clientId }),
})

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
  const guardPath = `${lockPath}.break`
  const lockTimeoutMs = options.lockTimeoutMs ?? 10_000
  const staleLockMs = options.staleLockMs ?? 120_000
  const minValidityMs = options.minValidityMs ?? TokenCacheFile.DEFAULT_MIN_VALIDITY_MS
  const fsIo = TokenCacheFile.bounded(options.fsTimeoutMs ?? TokenCacheFile.DEFAULT_FS_TIMEOUT_MS)

  const fresh = (entry: TokenCacheFile.Entry | undefined, now: number) =>
    TokenCacheFile.fresh(entry, now, minValidityMs)
  const usable = (entry: TokenCacheFile.Entry | undefined, now: number) =>
    TokenCacheFile.usable(entry, now, minValidityMs)

  /** One filesystem call, bounded (`TokenCacheFile.bounded`); fails with its error, or `Unusable` when too slow. */
  const io = <A>(what: string, call: () => Promise<A>): Effect.Effect<A, Unusable | NodeJS.ErrnoException> =>
    Effect.tryPromise({
      try: () => fsIo(what, call),
      catch: (error) => (error instanceof Unusable ? error : (error as NodeJS.ErrnoException)),
    })
  /** {@link io}, any failure `Unusable`. */
  const must = <A>(what: string, call: () => Promise<A>): Effect.Effect<A, Unusable> =>
    Effect.tryPromise({
      try: () => TokenCacheFile.must(fsIo, what, call),
      catch: (error) => error as Unusable,
    })
  /** A step of `TokenCacheFile` (which fails only with `Unusable`). */
  const step = <A>(call: () => Promise<A>): Effect.Effect<A, Unusable> =>
    Effect.tryPromise({ try: call, catch: (error) => error as Unusable })

  const checkDir = step(() => TokenCacheFile.checkDir(dir, fsIo))

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
      if (TokenCacheFile.codeOf(error) === "EEXIST") return
      if (TokenCacheFile.codeOf(error) === "ENOENT" && ancestors > 0 && dirname(target) !== target) {
        yield* makeDir(dirname(target), ancestors - 1)
        return yield* must(`mkdir ${target}`, () =>
          fs.mkdir(target, { mode: 0o700 }).catch((e: unknown) => {
            if (TokenCacheFile.codeOf(e) !== "EEXIST") throw e
          }),
        )
      }
      return yield* Effect.fail(new Unusable(TokenCacheFile.describe(`mkdir ${target}`, error)))
    })

  const ensureDir = Effect.gen(function* () {
    if ((yield* checkDir) === "ok") return
    yield* makeDir(dir, 3)
    if ((yield* checkDir) !== "ok") return yield* Effect.fail(new Unusable(`${dir} could not be created`))
  })

  /** The file; empty when there is no file (or no directory) yet. */
  const readFile = step(() => TokenCacheFile.readCacheFile(path, fsIo))

  /** Writes `file` atomically: a private temp file in the same directory, then rename over the target. */
  const writeFile = (file: TokenCacheFile.CacheFile) =>
    Effect.gen(function* () {
      const temp = `${path}.${uniqueSuffix()}.tmp`
      yield* must(`write ${temp}`, () =>
        fs.writeFile(temp, JSON.stringify(file), { mode: 0o600, flag: "wx" }),
      )
      yield* must(`rename ${temp}`, () => fs.rename(temp, path)).pipe(
        Effect.tapError(() => Effect.promise(() => fs.rm(temp, { force: true }).catch(() => {}))),
      )
    })

  /**
   * Creates `file` (the lock, or the guard below) naming this process as its owner: `true` when this
   * process created it, `false` when it exists already; `Unusable` for any other failure.
   */
  const create = (file: string, now: number) =>
    Effect.gen(function* () {
      const owner: LockOwner = { pid: process.pid, host: hostname(), at: now }
      const created = yield* Effect.either(
        io(`create ${file}`, () => fs.writeFile(file, JSON.stringify(owner), { mode: 0o600, flag: "wx" })),
      )
      if (Either.isRight(created)) return true
      if (created.left instanceof Unusable) return yield* Effect.fail(created.left)
      // Only "it exists" means another process holds it; anything else means no lock can be taken here.
      if (TokenCacheFile.codeOf(created.left) !== "EEXIST") {
        return yield* Effect.fail(new Unusable(TokenCacheFile.describe(`create ${file}`, created.left)))
      }
      return false
    })

  const remove = (file: string) =>
    io(`remove ${file}`, () => fs.rm(file, { force: true })).pipe(Effect.ignore)

  /**
   * The text of `file` (a lock or the guard, named `what`) when it was abandoned: its owner died, or it
   * is far too old; `undefined` while it is held (or gone).
   */
  const abandoned = (file: string, what: string, now: number) =>
    Effect.gen(function* () {
      const text = yield* step(() => TokenCacheFile.readTrusted(file, what, fsIo))
      if (text === undefined) return undefined
      let held: Partial<LockOwner> = {}
      try {
        held = JSON.parse(text) as Partial<LockOwner>
      } catch {
        // Caught between create and write, or its writer died there: judge by the file's age.
        const stat = yield* io(`stat ${file}`, () => fs.stat(file)).pipe(
          Effect.orElseSucceed(() => undefined),
        )
        held = stat === undefined ? {} : { at: stat.mtimeMs }
      }
      const gone =
        (typeof held.at === "number" && now - held.at > staleLockMs) ||
        (held.host === hostname() && typeof held.pid === "number" && processIsGone(held.pid))
      return gone ? text : undefined
    })

  /**
   * Removes the lock if it is still the abandoned one read as `judged`. Whatever is at the lock's path
   * NOW may be another lock: its owner released it and a third process took the lock, or another
   * process broke it and a third took it — removing that one would let two processes hold the lock
   * (and both fetch). So the lock is read again and removed under a guard (`<lock>.break`) that only
   * processes breaking a lock take: an abandoned lock's owner is gone, nobody can create the lock while
   * it exists, and no other breaker can remove it, so the lock read again is the lock removed. A guard
   * left by a process that died while breaking is itself removed as abandoned (only that rare case,
   * with two more breakers racing, could still remove a live lock).
   */
  const breakLock = (judged: string, now: number) =>
    Effect.gen(function* () {
      if (!(yield* create(guardPath, now))) {
        if ((yield* abandoned(guardPath, "the lock's break guard", now)) !== undefined)
          yield* remove(guardPath)
        return
      }
      yield* Effect.gen(function* () {
        const text = yield* step(() => TokenCacheFile.readTrusted(lockPath, "the lock file", fsIo))
        if (text === judged) yield* remove(lockPath)
      }).pipe(Effect.ensuring(remove(guardPath)))
    })

  /** One attempt to take the lock: `true` when this process now holds it, `false` when another does. */
  const tryLock = (now: number) =>
    Effect.gen(function* () {
      if (yield* create(lockPath, now)) return true
      // Someone holds it. Break it only if its owner died or it is far too old.
      const judged = yield* abandoned(lockPath, "the lock file", now)
      if (judged !== undefined) yield* breakLock(judged, now)
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

  const releaseLock = remove(lockPath)

  /** Under the lock: rewrites the file with `entries` added, and this process's inputs. */
  const store = (entries: Readonly<Record<string, TokenCacheFile.Entry>>) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const file = TokenCacheFile.withoutExpired(yield* readFile, now)
      yield* writeFile({
        version: 1,
        entries: { ...file.entries, ...entries },
        inputs:
          options.inputs === undefined ? file.inputs : { ...file.inputs, [options.inputs]: options.identity },
      })
    })

  const knowsInputs = (file: TokenCacheFile.CacheFile) =>
    options.inputs === undefined || file.inputs[options.inputs] === options.identity

  /**
   * After a hit in `file`: records this process's inputs if `file` does not have them yet (a file from
   * before inputs were recorded, or tokens fetched with other inputs for the same identity), so the
   * next process finds its token by them. Best effort and never waits: only if the lock is free at once
   * (or already held), and any problem is ignored — the token was served either way.
   */
  const learnInputs = (file: TokenCacheFile.CacheFile, locked: boolean) =>
    knowsInputs(file)
      ? Effect.void
      : locked
        ? store({}).pipe(Effect.ignore)
        : Effect.gen(function* () {
            if (!(yield* tryLock(yield* Clock.currentTimeMillis))) return
            yield* store({}).pipe(Effect.ensuring(releaseLock))
          }).pipe(Effect.ignore)

  // What this process already read or wrote: a token it holds is not read from disk again (an ARM
  // list asks for one per page).
  const memory = new Map<string, TokenCacheFile.Entry>()
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
      const key = TokenCacheFile.keyOf(options.identity, resource)
      const force = getOptions?.forceRefresh === true
      if (!force) {
        const held = fresh(memory.get(key), yield* Clock.currentTimeMillis)
        if (held !== undefined) return toToken(held)
      }
      return yield* orWithout(
        Effect.gen(function* () {
          if (!force) {
            const file = yield* readFile
            const hit = fresh(file.entries[key], yield* Clock.currentTimeMillis)
            if (hit !== undefined) {
              memory.set(key, hit)
              yield* Effect.logDebug("token cache: hit").pipe(Effect.annotateLogs({ resource }))
              yield* learnInputs(file, false)
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
            const file = yield* readFile
            const cached = file.entries[key]
            if (!force) {
              const hit = fresh(cached, yield* Clock.currentTimeMillis)
              if (hit !== undefined) {
                yield* learnInputs(file, true)
                return toToken(hit)
              }
            }
            yield* Effect.logDebug("token cache: miss").pipe(Effect.annotateLogs({ resource }))
            const fetched = yield* Effect.exit(inner.getToken(resource, getOptions))
            if (Exit.isSuccess(fetched)) {
              memory.set(key, toEntry(fetched.value))
              // The token is good whether or not it could be stored.
              yield* orWithout(store({ [key]: toEntry(fetched.value) }), () => Effect.void)
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
