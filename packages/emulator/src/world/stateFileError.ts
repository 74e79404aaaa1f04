/**
 * Why a state file cannot be used: its directory does not exist (or is not a directory), or another emulator
 * holds it. Like an invalid world file, this is a problem with what the user asked for, not a crash: the
 * command line reports the message and exits 2 (see `startFailure`).
 */
export class StateFileError extends Error {
  override readonly name = "StateFileError"
  constructor(
    readonly reason: "directory-missing" | "not-a-directory" | "locked",
    message: string,
  ) {
    super(message)
  }
}
