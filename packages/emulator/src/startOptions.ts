/**
 * The checks `startEmulator` makes on its options before it starts anything — in the emulator, so every way of
 * starting it (`azmi-emulator`, `azmi emulator`, code) refuses the same things the same way.
 *
 * @example
 * ```ts
 * checkStartOptions({ host: "" }) // throws InvalidStartOptions("host: must not be empty …")
 * ```
 * @module
 */
import type { StartEmulatorOptions } from "./types.js"

/** An option `startEmulator` cannot work with; the command line reports it and exits 2 (see `startFailure`). */
export class InvalidStartOptions extends Error {
  override readonly name = "InvalidStartOptions"
}

const isPort = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 65535

/** @throws InvalidStartOptions naming the option and the rule */
export const checkStartOptions = (options: StartEmulatorOptions): void => {
  // Node reads an empty host as "every interface": the emulator must never be exposed by accident.
  if (options.host !== undefined && options.host.trim() === "")
    throw new InvalidStartOptions("host: must not be empty (an empty host would listen on every interface)")
  for (const [name, port] of [
    ["imdsPort", options.imdsPort],
    ["armPort", options.armPort],
  ] as const) {
    if (port !== undefined && !isPort(port))
      throw new InvalidStartOptions(`${name}: must be a port number 0..65535 (got ${port})`)
  }
}
