/**
 * `azmi role assignment create|list|delete`: RBAC role assignments, signed by the managed identity or,
 * when `AZURE_CLIENT_SECRET` & co. are set, by that service principal (the core decides).
 * @module
 */
import type { Command } from "commander"
import type { CreateFlags, DeleteFlags, ListFlags } from "../actions/role.js"
import { type CliDeps, contextOf } from "../context.js"

const actions = () => import("../actions/role.js")

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
    .action(async (flags: CreateFlags, command: Command) =>
      (await actions()).create(contextOf(command, deps), flags),
    )

  assignment
    .command("list")
    .description("List role assignments at a scope (default: the VM's subscription)")
    .option("--scope <scope>", "scope to list at")
    .option("--assignee-object-id <oid>", "only this principal's assignments")
    .action(async (flags: ListFlags, command: Command) =>
      (await actions()).list(contextOf(command, deps), flags),
    )

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
    .action(async (flags: DeleteFlags, command: Command) =>
      (await actions()).remove(contextOf(command, deps), flags),
    )
}
