/**
 * Persistence of the emulator's world (`--state FILE`, `startEmulator({ state })`): the state file is loaded
 * if it exists (else the world is seeded from the given world and written at once), and every later change is
 * made durable before it is acknowledged, so a crash (`kill -9`, power loss) never loses a change a client was
 * told about.
 *
 * Two files: the world file `FILE` — always a whole, valid world (written to a temp file in the same directory,
 * fsynced, renamed over, and the directory fsynced), so it is also a valid `--world` file — and the journal
 * `FILE.journal` (see `journal.ts`), which holds the changes made since the world file was written: each batch
 * of changes is appended to it with one fdatasync. The journal is folded into the world file (compaction) once
 * it outgrows the world file (and 16 KiB), and at close, which removes it. At start, the world file is read and
 * the journal, if any, replayed on it (a last batch torn by a crash is ignored: it was never acknowledged).
 *
 * The servers answer a request only once {@link StateFile.durable} resolves, i.e. once every change made so far
 * is on disk. One write is under way at a time and the changes that arrive meanwhile share the next one (group
 * commit), so concurrent clients cost one fdatasync per batch rather than one each.
 *
 * The state file's directory must exist (a typo in `--state` is refused rather than creating a tree), and one
 * state file serves one emulator: `FILE.lock` refuses a second one (see {@link acquireStateLock}).
 *
 * @example
 * ```ts
 * const { store, state } = await openPersistentWorld({ path: "state.json", seed: defaultWorld() })
 * store.putResourceGroup({ subscriptionId, name: "Prod", location: "westus" })
 * await state.durable()   // now on disk (in the journal)
 * await state.close()     // writes anything pending into state.json, removes the journal, releases the lock
 * ```
 * @module
 */
import { randomUUID } from "node:crypto"
import { type FileHandle, open, rename, stat, unlink } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import { contentDigest, JournalFile, journalPath, parseJournal } from "./journal.js"
import { type RecordedChange, type World, type WorldChange, WorldStore } from "./model.js"
import { StateFileError } from "./stateFileError.js"
import { acquireStateLock, type StateLock } from "./stateLock.js"
import { parseWorld, parseWorldText, readWorldText } from "./validate.js"

export interface StateFileOptions {
  /** Called when a write fails (default: a warning on stderr). Waiting requests fail; the emulator keeps running. */
  readonly onError?: (error: unknown) => void
  /** The journal is folded into the world file once it has this many bytes and the world file's size (default 16 KiB). */
  readonly compactAfterBytes?: number
}

/** A state as stored: the world file's text, and the world it holds with the journal replayed on it. */
interface StoredState {
  readonly text: string
  readonly world: World
  /** A journal file was there (replayed, stale or empty: a start folds it into the world file either way). */
  readonly journal: boolean
}

const readStoredState = async (path: string): Promise<StoredState | undefined> => {
  const text = await readWorldText(path)
  if (text === undefined) return undefined
  const world = parseWorldText(text, path)
  const source = `${path} (journal ${journalPath(path)})`
  const journalText = await readWorldText(journalPath(path), source, "journal")
  if (journalText === undefined) return { text, world, journal: false }
  const changes = parseJournal(journalText, contentDigest(text), source)
  if (changes.length === 0) return { text, world, journal: true }
  const store = new WorldStore(world)
  for (const change of changes) store.apply(change)
  // Each change was checked alone; what they refer to (scopes, principals) is checked on the result.
  return { text, world: parseWorld(store.toJSON(), source), journal: true }
}

/**
 * Load the state at `path` — the world file with its journal replayed — or `undefined` if it does not exist.
 * @throws WorldValidationError naming the file when it (or its journal) is unreadable, not JSON or not valid
 */
export const loadState = async (path: string): Promise<World | undefined> =>
  (await readStoredState(path))?.world

/**
 * fsync of a directory, which makes a rename (or a new file's name) in it durable. The directory stays open
 * between syncs (the state file syncs it after every compaction and every new journal; reopening each time cost a
 * tenth of a write's CPU), so a directory deleted and recreated under a running emulator is not synced until a
 * sync fails (a journal in it is noticed at once: see `JournalFile.append`). Windows cannot open a directory;
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
 * The journal's size past which the next write compacts it into the world file, unless the world file is
 * larger: then the journal may grow to the world file's size, so a compaction's cost (a rewrite of the world) is
 * paid once per as many bytes appended — a constant share of each change, however large the world — and a
 * restart replays at most that much. (16 KiB: ~100 changes; a small world is rewritten in well under a millisecond.)
 */
const COMPACT_AFTER_BYTES = 16 * 1024

