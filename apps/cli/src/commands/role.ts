/**
 * `azmi role assignment create|list|delete`: RBAC role assignments, signed by the managed identity or,
 * when `AZURE_CLIENT_SECRET` & co. are set, by that service principal (the core decides).
 * @module
 */
import { BuiltInRoles, RoleAssignments } from "@azmi/core"
import type { Command } from "commander"
import { Chunk, Effect, Option, Stream } from "effect"
import { type CliDeps, contextOf, run } from "../context.js"
import { groupOr, groupScope, subscriptionOr } from "../defaults.js"
import { UsageError } from "../usage.js"

interface CreateFlags {
  readonly assigneeObjectId: string
  readonly role: string
  readonly scope?: string
  readonly assigneePrincipalType?: "ServicePrincipal" | "User" | "Group" | "ForeignGroup"
  readonly description?: string
}

interface ListFlags {
  readonly scope?: string
  readonly assigneeObjectId?: string
}

interface DeleteFlags {
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

/** Whether an assignment's role definition is `role` (a built-in name, a GUID or a full id). */
const hasRole = (roleDefinitionId: string, role: string) => {
  const wanted = BuiltInRoles[role as keyof typeof BuiltInRoles] ?? guidOf(role)
  return guidOf(roleDefinitionId) === wanted.toLowerCase()
}

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

export const registerRole = (program: Command, deps: CliDeps): void => {
  const assignment = program
    .command("role")
    .summary("manage role assignments")
    .command("assignment")
    .summary("create, list and delete role assignments")

  assignment
    .command("create")
    .description("Grant a role to an identity at a scope (default scope: the VM's resource group)")
    .requiredOption("--assignee-object-id <oid>", "object (principal) id of the identity")
    .requiredOption("--role <role>", "role name (Reader, Contributor, Owner…) or role definition id")
    .option("--scope <scope>", "scope, e.g. /subscriptions/{sub}/resourceGroups/{rg}")
    .option(
      "--assignee-principal-type <type>",
      "ServicePrincipal (default; managed identities), User, Group or ForeignGroup",
    )
    .option("--description <text>", "description of the assignment")
    .action(async (flags: CreateFlags, command: Command) => {
      const scope =
        flags.scope !== undefined
          ? Effect.succeed(flags.scope)
          : Effect.map(groupOr(undefined, undefined), (g) =>
              groupScope(g.subscriptionId, g.resourceGroupName),
            )
      const effect = Effect.flatMap(scope, (s) =>
        Effect.flatMap(RoleAssignments, (ra) =>
          ra.create({
            scope: s,
            principalId: flags.assigneeObjectId,
            role: flags.role,
            ...(flags.assigneePrincipalType === undefined
              ? {}
              : { principalType: flags.assigneePrincipalType }),
            ...(flags.description === undefined ? {} : { description: flags.description }),
          }),
        ),
      ).pipe(Effect.map((response) => response.value))
      await run(contextOf(command, deps), effect, { tableView: assignmentTable })
    })

  assignment
    .command("list")
    .description("List role assignments at a scope (default: the VM's subscription)")
    .option("--scope <scope>", "scope to list at")
    .option("--assignee-object-id <oid>", "only this principal's assignments")
    .action(async (flags: ListFlags, command: Command) => {
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
      await run(contextOf(command, deps), effect, { tableView: assignmentTable })
    })

  assignment
    .command("delete")
    .description(
      "Delete role assignments: by --ids, by --name and --scope, or every one of --assignee-object-id (and --role) at --scope",
    )
    .option("--ids <id...>", "full role assignment ids")
    .option("--name <name>", "role assignment name (a GUID), with --scope")
    .option("--scope <scope>", "scope of the assignment(s)")
    .option("--assignee-object-id <oid>", "delete this principal's assignments at --scope")
    .option("--role <role>", "only assignments of this role (with --assignee-object-id)")
    .action(async (flags: DeleteFlags, command: Command) => {
      const ctx = contextOf(command, deps)
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
                Stream.runCollect(ra.list({ scope: flags.scope ?? "", principalId: flags.assigneeObjectId })),
              ).pipe(
                Effect.map((all) =>
                  Chunk.toArray(all)
                    .filter(
                      (a) =>
                        a.properties.scope.toLowerCase() === (flags.scope ?? "").toLowerCase() &&
                        (flags.role === undefined || hasRole(a.properties.roleDefinitionId, flags.role)),
                    )
                    .map((a) => ({ id: a.id })),
                ),
              )
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
      await run(ctx, effect, { tableView: assignmentTable })
    })
}
