/**
 * ARM role assignments (api-version 2022-04-01): create, list, delete; roles by name or id. The live
 * service is `RoleAssignmentsLive`; {@link RoleAssignments.layerTest} keeps assignments in memory for tests.
 * @module
 */
import { Context, Effect, Either, Layer, Option, Schema, Stream } from "effect"
import { type Guid, parseGuid, parseScope, type Scope, scopeEquals, scopeToString } from "./ArmIds.js"
import type { ArmResponse, ArmTestOverrides } from "./ArmResponse.js"
import { type ArmError, InvalidInput, RoleNotFound } from "./Errors.js"
import { knownRole, parseCreate, passesListFilter, roleGuid } from "./internal/roles.js"

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

export { BuiltInRoles } from "./internal/roles.js"

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

/** One call of a {@link RoleAssignments.layerTest} service, with its input as given. */
export type RoleAssignmentsCall =
  | { readonly op: "create"; readonly input: CreateRoleAssignment }
  | { readonly op: "list"; readonly input: ListRoleAssignments }
  | { readonly op: "delete"; readonly input: DeleteRoleAssignment }

/** Options of {@link RoleAssignments.layerTest}: the assignments, and {@link ArmTestOverrides}. */
export interface RoleAssignmentsTestOptions
  extends ArmTestOverrides<RoleAssignments["Type"], RoleAssignmentsCall> {
  /** The assignments that exist at first. Default: none. */
  readonly assignments?: Iterable<RoleAssignment> | undefined
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
    /**
     * Deletes by full id, or by scope + name; `None` when it did not exist. The input is checked
     * with {@link parseDeleteRoleAssignment} before the request.
     */
    readonly delete: (input: DeleteRoleAssignment) => Effect.Effect<Option.Option<RoleAssignment>, ArmError>
  }
>() {
  /**
   * Role assignments in memory, for tests (each build of the layer starts from `assignments`). Inputs
   * are validated and filtered by the same rules as the live service's: `create` returns an identical
   * assignment that exists, else adds one; `list` gives those at, above or below the scope (`atScope`:
   * at or above), of the principal and role asked for, `exactScope` at exactly the scope; `delete`
   * removes one (`None` when it did not exist). Roles are built-in names, GUIDs or role definition ids;
   * another name is `RoleNotFound` (there are no custom roles in memory). Every call is told to
   * `onCall` first; `create`, `list` or `delete` given here answer instead.
   *
   * @example
   * ```ts
   * import { Effect, Stream } from "effect"
   * import { RoleAssignments } from "@azmi/core"
   *
   * const scope = "/subscriptions/98f51385-2edc-4b79-bed9-7718de4cb861/resourceGroups/DevTest"
   * const principalId = "11111111-2222-3333-4444-555555555555"
   * const program = Effect.gen(function* () {
   *   const ra = yield* RoleAssignments
   *   yield* ra.create({ scope, principalId, role: "Reader" })
   *   return yield* Stream.runCollect(ra.list({ scope, principalId, role: "reader" }))
   * })
   * await Effect.runPromise(Effect.provide(program, RoleAssignments.layerTest())) // one Reader assignment
   * ```
   */
  static readonly layerTest = (options: RoleAssignmentsTestOptions = {}): Layer.Layer<RoleAssignments> =>
    Layer.sync(RoleAssignments, () => makeTest(options))
}

/** A role known without ARM (a built-in name, a GUID, an id), or `RoleNotFound` for any other name. */
const roleInMemory = (role: string, scope: Scope): Either.Either<string, InvalidInput | RoleNotFound> =>
  Either.flatMap(knownRole(role), (guid) =>
    guid === undefined
      ? Either.left(new RoleNotFound({ role, scope: scopeToString(scope) }))
      : Either.right(guid),
  )

const makeTest = (options: RoleAssignmentsTestOptions): RoleAssignments["Type"] => {
  const assignments = [...(options.assignments ?? [])]
  const scopeOf = (a: RoleAssignment) => Either.getRight(parseScope(a.properties.scope))
  /** Is `inner` `outer` or below it (by segments, case-insensitive)? */
  const within = (inner: Scope, outer: Scope) => {
    const i = scopeToString(inner).toLowerCase()
    const o = scopeToString(outer).toLowerCase()
    return i === o || i.startsWith(`${o}/`)
  }

  const create = (input: CreateRoleAssignment) =>
    Effect.suspend((): Effect.Effect<ArmResponse<RoleAssignment>, ArmError> => {
      options.onCall?.({ op: "create", input })
      if (options.create !== undefined) return options.create(input)
      return Either.gen(function* () {
        const { scope, principalId, principalType } = yield* parseCreate(input)
        const guid = yield* roleInMemory(input.role, scope)
        const existing = assignments.find(
          (a) =>
            a.properties.principalId.toLowerCase() === principalId.toLowerCase() &&
            roleGuid(a.properties.roleDefinitionId) === guid &&
            Option.exists(scopeOf(a), (s) => scopeEquals(s, scope)),
        )
        if (existing !== undefined) return { value: existing, metadata: options.metadata ?? {} }
        const name = crypto.randomUUID()
        const at = scopeToString(scope)
        const created = new RoleAssignment({
          id: `${at}/providers/Microsoft.Authorization/roleAssignments/${name}`,
          name,
          type: "Microsoft.Authorization/roleAssignments",
          properties: {
            roleDefinitionId: `/subscriptions/${scope.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${guid}`,
            principalId,
            principalType,
            scope: at,
            ...(input.description === undefined ? {} : { description: input.description }),
          },
        })
        assignments.push(created)
        return { value: created, metadata: options.metadata ?? {} }
      })
    })

  const list = (input: ListRoleAssignments) =>
    Stream.suspend((): Stream.Stream<RoleAssignment, ArmError> => {
      options.onCall?.({ op: "list", input })
      if (options.list !== undefined) return options.list(input)
      const found = Either.gen(function* () {
        const scope = yield* parseScope(input.scope)
        const principalId =
          input.principalId === undefined ? undefined : yield* parseGuid(input.principalId, "principalId")
        const role = input.role === undefined ? undefined : yield* roleInMemory(input.role, scope)
        const exactScope = input.exactScope === true ? scope : undefined
        return assignments.filter(
          (a) =>
            Option.exists(
              scopeOf(a),
              (at) => within(scope, at) || (input.atScope !== true && within(at, scope)),
            ) &&
            (principalId === undefined ||
              a.properties.principalId.toLowerCase() === principalId.toLowerCase()) &&
            passesListFilter(a, role, exactScope),
        )
      })
      return Either.isLeft(found) ? Stream.fail(found.left) : Stream.fromIterable(found.right)
    })

  const del = (input: DeleteRoleAssignment) =>
    Effect.suspend((): Effect.Effect<Option.Option<RoleAssignment>, ArmError> => {
      options.onCall?.({ op: "delete", input })
      if (options.delete !== undefined) return options.delete(input)
      return Effect.map(parseDeleteRoleAssignment(input), (target) => {
        const i = assignments.findIndex(
          (a) =>
            a.name.toLowerCase() === target.name.toLowerCase() &&
            Option.exists(scopeOf(a), (s) => scopeEquals(s, target.scope)),
        )
        return i < 0 ? Option.none() : Option.fromNullable(assignments.splice(i, 1)[0])
      })
    })

  return RoleAssignments.of({ create, list, delete: del })
}
