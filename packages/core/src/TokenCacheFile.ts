/**
 * The token cache file — where it lives, what it holds, when it may be trusted and read, and which of
 * its tokens may be served — in one place, free of Effect: `FileTokenCache` reads and writes it, and
 * `azmi token` reads it before it loads anything else (a cached token in a few milliseconds).
 *
 * The file (`{ version: 1, entries, inputs }`) maps `keyOf(identity, resource)` to a token, where the
 * identity is `AzmiConfig.identityKey` (everything that selects it: credential, source, endpoint,
 * selector, a digest of a secret). `inputs` maps an {@link inputsKey} — a digest of the raw inputs a
 * configuration was resolved from — to the identity they resolved to, so that a process with the same
 * inputs finds its tokens without resolving its configuration again: the same inputs resolve to the
 * same identity, and an entry is written only after they resolved without error.
 *
 * A file is read only when it is safe: the directory and the file must be what they claim (a real
 * directory, a regular file — no symbolic links), owned by this user, and writable by nobody else;
 * every filesystem call is bounded in time. Anything else makes the cache {@link Unusable} for the
 * process, with a reason.
 *
 * @example
 * ```ts
 * import { TokenCacheFile } from "@azmi/core"
 *
 * const file = await TokenCacheFile.readCacheFile(TokenCacheFile.defaultPath(), TokenCacheFile.bounded(2_000))
 * const entry = TokenCacheFile.lookup(file, { inputs, resource: "https://management.azure.com/", now: Date.now() })
 * ```
 * @module
 */
import { createHash } from "node:crypto"
import { constants, promises as fs, type Stats } from "node:fs"
import { homedir } from "node:os"
import { dirname, join } from "node:path"
import type { ConfigOptions } from "./Config.js"
import { configVariables } from "./internal/configVariables.js"

/** One cached token as stored on disk. */
export interface Entry {
  readonly accessToken: string
  readonly tokenType: string
  readonly resource: string
  readonly expiresOn: number
  readonly refreshOn: number
  readonly clientId?: string | undefined
}

/** The file's content. */
export interface CacheFile {
  readonly version: 1
  /** Tokens by {@link keyOf}. */
  readonly entries: Readonly<Record<string, Entry>>
  /** Identities by {@link inputsKey}: what each set of inputs resolved to. */
  readonly inputs: Readonly<Record<string, string>>
}

/** Serve a cached token only while it is valid for at least this long (ms). */
export const DEFAULT_MIN_VALIDITY_MS = 60_000

/** Longest wait for one filesystem call (ms); a slower one makes the cache unusable for the process. */
export const DEFAULT_FS_TIMEOUT_MS = 2_000

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

/** The key of one token: the identity it is for and its resource. */
export const keyOf = (identity: string, resource: string): string => JSON.stringify([identity, resource])

/**
 * A digest of the raw inputs a configuration is resolved from: `given` (what the caller hands the
 * resolver: flags and options, as plain data) and the value of every environment variable the
 * resolver reads. Two processes with the same inputs resolve the same identity. A digest, because the
 * inputs include secrets (`AZURE_CLIENT_SECRET`, `IDENTITY_HEADER`).
 *
 * @example
 * ```ts
 * inputsKey({ flags: { "--imds-endpoint": "http://127.0.0.1:8080" } }, process.env) // "sha256:…"
 * ```
 */
export const inputsKey = (given: unknown, env: Readonly<Record<string, string | undefined>>): string =>
  `sha256:${createHash("sha256")
    .update("azmi configuration inputs\0")
    .update(JSON.stringify([given, configVariables.map((v) => env[v] ?? null)]))
    .digest("hex")}`

/**
 * An identity selector as plain data: the core's `IdentitySelector`, or the same cases built without
 * Effect (`{ _tag: "ClientId", clientId }`) by a reader that does not load it.
 */
export type SelectorData =
  | { readonly _tag: "SystemAssigned" }
  | { readonly _tag: "ClientId"; readonly clientId: string }
  | { readonly _tag: "ObjectId"; readonly objectId: string }
  | { readonly _tag: "ResourceId"; readonly resourceId: string }

/**
 * The options a caller hands the core's resolver that {@link optionsInputsKey} digests: the shells'
 * flags, the deadline, and the identity with what chose it. `identitySetBy` only names the identity in
 * errors and hints — it never changes which identity resolves — but it is digested all the same: a
 * shell derives it from `identity` (so it never splits the cache), and leaving it out would change
 * every digest already stored.
 */
export interface InputsKeyOptions extends Pick<ConfigOptions, "flags" | "deadlineMs" | "identitySetBy"> {
  readonly identity?: SelectorData | undefined
}

