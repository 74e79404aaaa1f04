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
import { type ArmError, RoleNotFound } from "./Errors.js"
import { knownRole, parseCreate, passesListFilter, roleGuid } from "./internal/roles.js"
import {
  type CreateRoleAssignment,
  type DeleteRoleAssignment,
  type ListRoleAssignments,
  parseDeleteRoleAssignment,
  parseRoleAssignmentId,
  RoleAssignment,
  RoleAssignments,
} from "./RoleAssignments.js"

const AUTHZ = ["providers", "Microsoft.Authorization"] as const

/** A role definition as the roleDefinitions list returns it (only what azmi needs). */
const RoleDefinition = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  properties: Schema.optional(Schema.Struct({ roleName: Schema.optional(Schema.String) })),
})

const odataString = (s: string) => `'${s.replaceAll("'", "''")}'`

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
      const known = yield* knownRole(role)
      if (known !== undefined) return qualified(known)
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
      const { scope, principalId, principalType } = yield* parseCreate(input)
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
      const exactScope = input.exactScope === true ? scope : undefined
      if (exactScope === undefined && roleGuidWanted === undefined) return all
      return Stream.filter(all, (a) => passesListFilter(a, roleGuidWanted, exactScope))
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