/**
 * Group-committing, durable writer of one state file. `changed()` after a change; `durable()` resolves once
 * every change so far is on disk; `close()` writes what is pending and stops.
 *
 * One write is under way at a time, and every change made meanwhile goes into the next: changes that the world
 * store recorded (`watch`) are appended to the journal (`FILE.journal`, see `journal.ts`) with one fdatasync per
 * batch; the world file itself is rewritten (temp file, fsync, rename, fsync of the directory) — and the journal
 * dropped — when the journal has grown past its limit, when a change was not recorded (`changed()` with no
 * change, `world.replace`), after a failed append, and at `close()`. So the world file is always a complete
 * world, and after `close()` it holds everything.
 */
export class StateFile {
  readonly #serialize: () => string
  readonly #onError: (error: unknown) => void
  readonly #lock: StateLock | undefined
  readonly #directory: DirectorySync
  readonly #compactAfterBytes: number
  /** Changes noted so far; the most recent change a started write carries; the most recent on disk. */
  #version = 0
  #startedVersion = 0
  #durableVersion = 0
  #waiters: Waiter[] = []
  /** The changes noted since the last write started, while every one of them was recorded. */
  #recorded: RecordedChange[] = []
  #allRecorded = true
  /** The next write rewrites the world file (no journal to append to, or it cannot be trusted). */
  #rewrite: boolean
  /** The world file's content digest (what a journal continues) and size, once known. */
  #base: string | undefined
  #worldBytes = 0
  /** The journal being appended to, if one was started since the world file was last written. */
  #journal: JournalFile | undefined
  /** The write under way. */
  #running: Promise<void> | undefined
  #scheduled = false
  #closed = false
  #unsubscribe: (() => void) | undefined
  /** Writes that made changes durable: journal appends, and world-file writes that carried pending changes. */
  writes = 0
  /** Changes those writes carried (so `changesWritten / writes` is how many changes share a write). */
  changesWritten = 0
  /** World-file rewrites (compactions), whether or not they carried pending changes. */
  compactions = 0

  constructor(
    readonly path: string,
    /** The world file's whole new content (e.g. `() => store.toJSONText()`). */
    serialize: () => string,
    options: StateFileOptions & {
      readonly lock?: StateLock
      /** The content of the world file as it is on disk now, so changes can be journaled at once. */
      readonly current?: string
    } = {},
  ) {
    this.#serialize = serialize
    this.#lock = options.lock
    this.#directory = new DirectorySync(dirname(path))
    this.#compactAfterBytes = options.compactAfterBytes ?? COMPACT_AFTER_BYTES
    this.#base = options.current === undefined ? undefined : contentDigest(options.current)
    this.#worldBytes = options.current === undefined ? 0 : Buffer.byteLength(options.current)
    this.#rewrite = this.#base === undefined
    this.#onError =
      options.onError ??
      ((error) => {
        process.stderr.write(
          `azmi-emulator: could not write state file ${path}: ${error instanceof Error ? error.message : String(error)}\n`,
        )
      })
  }

  /** Note (and record, for the journal) every change of `store` until `close()`. */
  watch(store: WorldStore): this {
    this.#unsubscribe?.()
    this.#unsubscribe = store.onChange((change) => this.changed(change))
    return this
  }

