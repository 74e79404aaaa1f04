/**
 * `azmi role assignment create|list|delete` as effects over the core's `RoleAssignments`.
 * @module
 */
import {
  BuiltInRoles,
  type DeleteRoleAssignment,
  parseDeleteRoleAssignment,
  type RoleAssignment,
  RoleAssignments,
} from "@azmi/core"
import { Chunk, Effect, Either, Option, Stream } from "effect"
import type { CommandContext } from "../context.js"
import type { CliError } from "../failure.js"
import { PartialFailure } from "../partial.js"
import { run } from "../runner.js"
import { UsageError } from "../usage.js"
import { groupOr, groupScope, subscriptionOr } from "./defaults.js"

/** The options of `role assignment create`. */
export interface CreateFlags {
  readonly assigneeObjectId: string
  readonly role: string
  readonly scope?: string
  readonly assigneePrincipalType?: "ServicePrincipal" | "User" | "Group" | "ForeignGroup"
  readonly description?: string
}

/** The options of `role assignment list`. */
export interface ListFlags {
  readonly scope?: string
  readonly assigneeObjectId?: string
}

/** The options of `role assignment delete`. */
export interface DeleteFlags {
  readonly ids?: ReadonlyArray<string>
  readonly name?: string
  readonly scope?: string
  readonly assigneeObjectId?: string
  readonly role?: string
}

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

/** `--ids` checked whole before anything is deleted: one bad id means no request at all. */
const parseIds = (ids: ReadonlyArray<string>) =>
  Either.all(
    ids.map((id, i) =>
      Either.map(
        parseDeleteRoleAssignment(
          { id },
          ids.length === 1 ? "--ids" : `--ids (item ${i + 1} of ${ids.length})`,
        ),
        () => ({ id }),
      ),
    ),
  )

/**
 * Deletes `targets` one at a time. A failure after the first leaves some deleted: it is reported as a
 * {@link PartialFailure} carrying what was deleted, so the user learns what changed.
 */
const deleteEach = (targets: ReadonlyArray<DeleteRoleAssignment>) =>
  Effect.flatMap(RoleAssignments, (ra) =>
    Effect.gen(function* () {
      const deleted: Array<RoleAssignment> = []
      for (const [i, target] of targets.entries()) {
        const outcome = yield* Effect.either(ra.delete(target))
        if (Either.isLeft(outcome)) {
          return yield* Effect.fail(
            i === 0 ? outcome.left : new PartialFailure(deleted, i, targets.length, outcome.left),
          )
        }
        if (Option.isSome(outcome.right)) deleted.push(outcome.right.value)
      }
      return deleted
    }),
  )

export const remove = (ctx: CommandContext, flags: DeleteFlags) => {
  const targets: Effect.Effect<ReadonlyArray<DeleteRoleAssignment>, CliError, RoleAssignments> = flags.ids !==
  undefined
    ? parseIds(flags.ids)
    : flags.name !== undefined && flags.scope !== undefined
      ? Either.map(parseDeleteRoleAssignment({ scope: flags.scope, name: flags.name }), () => [
          { scope: flags.scope ?? "", name: flags.name ?? "" },
        ])
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
  return run(ctx, Effect.flatMap(targets, deleteEach), { tableView: assignmentTable })
}
