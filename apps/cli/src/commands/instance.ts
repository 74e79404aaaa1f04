/**
 * `azmi instance`: the VM's compute metadata from IMDS.
 * @module
 */
import { InstanceMetadata } from "@azmi/core"
import type { Command } from "commander"
import { Effect } from "effect"
import { type CliDeps, contextOf, run } from "../context.js"

export const registerInstance = (program: Command, deps: CliDeps): void => {
  program
    .command("instance")
    .description("Show the VM's compute metadata (name, subscription, resource group, location…)")
    .action(async (_flags: object, command: Command) => {
      await run(
        contextOf(command, deps),
        Effect.flatMap(InstanceMetadata, (m) => m.compute),
      )
    })
}
