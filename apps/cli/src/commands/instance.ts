/**
 * `azmi instance`: the VM's compute metadata from IMDS.
 * @module
 */
import type { Command } from "commander"
import { type CliDeps, contextOf } from "../context.js"

export const registerInstance = (program: Command, deps: CliDeps): void => {
  program
    .command("instance")
    .summary("show the VM's compute metadata")
    .description("Show the VM's compute metadata (name, subscription, resource group, location…)")
    .action(async (_flags: object, command: Command) =>
      (await import("../actions/instance.js")).instance(contextOf(command, deps)),
    )
}
