/**
 * {@link RoleAssignments} over {@link ArmClient} (api-version 2022-04-01).
 *
 * Scopes are parsed into {@link Scope} values and paths rebuilt from their segments; principal ids and
 * role definition ids are validated as GUIDs before any request. Creating an assignment that already
 * exists (ARM's 409 `RoleAssignmentExists`) returns the existing assignment.
 * @module
 */
import { Effect, Either, Layer, Option, Schema, Stream } from "effect"
import { ArmApiVersions, ArmClient } from "./ArmClient.js"
import { parseGuid, parseScope, type Scope, scopeEquals, scopeSegments, scopeToString } from "./ArmIds.js"
import type { ArmResponse } from "./ArmResponse.js"
import { type ArmError, InvalidInput, RoleNotFound } from "./Errors.js"
import {
  BuiltInRoles,
  type CreateRoleAssignment,
  type DeleteRoleAssignment,
  type ListRoleAssignments,
  parseDeleteRoleAssignment,
  parseRoleAssignmentId,
  RoleAssignment,
  RoleAssignments,
} from "./RoleAssignments.js"

const AUTHZ = ["providers", "Microsoft.Authorization"] as const
const PRINCIPAL_TYPES = ["ServicePrincipal", "User", "Group", "ForeignGroup"] as const
const ROLE_DEFINITION_ID =
  /^(?:\/subscriptions\/([0-9a-fA-F-]{36}))?\/providers\/Microsoft\.Authorization\/roleDefinitions\/([0-9a-fA-F-]{36})$/i
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

/** A role definition as the roleDefinitions list returns it (only what azmi needs). */
const RoleDefinition = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  properties: Schema.optional(Schema.Struct({ roleName: Schema.optional(Schema.String) })),
})

const odataString = (s: string) => `'${s.replaceAll("'", "''")}'`

/** The GUID at the end of a role definition id (or the GUID itself). */
const roleGuid = (roleDefinitionId: string) => roleDefinitionId.split("/").pop()?.toLowerCase() ?? ""

/** Splits a role assignment id into its scope and name (moved to `RoleAssignments`; kept here for callers). */
export { parseRoleAssignmentId }

