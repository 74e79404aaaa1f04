/**
 * ARM role assignments (api-version 2022-04-01): create, list, delete; roles by name or id.
 * @module
 */
import { Context, type Effect, Either, type Option, Schema, type Stream } from "effect"
import { type Guid, parseGuid, parseScope, type Scope } from "./ArmIds.js"
import type { ArmResponse } from "./ArmResponse.js"
import { type ArmError, InvalidInput } from "./Errors.js"

/** A role assignment as ARM returns it. */
export class RoleAssignment extends Schema.Class<RoleAssignment>("RoleAssignment")({
  id: Schema.String,
  name: Schema.String,
  type: Schema.optionalWith(Schema.String, { default: () => "Microsoft.Authorization/roleAssignments" }),
  properties: Schema.Struct({
    roleDefinitionId: Schema.String,
    principalId: Schema.String,
    principalType: Schema.optional(Schema.String),
    scope: Schema.String,
    description: Schema.optional(Schema.NullOr(Schema.String)),
    createdOn: Schema.optional(Schema.NullOr(Schema.String)),
    updatedOn: Schema.optional(Schema.NullOr(Schema.String)),
  }),
}) {}

/** The built-in roles azmi knows without a lookup. */
export const BuiltInRoles = {
  Reader: "acdd72a7-3385-48ef-bd42-f606fba81ae7",
  Contributor: "b24988ac-6180-42a0-ab88-20f7382dd24c",
  Owner: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
} as const

/** Input of {@link RoleAssignments} `create`. */
export interface CreateRoleAssignment {
  /** e.g. `/subscriptions/{sub}/resourceGroups/{rg}`. */
  readonly scope: string
  /** Object id of the identity that receives the role. */
  readonly principalId: string
  /** A role name (`Reader`, `Contributor`, `Owner`, or any other role visible at the scope) or a role definition GUID or id. */
  readonly role: string
  /** Defaults to `ServicePrincipal` (what managed identities are). */
  readonly principalType?: "ServicePrincipal" | "User" | "Group" | "ForeignGroup" | undefined
  readonly description?: string | undefined
}

/** Input of {@link RoleAssignments} `list`. */
export interface ListRoleAssignments {
  /** Scope to list at (default: the subscription of `subscriptionId`). */
  readonly scope: string
  /** Only assignments of this principal (at, above or below the scope). */
  readonly principalId?: string | undefined
  /** Only assignments at or above the scope (`$filter=atScope()`). */
  readonly atScope?: boolean | undefined
  /** Only assignments made at exactly this scope (not inherited from above, not below). */
  readonly exactScope?: boolean | undefined
  /** Only assignments of this role: a role name (any case), a role definition GUID or id, as for `create`. */
  readonly role?: string | undefined
}

/** What {@link RoleAssignments} `delete` takes: a full role assignment id, or its scope and name. */
export type DeleteRoleAssignment = { readonly id: string } | { readonly scope: string; readonly name: string }

/** A role assignment to delete, validated: its parsed scope and its name (a GUID). */
export interface RoleAssignmentRef {
  readonly scope: Scope
  readonly name: Guid
}

const ASSIGNMENT_SUFFIX = "/providers/microsoft.authorization/roleassignments/"

/** Splits a role assignment id into its scope and name. */
export const parseRoleAssignmentId = (
  id: string,
  field = "id",
): Either.Either<RoleAssignmentRef, InvalidInput> => {
  const at = id.toLowerCase().lastIndexOf(ASSIGNMENT_SUFFIX)
  if (at <= 0) {
    return Either.left(
      new InvalidInput({
        field,
        rule: "must be a role assignment id: {scope}/providers/Microsoft.Authorization/roleAssignments/{guid}",
        value: id,
      }),
    )
  }
  return Either.all({
    scope: parseScope(id.slice(0, at), field),
    name: parseGuid(id.slice(at + ASSIGNMENT_SUFFIX.length), field),
  })
}

/**
 * Validates what `delete` would be given, without a request — so a caller deleting several can check
 * every one before deleting the first. `field` names the input in the error (default `id`, or
 * `scope`/`name`).
 *
 * @example
 * ```ts
 * import { Either } from "effect"
 * import { parseDeleteRoleAssignment } from "@azmi/core"
 * Either.isLeft(parseDeleteRoleAssignment({ id: "garbage" })) // true: InvalidInput, nothing sent
 * ```
 */
export const parseDeleteRoleAssignment = (
  input: DeleteRoleAssignment,
  field?: string,
): Either.Either<RoleAssignmentRef, InvalidInput> =>
  "id" in input
    ? parseRoleAssignmentId(input.id, field)
    : Either.all({ scope: parseScope(input.scope, field), name: parseGuid(input.name, field ?? "name") })

/**
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RoleAssignments } from "@azmi/core"
 *
 * const grant = Effect.flatMap(RoleAssignments, (ra) =>
 *   ra.create({ scope: "/subscriptions/98f5…/resourceGroups/DevTest", principalId: "<oid>", role: "Reader" }))
 * ```
 */
export class RoleAssignments extends Context.Tag("@azmi/core/RoleAssignments")<
  RoleAssignments,
  {
    /** Creates the assignment; an identical existing one is returned as success. */
    readonly create: (input: CreateRoleAssignment) => Effect.Effect<ArmResponse<RoleAssignment>, ArmError>
    readonly list: (input: ListRoleAssignments) => Stream.Stream<RoleAssignment, ArmError>
    /**
     * Deletes by full id, or by scope + name; `None` when it did not exist. The input is checked
     * with {@link parseDeleteRoleAssignment} before the request.
     */
    readonly delete: (input: DeleteRoleAssignment) => Effect.Effect<Option.Option<RoleAssignment>, ArmError>
  }
>() {}
