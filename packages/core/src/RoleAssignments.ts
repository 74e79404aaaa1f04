/**
 * ARM role assignments (api-version 2022-04-01): create, list, delete; roles by name or id.
 * @module
 */
import { Context, type Effect, type Option, Schema, type Stream } from "effect"
import type { ArmResponse } from "./ArmResponse.js"
import type { ArmError } from "./Errors.js"

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
    /** Deletes by full id, or by scope + name; `None` when it did not exist. */
    readonly delete: (
      input: { readonly id: string } | { readonly scope: string; readonly name: string },
    ) => Effect.Effect<Option.Option<RoleAssignment>, ArmError>
  }
>() {}
