/**
 * One emulator per state file: `FILE.lock` next to the state file, holding the owner's pid and host, created
 * atomically (written to a temp file, then hard-linked into place, so it never exists half-written). A lock
 * whose process is gone (same host, pid not running) is stale and taken over; any other lock refuses the
 * second emulator with a {@link StateFileError} naming the owner and the lock file.
 *
 * @example
 * ```ts
 * const lock = await acquireStateLock("state.json") // throws StateFileError("locked") if another emulator runs
 * try { … } finally { await lock.release() }
 * ```
 * @module
 */
import { randomUUID } from "node:crypto"
import { link, readFile, rename, unlink, writeFile } from "node:fs/promises"
import { hostname } from "node:os"
import { resolve } from "node:path"
import { StateFileError } from "./stateFileError.js"

export interface StateLock {
  readonly path: string
  /** Remove the lock if it is still ours; idempotent. */
  release(): Promise<void>
}

interface Owner {
  readonly pid: number
  readonly host: string
}

/** Lock files this process holds (a second `startEmulator` on one file in one process is refused too). */
const held = new Set<string>()

const parseOwner = (text: string): Owner | undefined => {
  try {
    const value: unknown = JSON.parse(text)
    if (typeof value !== "object" || value === null) return undefined
    const { pid, host } = value as Record<string, unknown>
    return Number.isSafeInteger(pid) && (pid as number) > 0 && typeof host === "string"
      ? { pid: pid as number, host }
      : undefined
  } catch {
    return undefined
  }
}

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** A lock left by a process that is gone: same host, and the pid is not running (or is us, not holding it). */
const isStale = (owner: Owner, lockPath: string): boolean =>
  owner.host === hostname() && (owner.pid === process.pid ? !held.has(lockPath) : !isRunning(owner.pid))

const readText = (path: string): Promise<string | undefined> =>
  readFile(path, "utf8").catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return undefined
    throw e
  })

const locked = (statePath: string, lockPath: string, text: string): StateFileError => {
  const owner = parseOwner(text)
  const who =
    owner === undefined
      ? "another emulator (the lock file is not one this emulator wrote)"
      : owner.host === hostname()
        ? `another emulator (pid ${owner.pid})`
        : `an emulator on host ${owner.host} (pid ${owner.pid})`
  return new StateFileError(
    "locked",
    `State file ${statePath} is in use by ${who}. Stop that emulator, or use another --state file; if no emulator uses it, delete ${lockPath}.`,
  )
}

/**
 * Take the lock of the state file at `statePath`.
 * @throws StateFileError `locked` when a running emulator (or one on another host) holds it
 */
export const acquireStateLock = async (statePath: string): Promise<StateLock> => {
  const lockPath = `${resolve(statePath)}.lock`
  const mine = `${JSON.stringify({ pid: process.pid, host: hostname() })}\n`
  const tmp = `${lockPath}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`
  await writeFile(tmp, mine, { flag: "wx", mode: 0o600 })
  try {
    // Bounded: each round either takes the lock, refuses, or removes one stale lock.
    for (let round = 0; round < 3; round++) {
      try {
        await link(tmp, lockPath)
        held.add(lockPath)
        return {
          path: lockPath,
          release: async () => {
            if (!held.delete(lockPath)) return
            if ((await readText(lockPath)) === mine) await unlink(lockPath).catch(() => undefined)
          },
        }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
      }
      const text = await readText(lockPath)
      if (text === undefined) continue // released meanwhile
      const owner = parseOwner(text)
      if (owner === undefined || !isStale(owner, lockPath)) throw locked(statePath, lockPath, text)
      // Move the stale lock aside, then check it is still the one judged stale: another emulator may have
      // replaced it in between, and must keep its lock.
      const aside = `${lockPath}.${process.pid}.${randomUUID().slice(0, 8)}.stale`
      try {
        await rename(lockPath, aside)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") continue
        throw e
      }
      const moved = await readText(aside)
      if (moved !== text) {
        await link(aside, lockPath).catch(() => undefined)
        await unlink(aside).catch(() => undefined)
        throw locked(statePath, lockPath, moved ?? text)
      }
      await unlink(aside).catch(() => undefined)
    }
    throw locked(statePath, lockPath, (await readText(lockPath)) ?? "")
  } finally {
    await unlink(tmp).catch(() => undefined)
  }
}