  /**
   * Note a change; it is written on the next turn of the event loop (with every other change by then), or after
   * the write under way. A `change` the journal can replay is appended to it; without one, the next write
   * rewrites the world file.
   */
  changed(change?: WorldChange): void {
    if (this.#closed) return
    this.#version++
    if (change === undefined || change.kind === "world.replace") this.#allRecorded = false
    else if (this.#allRecorded) this.#recorded.push(change)
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
      if (this.#running === undefined && this.#startedVersion < this.#version) this.#start()
    })
  }

  /** Start a write of everything noted so far (nothing may be under way). */
  #start(): void {
    const version = this.#version
    const pending = version - this.#startedVersion
    const records = this.#recorded
    const rewrite =
      this.#rewrite ||
      !this.#allRecorded ||
      (this.#journal?.bytes ?? 0) >= Math.max(this.#compactAfterBytes, this.#worldBytes)
    this.#startedVersion = version
    this.#recorded = []
    this.#allRecorded = true
    const write = rewrite ? this.#rewriteWorld() : this.#append(records)
    this.#running = this.#finish(write, version, pending)
  }

  async #finish(write: Promise<void>, version: number, pending: number): Promise<void> {
    let failed = false
    try {
      await write
      this.writes++
      this.changesWritten += pending
      this.#durableVersion = version
      this.#settle(
        (w) => w.version <= version,
        (w) => w.resolve(),
      )
    } catch (e) {
      failed = true
      this.#onError(e)
      // The changes are in memory only: the next write rewrites the world file, which carries them all.
      this.#startedVersion = this.#durableVersion
      this.#rewrite = true
      this.#settle(
        (w) => w.version <= version,
        (w) => w.reject(e),
      )
    } finally {
      this.#running = undefined
      // Pending changes get another write; after a failure, only if someone waits for them (no retry loop).
      if (
        this.#startedVersion < this.#version &&
        (!failed || this.#waiters.some((w) => w.version > this.#startedVersion))
      )
        this.#schedule()
    }
  }

  /** Append a batch to the journal (started, with its header, on the first append after a rewrite). */
  async #append(records: ReadonlyArray<RecordedChange>): Promise<void> {
    // `#rewrite` is false only once the world file's content is known.
    this.#journal ??= new JournalFile(journalPath(this.path), this.#base as string)
    try {
      if (await this.#journal.append(records)) await this.#directory.sync()
    } catch (e) {
      // Its end may hold half a batch: never append after that.
      await this.#journal.close()
      this.#journal = undefined
      throw e
    }
  }

  /**
   * Write the whole world to the world file (atomically, durably), then drop the journal: it continues content
   * that is gone, so even if removing it does not survive a crash, a restart ignores it.
   */
  async #rewriteWorld(): Promise<void> {
    const text = this.#serialize()
    await renameOver(await writeTemp(this.path, text), this.path)
    await this.#directory.sync()
    this.compactions++
    this.#base = contentDigest(text)
    this.#worldBytes = Buffer.byteLength(text)
    this.#rewrite = false
    await this.#journal?.close()
    this.#journal = undefined
    // Best effort: a journal left behind is stale (it names the old content) and ignored, and the next one
    // replaces it.
    await unlink(journalPath(this.path)).catch(() => undefined)
  }

  /**
   * Rewrite the world file from the current world and drop the journal, once the write under way (if any) is
   * done. (Done at open after a journal was replayed, and by `close()`.)
   */
  async compact(): Promise<void> {
    // Pending changes then go straight into the world file.
    this.#rewrite = true
    await this.durable()
    while (this.#running !== undefined) await this.#running
    // Done already if the last write rewrote the world file and nothing was appended since.
    if (this.#journal === undefined && !this.#rewrite) return
    const write = this.#rewriteWorld()
    this.#running = write.then(
      () => undefined,
      () => undefined,
    )
    try {
      await write
    } finally {
      this.#running = undefined
      if (this.#startedVersion < this.#version) this.#schedule()
    }
  }

  #settle(which: (w: Waiter) => boolean, how: (w: Waiter) => void): void {
    const chosen = this.#waiters.filter(which)
    this.#waiters = this.#waiters.filter((w) => !which(w))
    for (const w of chosen) how(w)
  }

  /**
   * Stop listening, write what is pending into the world file and drop the journal (rejects if that fails: the
   * journal then still holds every acknowledged change), and release the lock. Idempotent.
   */
  async close(): Promise<void> {
    this.#unsubscribe?.()
    this.#unsubscribe = undefined
    this.#closed = true
    try {
      // Only a journal that holds something needs folding into the world file.
      if (this.#journal !== undefined || this.#version > this.#durableVersion) await this.compact()
    } finally {
      await this.#journal?.close()
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
 * Open a persistent world: a {@link WorldStore} loaded from `path` (its journal replayed and folded in; or seeded
 * and written at once) whose every change is persisted by the returned {@link StateFile}, which holds the file's
 * lock until `state.close()`.
 * @throws StateFileError when the directory does not exist or another emulator holds the file
 * @throws WorldValidationError when the state file or its journal is invalid (both are left untouched)
 */
export const openPersistentWorld = async (
  options: OpenPersistentWorldOptions,
): Promise<{ readonly store: WorldStore; readonly state: StateFile; readonly loaded: boolean }> => {
  await requireDirectory(dirname(options.path))
  const lock = await acquireStateLock(options.path)
  try {
    const existing = await readStoredState(options.path)
    const store = new WorldStore(existing?.world ?? options.seed)
    const state = new StateFile(options.path, () => store.toJSONText(), {
      ...options,
      lock,
      ...(existing !== undefined && !existing.journal && { current: existing.text }),
    }).watch(store)
    if (existing === undefined) {
      state.changed()
      await state.durable()
    } else if (existing.journal) await state.compact()
    return { store, state, loaded: existing !== undefined }
  } catch (e) {
    await lock.release()
    throw e
  }
}
