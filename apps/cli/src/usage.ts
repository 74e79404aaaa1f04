/**
 * A command line that cannot be run as given (exit code 2), detected in the CLI before any request.
 * Tagged like the core's errors, so a command's failure is one tagged union (`failure.ts`); kept free
 * of Effect so the parts of the CLI that load before Effect can use it.
 */
export class UsageError extends Error {
  readonly _tag = "UsageError"
  override readonly name: string = "UsageError"
}
