/**
 * Azure RBAC evaluation: a principal may perform an action at a scope when some role assignment of theirs at
 * that scope or a parent scope grants it (Actions minus NotActions, `*` wildcards, case-insensitive).
 */
import type { RoleAssignment, RoleDefinition, WorldStore } from "../world/model.js"

/** Lowercases and canonicalises `resourcegroups`, strips trailing slashes. */
export const normaliseScope = (scope: string): string => {
  const s = scope.toLowerCase().replace(/\/+$/, "")
  return s === "" ? "/" : s
}

/** True when `ancestor` is `scope` itself or one of its parents (`/` is everyone's parent). */
export const isAtOrAbove = (ancestor: string, scope: string): boolean => {
  const a = normaliseScope(ancestor)
  const s = normaliseScope(scope)
  return a === "/" || a === s || s.startsWith(`${a}/`)
}

const patternCache = new Map<string, RegExp>()

/** Matches an action against a permission string with `*` wildcards (case-insensitive). */
export const actionMatches = (pattern: string, action: string): boolean => {
  let re = patternCache.get(pattern)
  if (re === undefined) {
    const escaped = pattern
      .split("*")
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
      .join(".*")
    re = new RegExp(`^${escaped}$`, "i")
    patternCache.set(pattern, re)
  }
  return re.test(action)
}

export const roleGrants = (role: RoleDefinition, action: string): boolean =>
  role.permissions.some(
    (p) =>
      p.actions.some((a) => actionMatches(a, action)) &&
      !(p.notActions ?? []).some((n) => actionMatches(n, action)),
  )

/** The principal's assignments that apply at `scope` (at it or above). */
export const applicableAssignments = (
  store: WorldStore,
  principalId: string,
  scope: string,
): ReadonlyArray<RoleAssignment> =>
  store
    .roleAssignments()
    .filter((a) => a.principalId.toLowerCase() === principalId.toLowerCase() && isAtOrAbove(a.scope, scope))

export const isAuthorized = (
  store: WorldStore,
  principalId: string,
  action: string,
  scope: string,
): boolean =>
  applicableAssignments(store, principalId, scope).some((a) => {
    const role = store.findRoleDefinition(a.roleDefinitionId)
    return role !== undefined && roleGrants(role, action)
  })

/** Does the principal hold any assignment at, above or below `scope`? */
export const hasAnyAssignmentTouching = (store: WorldStore, principalId: string, scope: string): boolean =>
  store
    .roleAssignments()
    .some(
      (a) =>
        a.principalId.toLowerCase() === principalId.toLowerCase() &&
        (isAtOrAbove(a.scope, scope) || isAtOrAbove(scope, a.scope)),
    )