/** Builds the service from an {@link ArmClient}. */
export const make = Effect.gen(function* () {
  const arm = yield* ArmClient

  const assignmentsPath = (scope: Scope) => [...scopeSegments(scope), ...AUTHZ, "roleAssignments"]

  /** The role definition id to put in the assignment body (subscription-qualified, as ARM's examples). */
  const resolveRole = (role: string, scope: Scope): Effect.Effect<string, ArmError> =>
    Effect.gen(function* () {
      const sub = scope.subscriptionId
      const qualified = (guid: string) =>
        `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/${guid.toLowerCase()}`
      if (Either.isRight(parseGuid(role, "role"))) return qualified(role)
      if (role.startsWith("/")) {
        const m = ROLE_DEFINITION_ID.exec(role)
        const guid = m?.[2]
        if (
          guid === undefined ||
          Either.isLeft(parseGuid(guid, "role")) ||
          (m?.[1] !== undefined && Either.isLeft(parseGuid(m[1], "role")))
        ) {
          return yield* new InvalidInput({
            field: "role",
            rule: "a role definition id must be [/subscriptions/{id}]/providers/Microsoft.Authorization/roleDefinitions/{guid}",
            value: role,
          })
        }
        return qualified(guid)
      }
      const builtIn = Object.entries(BuiltInRoles).find(([name]) => name.toLowerCase() === role.toLowerCase())
      if (builtIn !== undefined) return qualified(builtIn[1])
      if (role.trim() === "" || role.length > 512 || CONTROL.test(role)) {
        return yield* new InvalidInput({
          field: "role",
          rule: "must be a role name, a role definition GUID or a role definition id",
          value: role,
        })
      }
      const found = yield* arm
        .pages(
          {
            method: "GET",
            path: [...scopeSegments(scope), ...AUTHZ, "roleDefinitions"],
            apiVersion: ArmApiVersions.roleDefinitions,
            query: { $filter: `roleName eq ${odataString(role)}` },
            context: { subscriptionId: sub },
          },
          RoleDefinition,
        )
        .pipe(
          // The filter is exact on ARM's side; compare again in case a server ignores it.
          Stream.filter(
            (d) =>
              d.properties?.roleName === undefined ||
              d.properties.roleName.toLowerCase() === role.toLowerCase(),
          ),
          Stream.runHead,
        )
      if (Option.isNone(found)) return yield* new RoleNotFound({ role, scope: scopeToString(scope) })
      const guid = roleGuid(found.value.id)
      if (Either.isLeft(parseGuid(guid, "role")))
        return yield* new RoleNotFound({ role, scope: scopeToString(scope) })
      return qualified(guid)
    })

  const listStream = (scope: Scope, filter: string | undefined) =>
    arm.pages(
      {
        method: "GET",
        path: assignmentsPath(scope),
        apiVersion: ArmApiVersions.roleAssignments,
        query: { $filter: filter },
        context: { subscriptionId: scope.subscriptionId },
      },
      RoleAssignment,
    )

  const create = (input: CreateRoleAssignment): Effect.Effect<ArmResponse<RoleAssignment>, ArmError> =>
    Effect.gen(function* () {
      const scope = yield* parseScope(input.scope)
      const principalId = yield* parseGuid(input.principalId, "principalId")
      const principalType = input.principalType ?? "ServicePrincipal"
      if (!PRINCIPAL_TYPES.includes(principalType)) {
        return yield* new InvalidInput({
          field: "principalType",
          rule: `must be one of ${PRINCIPAL_TYPES.join(", ")}`,
          value: String(principalType),
        })
      }
      const roleDefinitionId = yield* resolveRole(input.role, scope)
      const name = crypto.randomUUID()
      return yield* arm
        .json(
          {
            method: "PUT",
            path: [...assignmentsPath(scope), name],
            apiVersion: ArmApiVersions.roleAssignments,
            body: {
              properties: {
                roleDefinitionId,
                principalId,
                principalType,
                ...(input.description === undefined ? {} : { description: input.description }),
              },
            },
            context: { subscriptionId: scope.subscriptionId },
          },
          RoleAssignment,
        )
        .pipe(
          Effect.catchIf(
            (e) => e._tag === "ArmRequestFailed" && e.status === 409 && e.code === "RoleAssignmentExists",
            (conflict) =>
              // Granting what is already granted is success: find and return the existing assignment.
              listStream(scope, `principalId eq ${odataString(principalId)}`).pipe(
                Stream.filter(
                  (a) =>
                    a.properties.principalId.toLowerCase() === principalId.toLowerCase() &&
                    roleGuid(a.properties.roleDefinitionId) === roleGuid(roleDefinitionId) &&
                    Either.match(parseScope(a.properties.scope), {
                      onLeft: () => false,
                      onRight: (s) => scopeEquals(s, scope),
                    }),
                ),
                Stream.runHead,
                Effect.flatMap(
                  Option.match({
                    onNone: () => Effect.fail(conflict),
                    onSome: (value) =>
                      Effect.succeed<ArmResponse<RoleAssignment>>({
                        value,
                        metadata: {
                          requestId: "requestId" in conflict ? conflict.requestId : undefined,
                          correlationId: "correlationId" in conflict ? conflict.correlationId : undefined,
                        },
                      }),
                  }),
                ),
              ),
          ),
        )
    }).pipe(Effect.withSpan("RoleAssignments.create", { captureStackTrace: false }))

  const list = (input: ListRoleAssignments): Stream.Stream<RoleAssignment, ArmError> =>
    Effect.gen(function* () {
      const scope = yield* parseScope(input.scope)
      const filters: Array<string> = []
      if (input.atScope === true) filters.push("atScope()")
      if (input.principalId !== undefined) {
        const principalId = yield* parseGuid(input.principalId, "principalId")
        filters.push(`principalId eq ${odataString(principalId)}`)
      }
      const all = listStream(scope, filters.length === 0 ? undefined : filters.join(" and "))
      const roleGuidWanted =
        input.role === undefined ? undefined : roleGuid(yield* resolveRole(input.role, scope))
      if (input.exactScope !== true && roleGuidWanted === undefined) return all
      return Stream.filter(all, (a) => {
        if (roleGuidWanted !== undefined && roleGuid(a.properties.roleDefinitionId) !== roleGuidWanted)
          return false
        if (input.exactScope !== true) return true
        const at = parseScope(a.properties.scope)
        return Either.isRight(at) && scopeEquals(at.right, scope)
      })
    }).pipe(Stream.unwrap)

  const del = (input: DeleteRoleAssignment): Effect.Effect<Option.Option<RoleAssignment>, ArmError> =>
    Effect.gen(function* () {
      const target = yield* parseDeleteRoleAssignment(input)
      const raw = yield* arm.send({
        method: "DELETE",
        path: [...assignmentsPath(target.scope), target.name],
        apiVersion: ArmApiVersions.roleAssignments,
        context: { subscriptionId: target.scope.subscriptionId },
      })
      if (raw.status === 204 || raw.body === undefined) return Option.none()
      return Option.some(
        yield* Schema.decodeUnknown(RoleAssignment)(raw.body).pipe(
          // The assignment is gone either way; an odd echo of it must not turn success into failure.
          Effect.orElseSucceed(
            () =>
              new RoleAssignment({
                id: `${scopeToString(target.scope)}/providers/Microsoft.Authorization/roleAssignments/${target.name}`,
                name: target.name,
                type: "Microsoft.Authorization/roleAssignments",
                properties: { roleDefinitionId: "", principalId: "", scope: scopeToString(target.scope) },
              }),
          ),
        ),
      )
    }).pipe(Effect.withSpan("RoleAssignments.delete", { captureStackTrace: false }))

  return RoleAssignments.of({ create, list, delete: del })
})

/**
 * The live layer.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { ArmClient, RoleAssignmentsLive } from "@azmi/core"
 * const live = RoleAssignmentsLive.layer.pipe(Layer.provide(ArmClient.layer({ endpoint })))
 * ```
 */
export const layer: Layer.Layer<RoleAssignments, never, ArmClient> = Layer.effect(RoleAssignments, make)
