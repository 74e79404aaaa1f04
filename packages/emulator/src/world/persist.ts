/**
 * Persistence of the emulator's world (`--state FILE`, `startEmulator({ state })`): the state file is loaded
 * if it exists (else the world is seeded from the given world and written at once), and every later change is
 * written durably — a temp file in the same directory, fsync, rename, fsync of the directory — so neither a
 * reader nor a crash (`kill -9`, power loss) ever sees half a file or loses a change that was acknowledged.
 *
 * The servers answer a request only once {@link StateFile.durable} resolves, i.e. once every change made so far
 * is on disk. Changes that arrive while a write is under way share the next write (group commit), so concurrent
 * clients cost one fsync per batch rather than one each.
 *
 * The state file's directory must exist (a typo in `--state` is refused rather than creating a tree), and one
 * state file serves one emulator: `FILE.lock` refuses a second one (see {@link acquireStateLock}). The state file
 * holds a plain world document, so it is also a valid `--world` file.
 *
 * @example
 * ```ts
 * const { store, state } = await openPersistentWorld({ path: "state.json", seed: defaultWorld() })
 * store.putResourceGroup({ subscriptionId, name: "Prod", location: "westus" })
 * await state.durable()   // now on disk
 * await state.close()     // writes anything pending, stops listening, releases the lock
 * ```
 * @module
 */
import { randomUUID } from "node:crypto"
import { type FileHandle, open, rename, stat, unlink } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import { type World, WorldStore } from "./model.js"
import { StateFileError } from "./stateFileError.js"
import { acquireStateLock, type StateLock } from "./stateLock.js"
import { readWorldFile, WorldValidationError } from "./validate.js"

export interface StateFileOptions {
  /** Called when a write fails (default: a warning on stderr). Waiting requests fail; the emulator keeps running. */
  readonly onError?: (error: unknown) => void
}

/**
 * Load the state file at `path`: its validated world, or `undefined` if it does not exist.
 * @throws WorldValidationError naming the file when it is unreadable, not JSON or not a valid world
 */
export const loadState = async (path: string): Promise<World | undefined> => {
  try {
    return await readWorldFile(path)
  } catch (e) {
    if (e instanceof WorldValidationError && e.issues[0] === "world: cannot read the file (ENOENT)")
      return undefined
    throw e
  }
}

/**
 * fsync of a directory, which makes a rename in it durable. The directory stays open between syncs (the state
 * file syncs it after every batch; reopening each time cost a tenth of a write's CPU), so a directory deleted
 * and recreated under a running emulator is not synced until a sync fails. Windows cannot open a directory;
 * NTFS journals its renames.
 */
class DirectorySync {
  #handle: Promise<FileHandle> | undefined
  constructor(readonly dir: string) {}

