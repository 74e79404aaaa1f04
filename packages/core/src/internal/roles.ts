/**
 * The role-assignment rules that need no ARM request, shared by the live service and the in-memory test
 * layer: what a create asks for, which role a `role` argument names when no lookup is needed, and the
 * filters azmi applies itself to what ARM lists.
 * @internal
 */
import { Either } from "effect"
import { type Guid, parseGuid, parseScope, type Scope, scopeEquals } from "../ArmIds.js"
import { InvalidInput } from "../Errors.js"
import type { CreateRoleAssignment, RoleAssignment } from "../RoleAssignments.js"

/** The built-in roles azmi knows without a lookup. */
export const BuiltInRoles = {
  Reader: "acdd72a7-3385-48ef-bd42-f606fba81ae7",
  Contributor: "b24988ac-6180-42a0-ab88-20f7382dd24c",
  Owner: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
} as const

const PRINCIPAL_TYPES = ["ServicePrincipal", "User", "Group", "ForeignGroup"] as const
const ROLE_DEFINITION_ID =
  /^(?:\/subscriptions\/([0-9a-fA-F-]{36}))?\/providers\/Microsoft\.Authorization\/roleDefinitions\/([0-9a-fA-F-]{36})$/i
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

/** The GUID at the end of a role definition id (or the GUID itself), lower-case. */
export const roleGuid = (roleDefinitionId: string): string =>
  roleDefinitionId.split("/").pop()?.toLowerCase() ?? ""

/** A create's scope, principal and principal type, validated in that order. */
export const parseCreate = (
  input: CreateRoleAssignment,
): Either.Either<
  { readonly scope: Scope; readonly principalId: Guid; readonly principalType: string },
  InvalidInput
> =>
  Either.gen(function* () {
    const scope = yield* parseScope(input.scope)
    const principalId = yield* parseGuid(input.principalId, "principalId")
    const principalType = input.principalType ?? "ServicePrincipal"
    if (!PRINCIPAL_TYPES.includes(principalType)) {
      return yield* Either.left(
        new InvalidInput({
          field: "principalType",
          rule: `must be one of ${PRINCIPAL_TYPES.join(", ")}`,
          value: String(principalType),
        }),
      )
    }
    return { scope, principalId, principalType }
  })

/**
 * The role definition GUID (lower-case) a `role` argument names without asking ARM — a GUID, a role
 * definition id, a built-in role name (any case) — or `undefined` for another role name (to be looked up
 * at the scope), or `InvalidInput` for what cannot be a role.
 */
export const knownRole = (role: string): Either.Either<string | undefined, InvalidInput> => {
  if (Either.isRight(parseGuid(role, "role"))) return Either.right(role.toLowerCase())
  if (role.startsWith("/")) {
    const m = ROLE_DEFINITION_ID.exec(role)
    const guid = m?.[2]
    if (
      guid === undefined ||
      Either.isLeft(parseGuid(guid, "role")) ||
      (m?.[1] !== undefined && Either.isLeft(parseGuid(m[1], "role")))
    ) {
      return Either.left(
        new InvalidInput({
          field: "role",
          rule: "a role definition id must be [/subscriptions/{id}]/providers/Microsoft.Authorization/roleDefinitions/{guid}",
          value: role,
        }),
      )
    }
    return Either.right(guid.toLowerCase())
  }
  const builtIn = Object.entries(BuiltInRoles).find(([name]) => name.toLowerCase() === role.toLowerCase())
  if (builtIn !== undefined) return Either.right(builtIn[1])
  if (role.trim() === "" || role.length > 512 || CONTROL.test(role)) {
    return Either.left(
      new InvalidInput({
        field: "role",
        rule: "must be a role name, a role definition GUID or a role definition id",
        value: role,
      }),
    )
  }
  return Either.right(undefined)
}

/** Is `a` of this role (a GUID; `undefined`: any) and, with `exactScope`, assigned at exactly that scope? */
export const passesListFilter = (
  a: RoleAssignment,
  role: string | undefined,
  exactScope: Scope | undefined,
): boolean => {
  if (role !== undefined && roleGuid(a.properties.roleDefinitionId) !== role) return false
  if (exactScope === undefined) return true
  const at = parseScope(a.properties.scope)
  return Either.isRight(at) && scopeEquals(at.right, exactScope)
}
