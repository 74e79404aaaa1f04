/**
 * The emulator's start-up summary: what a client needs to reach it (endpoints, CA, ids, the admin's
 * credentials). `azmi-emulator` prints it as its one JSON line; `azmi-emulator run` writes it to the file named
 * by `AZMI_EMULATOR_INFO`.
 * @module
 */
import type { Emulator } from "./types.js"

/**
 * @example
 * ```ts
 * process.stdout.write(`${JSON.stringify(startupSummary(await startEmulator()))}\n`)
 * ```
 */
export const startupSummary = (emu: Emulator) => ({
  imdsUrl: emu.imdsUrl,
  armUrl: emu.armUrl,
  loginUrl: emu.loginUrl,
  controlUrl: emu.controlUrl,
  caCertPath: emu.caCertPath,
  tenantId: emu.tenantId,
  subscriptionId: emu.subscriptionId,
  vm: emu.vm,
  admin: emu.admin,
  source: emu.source,
  host: emu.host,
  env: emu.env,
})
