/**
 * `azmi doctor`: host detected (and its own checks) → IMDS reachable → identity present → token
 * obtainable → ARM reachable → read access, each printed with ✔/✖ and, for a failure, the fix.
 * @module
 */
import type { Command } from "commander"
import type { DoctorFlags } from "../actions/doctor.js"
import { type CliDeps, contextOf } from "../context.js"
import { addIdentityOptions } from "../identity.js"

export const registerDoctor = (program: Command, deps: CliDeps): void => {
  const cmd = program
    .command("doctor")
    .summary("check the host, IMDS, identity, token, ARM and read access, with fixes")
    .description(
      "Check, in order: the Azure host detected (and the variables that decided it) with its own checks, IMDS reachable (where the host has one), identity present, token obtainable (aud, oid, expiry), ARM reachable, read access to the group",
    )
    .option("-g, --name <name>", "resource group to check read access to (default: the VM's own)")
    .option("--subscription <id>", "subscription of that group (default: the VM's own)")
  addIdentityOptions(cmd).action(async (flags: DoctorFlags, command: Command) =>
    (await import("../actions/doctor.js")).doctor(contextOf(command, deps), flags),
  )
}
