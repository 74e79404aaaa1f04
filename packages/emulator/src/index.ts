/**
 * `@azmi/emulator`: a local Azure IMDS, Entra token issuer and ARM (resource groups, RBAC).
 *
 * @example
 * ```ts
 * import { startEmulator } from "@azmi/emulator"
 * const emu = await startEmulator()
 * const res = await fetch(`${emu.imdsUrl}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/`, {
 *   headers: { Metadata: "true" },
 * })
 * await emu.close()
 * ```
 */
export { type DeadEndpoint, startDeadEndpoint } from "./deadEndpoint.js"
export { startEmulator } from "./emulator.js"
export { FaultSpecError } from "./faults.js"
export { EMULATOR_SOURCES, HostSetupError, isEmulatorSource } from "./hosts/index.js"
export { type RunEntry, runCommand } from "./run/command.js"
export { simulatedVmUnavailable } from "./run/prerequisites.js"
export { type StartFailure, startFailure } from "./startFailure.js"
export { InvalidStartOptions } from "./startOptions.js"
export type * from "./types.js"
export * from "./world/model.js"
export { StateFileError } from "./world/stateFileError.js"
export { parseWorld, readWorldFile, WorldValidationError } from "./world/validate.js"
