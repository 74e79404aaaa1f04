/**
 * `azmi group show|list|exists` as effects over the core's `ResourceGroups`.
 * @module
 */
import { parseTagFilter, parseTop, ResourceGroups } from "@azmi/core"
import { Chunk, Effect, Stream } from "effect"
import type { CommandContext } from "../context.js"
import { run } from "../runner.js"
import { groupOr, subscriptionOr } from "./defaults.js"

/** The options of `group show` and `group exists`. */
export interface GroupFlags {
  readonly name?: string
  readonly n?: string
  readonly resourceGroup?: string
  readonly subscription?: string
}

/** The options of `group list`. */
export interface ListFlags {
  readonly subscription?: string
  readonly tag?: string
  /** As typed: the core's `parseTop` checks it. */
  readonly top?: string
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

const groupName = (flags: GroupFlags) => flags.name ?? flags.n ?? flags.resourceGroup

export const show = (ctx: CommandContext, flags: GroupFlags) =>
  run(
    ctx,
    Effect.flatMap(groupOr(flags.subscription, groupName(flags)), (g) =>
      Effect.flatMap(ResourceGroups, (rg) => rg.get(g.subscriptionId, g.resourceGroupName)),
    ).pipe(Effect.map((response) => response.value)),
    { tableView: groupTable },
  )

export const exists = (ctx: CommandContext, flags: GroupFlags) =>
  run(
    ctx,
    Effect.flatMap(groupOr(flags.subscription, groupName(flags)), (g) =>
      Effect.flatMap(ResourceGroups, (rg) => rg.exists(g.subscriptionId, g.resourceGroupName)),
    ),
  )

export const list = (ctx: CommandContext, flags: ListFlags) =>
  run(
    ctx,
    // `--top` is the core's `top` rule (the same as azmi-http's `?top=`), checked before any request.
    Effect.flatMap(
      flags.top === undefined ? Effect.succeed(undefined) : parseTop(flags.top, "--top"),
      (top) =>
        Effect.flatMap(subscriptionOr(flags.subscription), (subscriptionId) =>
          Effect.flatMap(ResourceGroups, (rg) =>
            Stream.runCollect(
              rg.list(subscriptionId, {
                ...(flags.tag === undefined ? {} : { tag: parseTagFilter(flags.tag) }),
                ...(top === undefined ? {} : { top }),
              }),
            ),
          ),
        ),
    ).pipe(Effect.map(Chunk.toArray)),
    { tableView: groupTable },
  )
