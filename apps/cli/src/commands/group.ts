/**
 * `azmi group show|exists|list`: ARM resource groups; subscription and group default to the VM's own.
 * @module
 */
import { type Command, Option } from "commander"
import type { GroupFlags, ListFlags } from "../actions/group.js"
import { type CliDeps, contextOf } from "../context.js"

const nameOptions = (cmd: Command) =>
  cmd
    .option("-g, --name <name>", "resource group name (default: the VM's own)")
    .addOption(new Option("-n <name>", "same as --name").hideHelp())
    .addOption(new Option("--resource-group <name>", "same as --name").hideHelp())
    .option("--subscription <id>", "subscription id (default: the VM's own)")

const actions = () => import("../actions/group.js")

export const registerGroup = (program: Command, deps: CliDeps): void => {
  const group = program.command("group").summary("read resource groups")

  nameOptions(group.command("show").description("Show a resource group (default: the VM's own)")).action(
    async (flags: GroupFlags, command: Command) => (await actions()).show(contextOf(command, deps), flags),
  )

  nameOptions(
    group.command("exists").description("Print true if the resource group exists, else false"),
  ).action(async (flags: GroupFlags, command: Command) =>
    (await actions()).exists(contextOf(command, deps), flags),
  )

  group
    .command("list")
    .description("List the resource groups of a subscription (default: the VM's own)")
    .option("--subscription <id>", "subscription id (default: the VM's own)")
    .option("--tag <key[=value]>", "only groups with this tag")
    .option("--top <n>", "at most this many groups (1–1000)")
    .action(async (flags: ListFlags, command: Command) =>
      (await actions()).list(contextOf(command, deps), flags),
    )
}
