/** A command line that cannot be run as given (exit code 2), detected in the CLI before any request. */
export class UsageError extends Error {
  override readonly name: string = "UsageError"
}
