/**
 * Persistence of the emulator's world (`--state FILE`, `startEmulator({ state })`): the state file is loaded
 * if it exists (else the world is seeded from the given world and written at once), and every later change
 * is written atomically — a temp file in the same directory, fsync, then rename — so a reader or a crash never
 * sees half a file. Writes are debounced (a burst of changes costs one write) and flushed on close, so a
 * graceful restart loses nothing.
 *
 * A missing parent directory is created. The state file holds a plain world document, so it is also a valid `--world` file.
 *
 * @example
 * ```ts
 * const { store, state } = await openPersistentWorld({ path: "state.json", seed: defaultWorld() })
 * store.putResourceGroup({ subscriptionId, name: "Prod", location: "westus" })  // written shortly after
 * await state.close()                                                            // flushes, stops listening
 * ```
 * @module
 */
import { randomUUID } from "node:crypto"
import { mkdir, open, rename, unlink } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import { type World, WorldStore } from "./model.js"
import { readWorldFile, WorldValidationError } from "./validate.js"

export interface StateFileOptions {
  /** Delay after a change before writing, so bursts coalesce (default 20 ms). */
  readonly debounceMs?: number
  /** Called when a background write fails (default: a warning on stderr). The emulator keeps running. */
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

/** Write `text` to `path` atomically: temp file in the same directory (mode 0600), fsync, rename. */
export const writeFileAtomic = async (path: string, text: string): Promise<void> => {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`)
  try {
    const handle = await open(tmp, "w", 0o600)
    try {
      await handle.writeFile(text, "utf8")
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(tmp, path)
  } catch (e) {
    await unlink(tmp).catch(() => undefined)
    throw e
  }
}

/**
 * Debounced, serialized, atomic writer of one state file. `schedule()` after a change; `flush()` writes now;
 * `close()` flushes and stops. Writes never overlap, and a change made during a write triggers another.
 */
export class StateFile {
  readonly #snapshot: () => World
  readonly #debounceMs: number
  readonly #onError: (error: unknown) => void
  #timer: NodeJS.Timeout | undefined
  #dirty = false
  #writing: Promise<void> | undefined
  #closed = false
  #unsubscribe: (() => void) | undefined
  /** Completed writes (for tests and diagnostics). */
  writes = 0

  constructor(
    readonly path: string,
    snapshot: () => World,
    options: StateFileOptions = {},
  ) {
    this.#snapshot = snapshot
    this.#debounceMs = Math.max(0, options.debounceMs ?? 20)
    this.#onError =
      options.onError ??
      ((error) => {
        process.stderr.write(
          `azmi-emulator: could not write state file ${path}: ${error instanceof Error ? error.message : String(error)}\n`,
        )
      })
  }

  /** Write on every change of `store` until `close()`. */
  watch(store: WorldStore): this {
    this.#unsubscribe?.()
    this.#unsubscribe = store.onChange(() => this.schedule())
    return this
  }

  /** Note a change; the file is written `debounceMs` later (once for a burst). */
  schedule(): void {
    if (this.#closed) return
    this.#dirty = true
    if (this.#timer !== undefined) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.flush().catch(this.#onError)
    }, this.#debounceMs)
  }

  /** Write pending changes now (also waits for a write in flight). Rejects if the write fails. */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    while (this.#dirty || this.#writing !== undefined) {
      if (this.#writing !== undefined) {
        await this.#writing.catch(() => undefined)
        continue
      }
      this.#dirty = false
      const text = `${JSON.stringify(this.#snapshot(), null, 2)}\n`
      const writing = writeFileAtomic(this.path, text).then(() => {
        this.writes++
      })
      this.#writing = writing
      try {
        await writing
      } catch (e) {
        // Keep the change pending so a later flush (e.g. on close) tries again.
        this.#dirty = true
        throw e
      } finally {
        this.#writing = undefined
      }
    }
  }

  /** Stop listening and flush. Idempotent. */
  async close(): Promise<void> {
    this.#unsubscribe?.()
    this.#unsubscribe = undefined
    this.#closed = true
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    if (this.#dirty || this.#writing !== undefined) {
      // `schedule` is off now, so this loop ends once the last pending change is on disk.
      await this.flush()
    }
  }
}

export interface OpenPersistentWorldOptions extends StateFileOptions {
  readonly path: string
  /** Used (and written to `path`) only when the state file does not exist yet. */
  readonly seed: World
}

/**
 * Open a persistent world: a {@link WorldStore} loaded from `path` (or seeded and written at once) whose
 * every change is persisted by the returned {@link StateFile}. Call `state.close()` when shutting down.
 * @throws WorldValidationError when an existing state file is invalid (the file is left untouched)
 */
export const openPersistentWorld = async (
  options: OpenPersistentWorldOptions,
): Promise<{ readonly store: WorldStore; readonly state: StateFile; readonly loaded: boolean }> => {
  const existing = await loadState(options.path)
  // `--state .azmi-emulator/state.json` on a fresh clone: create the directory rather than fail.
  if (existing === undefined) await mkdir(dirname(options.path), { recursive: true })
  const store = new WorldStore(existing ?? options.seed)
  const state = new StateFile(options.path, () => store.toJSON(), options).watch(store)
  if (existing === undefined) {
    state.schedule()
    await state.flush()
  }
  return { store, state, loaded: existing !== undefined }
}