  async sync(): Promise<void> {
    if (process.platform === "win32") return
    this.#handle ??= open(this.dir, "r")
    const handle = this.#handle
    try {
      await (await handle).sync()
    } catch (e) {
      // Reopen next time (the directory may have been replaced).
      if (this.#handle === handle) this.#handle = undefined
      await (await handle.catch(() => undefined))?.close().catch(() => undefined)
      throw e
    }
  }

  async close(): Promise<void> {
    const handle = this.#handle
    this.#handle = undefined
    await (await handle?.catch(() => undefined))?.close().catch(() => undefined)
  }
}

/** Write `text` to a new temp file next to `path` (mode 0600) and fdatasync it; returns the temp file's path. */
const writeTemp = async (path: string, text: string): Promise<string> => {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`)
  try {
    const handle = await open(tmp, "w", 0o600)
    try {
      await handle.writeFile(text, "utf8")
      // Data and size; the name is made durable by the directory's fsync after the rename.
      await handle.datasync()
    } finally {
      await handle.close()
    }
    return tmp
  } catch (e) {
    await unlink(tmp).catch(() => undefined)
    throw e
  }
}

/** Rename the fsynced temp file `tmp` over `path` (removing `tmp` if that fails). */
const renameOver = async (tmp: string, path: string): Promise<void> => {
  try {
    await rename(tmp, path)
  } catch (e) {
    await unlink(tmp).catch(() => undefined)
    throw e
  }
}

/**
 * Write `text` to `path` atomically and durably: temp file in the same directory (mode 0600), fsync, rename,
 * fsync of the directory (without it, a crash after the rename may bring the old file back).
 */
export const writeFileAtomic = async (path: string, text: string): Promise<void> => {
  await renameOver(await writeTemp(path, text), path)
  const dir = new DirectorySync(dirname(path))
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}

interface Waiter {
  readonly version: number
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
}

/**
 * Writes under way at once: a batch's temp file is written and fsynced while earlier batches are still being
 * written or renamed (renames happen in the order the writes started), so batches do not queue behind each
 * other's fsyncs.
 */
const MAX_WRITES_IN_FLIGHT = 2

/**
 * Group-committing, durable writer of one state file. `changed()` after a change; `durable()` resolves once
 * every change so far is on disk; `close()` writes what is pending and stops. Each write carries every change
 * made before it started; files replace each other in the order their writes started, so the file never goes
 * back to an older world.
 */
export class StateFile {
  readonly #serialize: () => string
  readonly #onError: (error: unknown) => void
  readonly #lock: StateLock | undefined
  readonly #directory: DirectorySync
  /** Changes noted so far; the most recent change a started write carries; the most recent on disk. */
  #version = 0
  #startedVersion = 0
  #durableVersion = 0
  #waiters: Waiter[] = []
  /** Writes under way (each settles once its file is renamed and the directory synced, or it failed). */
  readonly #inFlight = new Set<Promise<unknown>>()
  #scheduled = false
  /** The last started write's rename: the next write renames only after it. */
  #renamed: Promise<unknown> = Promise.resolve()
  #closed = false
  #unsubscribe: (() => void) | undefined
  /** Completed writes (for tests and diagnostics). */
  writes = 0

  constructor(
    readonly path: string,
    /** The file's whole new content (e.g. `() => store.toJSONText()`). */
    serialize: () => string,
    options: StateFileOptions & { readonly lock?: StateLock } = {},
  ) {
    this.#serialize = serialize
    this.#lock = options.lock
    this.#directory = new DirectorySync(dirname(path))
    this.#onError =
      options.onError ??
      ((error) => {
        process.stderr.write(
          `azmi-emulator: could not write state file ${path}: ${error instanceof Error ? error.message : String(error)}\n`,
        )
      })
  }

  /** Note every change of `store` until `close()`. */
  watch(store: WorldStore): this {
    this.#unsubscribe?.()
    this.#unsubscribe = store.onChange(() => this.changed())
    return this
  }

  /** Note a change; it is written on the next turn of the event loop (with every other change by then). */
  changed(): void {
    if (this.#closed) return
    this.#version++
    this.#schedule()
  }

  /**
   * Resolves once every change noted so far is on disk; rejects with the write's error if the write carrying
   * them fails (the changes stay pending: the next change, `durable()` or `close()` tries again).
   */
  durable(): Promise<void> {
    if (this.#durableVersion >= this.#version) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ version: this.#version, resolve, reject })
      this.#schedule()
    })
  }

  #schedule(): void {
    if (this.#scheduled) return
    this.#scheduled = true
    // One turn later, so every request handled in this turn shares the write.
    setImmediate(() => {
      this.#scheduled = false
      if (this.#inFlight.size < MAX_WRITES_IN_FLIGHT && this.#startedVersion < this.#version)
        void this.#write(this.#version)
    })
  }

  async #write(version: number): Promise<void> {
    this.#startedVersion = version
    const text = this.#serialize()
    const previous = this.#renamed
    const renamed = (async () => {
      const tmp = await writeTemp(this.path, text)
      await previous
      await renameOver(tmp, this.path)
    })()
    this.#renamed = renamed.catch(() => undefined)
    // The directory fsync is not in the chain: the next write may rename meanwhile, and whichever entry this
    // fsync makes durable carries at least this write's changes.
    const done = renamed.then(() => this.#directory.sync())
    const settled = done.catch(() => undefined)
    this.#inFlight.add(settled)
    let failed = false
    try {
      await done
      this.writes++
      this.#durableVersion = Math.max(this.#durableVersion, version)
      this.#settle(
        (w) => w.version <= version,
        (w) => w.resolve(),
      )
    } catch (e) {
      failed = true
      this.#onError(e)
      // A later write already under way carries these changes too: let it answer their waiters.
      if (this.#startedVersion === version) {
        this.#startedVersion = this.#durableVersion
        this.#settle(
          (w) => w.version <= version,
          (w) => w.reject(e),
        )
      }
    } finally {
      this.#inFlight.delete(settled)
      // Pending changes get another write; after a failure, only if someone waits for them (no retry loop).
      if (
        this.#startedVersion < this.#version &&
        (!failed || this.#waiters.some((w) => w.version > this.#startedVersion))
      )
        this.#schedule()
    }
  }

  #settle(which: (w: Waiter) => boolean, how: (w: Waiter) => void): void {
    const chosen = this.#waiters.filter(which)
    this.#waiters = this.#waiters.filter((w) => !which(w))
    for (const w of chosen) how(w)
  }

  /** Stop listening, write what is pending (rejects if that fails) and release the lock. Idempotent. */
  async close(): Promise<void> {
    this.#unsubscribe?.()
    this.#unsubscribe = undefined
    this.#closed = true
    try {
      await this.durable()
    } finally {
      // A write no waiter needs any more (a later one answered them) may still be under way: let it finish.
      await Promise.all(this.#inFlight)
      await this.#directory.close()
      await this.#lock?.release()
    }
  }
}

export interface OpenPersistentWorldOptions extends StateFileOptions {
  readonly path: string
  /** Used (and written to `path`) only when the state file does not exist yet. */
  readonly seed: World
}

const requireDirectory = async (dir: string): Promise<void> => {
  let isDirectory: boolean
  try {
    isDirectory = (await stat(dir)).isDirectory()
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      throw new StateFileError(
        "directory-missing",
        `The state file's directory ${dir} does not exist; create it first (the emulator does not create directories).`,
      )
    }
    throw e
  }
  if (!isDirectory)
    throw new StateFileError("not-a-directory", `The state file's directory ${dir} is not a directory.`)
}

/**
 * Open a persistent world: a {@link WorldStore} loaded from `path` (or seeded and written at once) whose every
 * change is persisted by the returned {@link StateFile}, which holds the file's lock until `state.close()`.
 * @throws StateFileError when the directory does not exist or another emulator holds the file
 * @throws WorldValidationError when an existing state file is invalid (the file is left untouched)
 */
export const openPersistentWorld = async (
  options: OpenPersistentWorldOptions,
): Promise<{ readonly store: WorldStore; readonly state: StateFile; readonly loaded: boolean }> => {
  await requireDirectory(dirname(options.path))
  const lock = await acquireStateLock(options.path)
  try {
    const existing = await loadState(options.path)
    const store = new WorldStore(existing ?? options.seed)
    const state = new StateFile(options.path, () => store.toJSONText(), { ...options, lock }).watch(store)
    if (existing === undefined) {
      state.changed()
      await state.durable()
    }
    return { store, state, loaded: existing !== undefined }
  } catch (e) {
    await lock.release()
    throw e
  }
}
