/**
 * The state journal, `FILE.journal` next to a state file: the changes made since the world file was last
 * written, appended in batches, so a change costs a small append and one fdatasync instead of a rewrite of the
 * whole world.
 *
 * Format: JSON lines. The first is a header naming the world file's content it continues from (its SHA-256);
 * each later line is one batch, `{"seq":n,"changes":[…]}` (batches numbered from 1), whose changes are
 * {@link RecordedChange}s. A batch is appended whole and fdatasynced before any change in it is acknowledged,
 * and the next batch is appended only after that, so a crash can tear only the last line — which was never
 * acknowledged and is ignored. A bad line anywhere else is damage, and the state is refused.
 *
 * A journal whose header names other content than the world file's is stale — the world file was rewritten
 * (compacted) and the crash came before the old journal was removed; everything in it is in the world file — and
 * is ignored.
 *
 * @example
 * ```ts
 * const journal = new JournalFile(journalPath("state.json"), contentDigest(worldText))
 * await journal.append([{ kind: "resourceGroup.put", resourceGroup }])   // durable once this resolves
 * const changes = parseJournal(await readFile(journalPath("state.json"), "utf8"), contentDigest(worldText), source)
 * ```
 * @module
 */
import { createHash } from "node:crypto"
import { fstatSync } from "node:fs"
import { type FileHandle, open } from "node:fs/promises"
import type { RecordedChange } from "./model.js"
import { isObject, parseRecordedChange, WorldValidationError } from "./validate.js"

/** The journal of the state file at `statePath`. */
export const journalPath = (statePath: string): string => `${statePath}.journal`

/** The identity of a world file's content, as a journal's header names it. */
export const contentDigest = (text: string): string => createHash("sha256").update(text).digest("hex")

const FORMAT = "azmi-emulator state journal 1"

const header = (base: string): string => `${JSON.stringify({ format: FORMAT, base })}\n`

const batch = (seq: number, changes: ReadonlyArray<RecordedChange>): string =>
  `${JSON.stringify({ seq, changes })}\n`

/**
 * The changes a journal's text holds for the world file whose content digest is `base`, in order: none when the
 * journal is stale (written for other content) or holds nothing complete. A last line that is not complete JSON
 * (a write torn by a crash) is ignored.
 * @throws WorldValidationError naming `source` when any other line is not what the emulator writes
 */
export const parseJournal = (text: string, base: string, source: string): ReadonlyArray<RecordedChange> => {
  // The text after the last newline is a torn write (or nothing).
  const lines = text.split("\n").slice(0, -1)
  const damaged = (line: number, what: string): WorldValidationError =>
    new WorldValidationError([`journal line ${line}: ${what}`], source)
  const parsed: Array<unknown> = []
  for (const [i, line] of lines.entries()) {
    try {
      parsed.push(JSON.parse(line))
    } catch (e) {
      // Only the last line can be torn: each one is appended after the one before it is on disk.
      if (i === lines.length - 1) break
      throw damaged(i + 1, `not valid JSON (${(e as Error).message})`)
    }
  }
  const [head, ...batches] = parsed
  if (head === undefined) return []
  if (!isObject(head) || head.format !== FORMAT || typeof head.base !== "string")
    throw damaged(1, `not a journal header this emulator writes (expected {"format":"${FORMAT}","base":…})`)
  if (head.base !== base) return []
  const changes: Array<RecordedChange> = []
  for (const [i, b] of batches.entries()) {
    const seq = i + 1
    if (!isObject(b) || b.seq !== seq || !Array.isArray(b.changes))
      throw damaged(i + 2, `must be batch {"seq":${seq},"changes":[…]}`)
    for (const [j, change] of b.changes.entries())
      changes.push(parseRecordedChange(change, `journal line ${i + 2}: changes[${j}]`, source))
  }
  return changes
}

/**
 * The journal being written: appends batches of changes, each on disk (fdatasync) when `append` resolves. The
 * file is created (truncating any stale one) with its header by the first append.
 */
export class JournalFile {
  #handle: FileHandle | undefined
  #seq = 0
  /** Bytes appended so far (header included). */
  bytes = 0

  constructor(
    readonly path: string,
    /** The content digest of the world file this journal continues. */
    readonly base: string,
  ) {}

  /**
   * Append one batch and fdatasync it. Resolves `true` when this append created the file: the caller must then
   * fsync the directory, or a crash could lose the file's name and with it every batch.
   * @throws the file system's error; or when the file was removed while open (appends would go nowhere)
   */
  async append(changes: ReadonlyArray<RecordedChange>): Promise<boolean> {
    const created = this.#handle === undefined
    let text = batch(this.#seq + 1, changes)
    if (this.#handle === undefined) {
      this.#handle = await open(this.path, "w", 0o600)
      text = header(this.base) + text
    }
    // From the current position: right after the previous batch.
    await this.#handle.writeFile(text, "utf8")
    await this.#handle.datasync()
    // A file deleted under a running emulator keeps taking writes that no restart will see. (fstat of an open
    // file does no I/O: synchronous, it saves a trip through the thread pool per batch.)
    if (fstatSync(this.#handle.fd).nlink === 0) throw new Error(`${this.path} was removed while in use`)
    this.#seq++
    this.bytes += Buffer.byteLength(text)
    return created
  }

  /** Close the file (it stays on disk). Idempotent. */
  async close(): Promise<void> {
    const handle = this.#handle
    this.#handle = undefined
    await handle?.close().catch(() => undefined)
  }
}
