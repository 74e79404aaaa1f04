import type { Emulator, StartEmulatorOptions } from "./types.js"

/** Starts the emulator (stub until the servers land). */
export const startEmulator = async (_options: StartEmulatorOptions = {}): Promise<Emulator> => {
  throw new Error("startEmulator: not implemented yet")
}