const selectorData = (selector: SelectorData): ReadonlyArray<string> => {
  switch (selector._tag) {
    case "ClientId":
      return [selector._tag, selector.clientId]
    case "ObjectId":
      return [selector._tag, selector.objectId]
    case "ResourceId":
      return [selector._tag, selector.resourceId]
    case "SystemAssigned":
      return [selector._tag]
  }
}

/**
 * The {@link inputsKey} of `options` (what a caller hands the core's resolver, {@link InputsKeyOptions})
 * in `env`: the key under which the identity they resolve to is stored, and by which a later process
 * with the same options finds its tokens before it loads the resolver. A core `IdentitySelector` and
 * the same selector as plain data give the same key.
 *
 * Options other than {@link InputsKeyOptions}' are refused by the type: an option the resolver reads
 * must be digested here, or two processes that differ in it would share tokens. (Any that slips
 * through at run time is digested as it is.)
 *
 * @example
 * ```ts
 * import { optionsInputsKey } from "@azmi/core/TokenCacheFile"
 *
 * const inputs = optionsInputsKey(
 *   { flags: { "--imds-endpoint": "http://127.0.0.1:8080" }, identity: { _tag: "ClientId", clientId } },
 *   process.env,
 * ) // "sha256:…"
 * ```
 */
export const optionsInputsKey = <O extends InputsKeyOptions>(
  options: O & Record<Exclude<keyof O, keyof InputsKeyOptions>, never>,
  env: Readonly<Record<string, string | undefined>>,
): string => {
  const { flags, deadlineMs, identity, identitySetBy, ...rest } = options as InputsKeyOptions
  // The shape (and its key order) is what stored files were keyed by: changing it orphans their inputs.
  return inputsKey(
    {
      flags: Object.entries(flags ?? {})
        .filter(([, value]) => value !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : 1)),
      deadlineMs: deadlineMs ?? null,
      identity: identity === undefined ? null : selectorData(identity),
      identitySetBy: identitySetBy ?? null,
      ...rest,
    },
    env,
  )
}

export const emptyFile = (): CacheFile => ({ version: 1, entries: {}, inputs: {} })

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

const recordOf = (u: unknown): Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u) ? (u as Record<string, unknown>) : {}

/**
 * The file's content from its text. A damaged or foreign file reads as empty (and the next write
 * replaces it): its content is ours to judge, its location and ownership are not (see {@link readCacheFile}).
 */
export const parse = (text: string): CacheFile => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return emptyFile()
  }
  const entries: Record<string, Entry> = {}
  for (const [k, v] of Object.entries(recordOf(recordOf(json).entries))) if (isEntry(v)) entries[k] = v
  const inputs: Record<string, string> = {}
  for (const [k, v] of Object.entries(recordOf(recordOf(json).inputs)))
    if (typeof v === "string") inputs[k] = v
  return { version: 1, entries, inputs }
}

/** The identity part of a {@link keyOf} key (`undefined` for a key that is not one). */
const identityOf = (key: string): string | undefined => {
  try {
    const parts: unknown = JSON.parse(key)
    return Array.isArray(parts) && typeof parts[0] === "string" ? parts[0] : undefined
  } catch {
    return undefined
  }
}

/**
 * `file` without the tokens expired at `now`, and without the inputs whose identity has no token left.
 */
export const withoutExpired = (file: CacheFile, now: number): CacheFile => {
  const entries: Record<string, Entry> = {}
  const identities = new Set<string>()
  for (const [k, e] of Object.entries(file.entries)) {
    if (e.expiresOn <= now) continue
    entries[k] = e
    const identity = identityOf(k)
    if (identity !== undefined) identities.add(identity)
  }
  const inputs: Record<string, string> = {}
  for (const [k, identity] of Object.entries(file.inputs)) if (identities.has(identity)) inputs[k] = identity
  return { version: 1, entries, inputs }
}

/** `entry` when it may be served at `now`: before its refresh time and valid for `minValidityMs` more. */
export const fresh = (
  entry: Entry | undefined,
  now: number,
  minValidityMs = DEFAULT_MIN_VALIDITY_MS,
): Entry | undefined =>
  entry !== undefined && now < entry.refreshOn && now < entry.expiresOn - minValidityMs ? entry : undefined

/** `entry` when it is still valid for `minValidityMs` at `now` (past its refresh time or not). */
export const usable = (
  entry: Entry | undefined,
  now: number,
  minValidityMs = DEFAULT_MIN_VALIDITY_MS,
): Entry | undefined => (entry !== undefined && now < entry.expiresOn - minValidityMs ? entry : undefined)

/**
 * The token to serve for `resource` to a process whose raw inputs have the digest `inputs`: found
 * through the identity those inputs resolved to, and {@link fresh}; else `undefined`.
 */
