/**
 * `azmi group show|list|exists`: ARM resource groups; subscription and group default to the VM's own.
 * @module
 */
import { ResourceGroups } from "@azmi/core"
import { type Command, InvalidArgumentError, Option } from "commander"
import { Chunk, Effect, Stream } from "effect"
import { type CliDeps, contextOf, run } from "../context.js"
import { groupOr, subscriptionOr } from "../defaults.js"

interface GroupFlags {
  readonly name?: string
  readonly subscription?: string
}

interface ListFlags {
  readonly subscription?: string
  readonly tag?: string
  readonly top?: number
}

/** `az group list -o table`'s columns. */
export const groupTable = (value: unknown): unknown => {
  const row = (g: unknown) => {
    const rg = g as { name?: unknown; location?: unknown; properties?: { provisioningState?: unknown } }
    return { Name: rg.name, Location: rg.location, Status: rg.properties?.provisioningState }
  }
  return Array.isArray(value)
    ? value.map(row)
    : typeof value === "object" && value !== null
      ? row(value)
      : value
}

/** `--tag K=V` (or just `K`). */
export const parseTag = (raw: string): { name: string; value?: string } => {
  const i = raw.indexOf("=")
  return i < 0 ? { name: raw } : { name: raw.slice(0, i), value: raw.slice(i + 1) }
}

export const parseCount = (raw: string): number => {
  if (!/^\d+$/.test(raw)) throw new InvalidArgumentError("Not a whole number.")
  return Number(raw)
}

const nameOption = (cmd: Command) =>
  cmd
    .option("-g, --name <name>", "resource group name (default: the VM's own)")
    .addOption(new Option("-n <name>", "same as --name").hideHelp())
    .addOption(new Option("--resource-group <name>", "same as --name").hideHelp())
    .option("--subscription <id>", "subscription id (default: the VM's own)")

const groupName = (flags: GroupFlags & { readonly n?: string; readonly resourceGroup?: string }) =>
  flags.name ?? flags.n ?? flags.resourceGroup

export const registerGroup = (program: Command, deps: CliDeps): void => {
  const group = program.command("group").summary("read resource groups")

  nameOption(group.command("show").description("Show a resource group (default: the VM's own)")).action(
    async (flags: GroupFlags, command: Command) => {
      const effect = Effect.flatMap(groupOr(flags.subscription, groupName(flags)), (g) =>
        Effect.flatMap(ResourceGroups, (rg) => rg.get(g.subscriptionId, g.resourceGroupName)),
      ).pipe(Effect.map((response) => response.value))
      await run(contextOf(command, deps), effect, { tableView: groupTable })
    },
  )

  nameOption(
    group.command("exists").description("Print true if the resource group exists, else false"),
  ).action(async (flags: GroupFlags, command: Command) => {
    const effect = Effect.flatMap(groupOr(flags.subscription, groupName(flags)), (g) =>
      Effect.flatMap(ResourceGroups, (rg) => rg.exists(g.subscriptionId, g.resourceGroupName)),
    )
    await run(contextOf(command, deps), effect)
  })

  group
    .command("list")
    .description("List the resource groups of a subscription (default: the VM's own)")
    .option("--subscription <id>", "subscription id (default: the VM's own)")
    .option("--tag <key[=value]>", "only groups with this tag")
    .option("--top <n>", "at most this many groups", parseCount)
    .action(async (flags: ListFlags, command: Command) => {
      const effect = Effect.flatMap(subscriptionOr(flags.subscription), (subscriptionId) =>
        Effect.flatMap(ResourceGroups, (rg) =>
          Stream.runCollect(
            rg.list(subscriptionId, {
              ...(flags.tag === undefined ? {} : { tag: parseTag(flags.tag) }),
              ...(flags.top === undefined ? {} : { top: flags.top }),
            }),
          ),
        ),
      ).pipe(Effect.map(Chunk.toArray))
      await run(contextOf(command, deps), effect, { tableView: groupTable })
    })
}
