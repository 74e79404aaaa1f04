/**
 * `azmi role assignment create|list|delete` as effects over the core's `RoleAssignments`.
 * @module
 */
import { BuiltInRoles, RoleAssignments } from "@azmi/core"
import { Chunk, Effect, Option, Stream } from "effect"
import type { CreateFlags, DeleteFlags, ListFlags } from "../commands/role.js"
import type { CommandContext } from "../context.js"
import { run } from "../runner.js"
import { UsageError } from "../usage.js"
import { groupOr, groupScope, subscriptionOr } from "./defaults.js"

const roleNames = new Map<string, string>(
  Object.entries(BuiltInRoles).map(([name, id]) => [id.toLowerCase(), name]),
)

const guidOf = (roleDefinitionId: string) => roleDefinitionId.split("/").pop()?.toLowerCase() ?? ""

/** The built-in role's name for a role definition id, else the id. */
export const roleNameOf = (roleDefinitionId: string): string =>
  roleNames.get(guidOf(roleDefinitionId)) ?? roleDefinitionId

/** `az role assignment list -o table`'s columns. */
export const assignmentTable = (value: unknown): unknown => {
  const row = (a: unknown) => {
    const ra = a as { properties?: { principalId?: string; roleDefinitionId?: string; scope?: string } }
    return {
      Principal: ra.properties?.principalId,
      Role: roleNameOf(ra.properties?.roleDefinitionId ?? ""),
      Scope: ra.properties?.scope,
    }
  }
  return Array.isArray(value)
    ? value.map(row)
    : typeof value === "object" && value !== null
      ? row(value)
      : value
}

export const create = (ctx: CommandContext, flags: CreateFlags) => {
  const scope =
    flags.scope !== undefined
      ? Effect.succeed(flags.scope)
      : Effect.map(groupOr(undefined, undefined), (g) => groupScope(g.subscriptionId, g.resourceGroupName))
  const effect = Effect.flatMap(scope, (s) =>
    Effect.flatMap(RoleAssignments, (ra) =>
      ra.create({
        scope: s,
        principalId: flags.assigneeObjectId,
        role: flags.role,
        ...(flags.assigneePrincipalType === undefined ? {} : { principalType: flags.assigneePrincipalType }),
        ...(flags.description === undefined ? {} : { description: flags.description }),
      }),
    ),
  ).pipe(Effect.map((response) => response.value))
  return run(ctx, effect, { tableView: assignmentTable })
}

export const list = (ctx: CommandContext, flags: ListFlags) => {
  const scope =
    flags.scope !== undefined
      ? Effect.succeed(flags.scope)
      : Effect.map(subscriptionOr(undefined), (sub) => `/subscriptions/${sub}`)
  const effect = Effect.flatMap(scope, (s) =>
    Effect.flatMap(RoleAssignments, (ra) =>
      Stream.runCollect(
        ra.list({
          scope: s,
          ...(flags.assigneeObjectId === undefined ? {} : { principalId: flags.assigneeObjectId }),
        }),
      ),
    ),
  ).pipe(Effect.map(Chunk.toArray))
  return run(ctx, effect, { tableView: assignmentTable })
}

export const remove = (ctx: CommandContext, flags: DeleteFlags) => {
  const targets: Effect.Effect<
    ReadonlyArray<{ readonly id: string } | { readonly scope: string; readonly name: string }>,
    unknown,
    RoleAssignments
  > = flags.ids !== undefined
    ? Effect.succeed(flags.ids.map((id) => ({ id })))
    : flags.name !== undefined && flags.scope !== undefined
      ? Effect.succeed([{ scope: flags.scope, name: flags.name }])
      : flags.assigneeObjectId !== undefined && flags.scope !== undefined
        ? Effect.flatMap(RoleAssignments, (ra) =>
            Stream.runCollect(
              ra.list({
                scope: flags.scope ?? "",
                principalId: flags.assigneeObjectId,
                exactScope: true,
                role: flags.role,
              }),
            ),
          ).pipe(Effect.map((all) => Chunk.toArray(all).map((a) => ({ id: a.id }))))
        : Effect.fail(
            new UsageError(
              "Name what to delete: --ids, or --name with --scope, or --assignee-object-id with --scope.",
            ),
          )
  const effect = Effect.flatMap(targets, (list) =>
    Effect.flatMap(RoleAssignments, (ra) =>
      Effect.forEach(list, (t) => ra.delete(t), { concurrency: 1 }).pipe(
        Effect.map((deleted) => deleted.flatMap((o) => (Option.isSome(o) ? [o.value] : []))),
      ),
    ),
  )
  return run(ctx, effect, { tableView: assignmentTable })
}