export const lookup = (
  file: CacheFile,
  query: {
    readonly inputs: string
    readonly resource: string
    readonly now: number
    readonly minValidityMs?: number | undefined
  },
): Entry | undefined => {
  const identity = file.inputs[query.inputs]
  return identity === undefined
    ? undefined
    : fresh(file.entries[keyOf(identity, query.resource)], query.now, query.minValidityMs)
}

// ---------------------------------------------------------------------------------------------------
// Reading, safely
// ---------------------------------------------------------------------------------------------------

/** Why the cache cannot be used in this process. */
export class Unusable {
  readonly _tag = "Unusable"
  constructor(readonly reason: string) {}
}

/** The code of a filesystem error (`ENOENT`…), if it has one. */
export const codeOf = (error: unknown): string | undefined =>
  (error as NodeJS.ErrnoException | undefined)?.code

/** `what` failed with `error`, as a reason. */
export const describe = (what: string, error: unknown): string =>
  `${what}: ${codeOf(error) ?? (error instanceof Error ? error.message : String(error))}`

/**
 * Runs one filesystem call, bounded in time: a call that never settles (`mkdir` under /proc, a hung
 * network filesystem) must not hold up the command. Rejects with {@link Unusable} when it takes longer
 * than the bound, else with the call's own error.
 */
export type Io = <A>(what: string, call: () => Promise<A>) => Promise<A>

/** An {@link Io} with the bound `timeoutMs`. */
export const bounded =
  (timeoutMs: number = DEFAULT_FS_TIMEOUT_MS): Io =>
  (what, call) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Unusable(`${what} took longer than ${timeoutMs} ms`)),
        timeoutMs,
      )
      call().then(
        (value) => {
          clearTimeout(timer)
          resolve(value)
        },
        (error: unknown) => {
          clearTimeout(timer)
          reject(error)
        },
      )
    })

/** `io`'s call, with any failure as {@link Unusable}. */
export const must = <A>(io: Io, what: string, call: () => Promise<A>): Promise<A> =>
  io(what, call).catch((error: unknown) => {
    throw error instanceof Unusable ? error : new Unusable(describe(what, error))
  })

// Owner and mode mean nothing on Windows (no getuid): there the user profile's ACLs protect the file.
const uid = typeof process.getuid === "function" ? process.getuid() : undefined

/** Why `stat` (of `what`) may not hold secrets: not the expected kind, not ours, or writable by others. */
export const untrusted = (what: string, stat: Stats, kind: "directory" | "file"): string | undefined => {
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

/** The directory `dir`, checked: `absent` when it does not exist (yet); {@link Unusable} when untrusted. */
export const checkDir = async (dir: string, io: Io): Promise<"ok" | "absent"> => {
  let stat: Stats
  try {
    stat = await io(`lstat ${dir}`, () => fs.lstat(dir))
  } catch (error) {
    if (error instanceof Unusable) throw error
    if (codeOf(error) === "ENOENT") return "absent"
    throw new Unusable(describe(`lstat ${dir}`, error))
  }
  const why = untrusted(`the cache directory ${dir}`, stat, "directory")
  if (why !== undefined) throw new Unusable(why)
  return "ok"
}

/**
 * The text of `file` (named `what` in reasons) if it is a trusted regular file; `undefined` if it does
 * not exist; {@link Unusable} otherwise.
 */
export const readTrusted = async (file: string, what: string, io: Io): Promise<string | undefined> => {
  let handle: fs.FileHandle
  try {
    handle = await io(`open ${file}`, () => fs.open(file, OPEN_FOR_READ))
  } catch (error) {
    if (error instanceof Unusable) throw error
    if (codeOf(error) === "ENOENT") return undefined
    if (codeOf(error) === "ELOOP") throw new Unusable(`${what} ${file} is a symbolic link`)
    throw new Unusable(describe(`open ${file}`, error))
  }
  try {
    const why = untrusted(`${what} ${file}`, await must(io, `stat ${file}`, () => handle.stat()), "file")
    if (why !== undefined) throw new Unusable(why)
    return await must(io, `read ${file}`, () => handle.readFile("utf8"))
  } finally {
    await io(`close ${file}`, () => handle.close()).catch(() => {})
  }
}

/** The cache file at `path`: empty when there is no file (or no directory) yet; {@link Unusable} when untrusted. */
export const readCacheFile = async (path: string, io: Io): Promise<CacheFile> => {
  if ((await checkDir(dirname(path), io)) === "absent") return emptyFile()
  const text = await readTrusted(path, "the cache file", io)
  return text === undefined ? emptyFile() : parse(text)
}
