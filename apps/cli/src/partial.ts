/**
 * A multi-item command that stopped at a failure after doing part of its work: the runner prints what
 * was done (on stdout, like a result), the failure (ERROR/HINT, with the failure's own exit code) and a
 * NOTE that says where it stopped — never "invalid input, nothing happened" after a change was made.
 * @module
 */
import type { CliError } from "./failure.js"

/**
 * The failure of item `failedAt` (0-based) of `total`, after the items before it were done; `done` is
 * what to print for them.
 */
export class PartialFailure<A> {
  readonly _tag = "PartialFailure"
  constructor(
    readonly done: A,
    readonly failedAt: number,
    readonly total: number,
    readonly error: CliError,
  ) {}

  /** The NOTE line. */
  get note(): string {
    const rest = this.total - this.failedAt - 1
    return `Stopped at item ${this.failedAt + 1} of ${this.total}: the ${this.failedAt} before it were done (stdout lists them)${rest === 0 ? "" : `; the ${rest} after it were not attempted`}.`
  }
}
