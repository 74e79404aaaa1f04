/**
 * A process's end as one exit status, the way a shell reports it: its exit code, or 128+N when signal N
 * ended it.
 * @module
 */
import { constants } from "node:os"

/**
 * @example
 * ```ts
 * exitStatus(7, null) // 7
 * exitStatus(null, "SIGTERM") // 143
 * ```
 */
export const exitStatus = (code: number | null, signal: NodeJS.Signals | null): number =>
  code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0))
