/**
 * The seam where Azure hosts other than a VM plug into `azmi-emulator run`.
 * @module
 */
import type { Emulator } from "../types.js"
import type { RunSource } from "./options.js"

/**
 * The variables the simulated host itself sets for COMMAND. A VM sets none: its identity is found at
 * 169.254.169.254, nothing else. Another host (App Service, Arc, …) returns exactly the identity variables of
 * the `env` its start-up line names, computed from the emulator as it runs inside the namespace.
 */
export const sourceEnvironment = (
  source: RunSource,
  _emulator: Emulator,
): Readonly<Record<string, string>> => {
  switch (source) {
    case "imds":
      return {}
  }
}
