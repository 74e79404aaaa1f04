/**
 * Role assignments (PUT / GET / DELETE / list with `atScope()` and `principalId eq '…'`) and role definitions
 * (GET by id, list with `roleName eq '…'`) under `{scope}/providers/Microsoft.Authorization/…`.
 */
import { emptyReply, jsonReply, type Reply } from "../http.js"
import {
  type PrincipalType,
  type RoleAssignment,
  type RoleDefinition,
  roleDefinitionResourceId,
  type WorldStore,
} from "../world/model.js"
import { type ArmCall, GUID, isRecord, parseJsonBody, queryParam } from "./context.js"
import { armError, authorizationFailed, resourceGroupNotFound } from "./errors.js"
import { isAtOrAbove, isAuthorized, normaliseScope } from "./rbac.js"

export const RA_READ = "Microsoft.Authorization/roleAssignments/read"
export const RA_WRITE = "Microsoft.Authorization/roleAssignments/write"
export const RA_DELETE = "Microsoft.Authorization/roleAssignments/delete"
export const RD_READ = "Microsoft.Authorization/roleDefinitions/read"

/** A parsed scope: `/`, `/subscriptions/{sub}`, `/subscriptions/{sub}/resourceGroups/{rg}[/providers/…]`. */
export interface Scope {
  /** Canonical string, `resourceGroups` camel-case, no trailing slash ("" for the root). */
  readonly id: string
  readonly subscriptionId?: string
  readonly resourceGroup?: string
}

/** Builds a scope from URL segments before `/providers/Microsoft.Authorization`. */
export const parseScope = (segments: ReadonlyArray<string>): Scope | undefined => {
  if (segments.length === 0) return { id: "" }
  const [s0, sub, s2, rg, ...rest] = segments
  if (s0?.toLowerCase() !== "subscriptions" || sub === undefined) return undefined
  if (s2 === undefined) return { id: `/subscriptions/${sub}`, subscriptionId: sub }
  if (s2.toLowerCase() !== "resourcegroups" || rg === undefined) return undefined
  const tail = rest.length === 0 ? "" : `/${rest.join("/")}`
  return { id: `/subscriptions/${sub}/resourceGroups/${rg}${tail}`, subscriptionId: sub, resourceGroup: rg }
}

/** How ARM writes a scope in AuthorizationFailed messages (lowercase `resourcegroups`). */
const messageScope = (scope: Scope): string =>
  scope.id === "" ? "/" : scope.id.replace("/resourceGroups/", "/resourcegroups/")

const denied = (call: ArmCall, action: string, scope: Scope): Reply =>
  authorizationFailed(call.caller.appid, call.caller.oid, action, messageScope(scope))

const scopeOrRoot = (scope: Scope): string => (scope.id === "" ? "/" : scope.id)

const roleDefinitionIdIn = (scope: Scope, guid: string): string =>
  scope.subscriptionId === undefined
    ? roleDefinitionResourceId(guid)
    : `/subscriptions/${scope.subscriptionId}${roleDefinitionResourceId(guid)}`

const roleGuid = (roleDefinitionId: string): string => roleDefinitionId.split("/").pop() ?? roleDefinitionId

export const roleAssignmentJson = (a: RoleAssignment): Record<string, unknown> => {
  const sub = /^\/subscriptions\/([^/]+)/i.exec(a.scope)?.[1]
  const guid = roleGuid(a.roleDefinitionId)
  return {
    properties: {
      roleDefinitionId:
        sub === undefined
          ? roleDefinitionResourceId(guid)
          : `/subscriptions/${sub}${roleDefinitionResourceId(guid)}`,
      principalId: a.principalId,
      principalType: a.principalType,
      scope: a.scope,
      condition: null,
      conditionVersion: null,
      createdOn: a.createdOn ?? null,
      updatedOn: a.updatedOn ?? a.createdOn ?? null,
      createdBy: a.createdBy ?? null,
      updatedBy: a.createdBy ?? null,
      delegatedManagedIdentityResourceId: null,
      description: a.description ?? null,
    },
    id: `${a.scope === "/" ? "" : a.scope}/providers/Microsoft.Authorization/roleAssignments/${a.name}`,
    type: "Microsoft.Authorization/roleAssignments",
    name: a.name,
  }
}

/** The scope must exist: its subscription (checked by the router) and resource group. */
const missingScope = (call: ArmCall, scope: Scope): Reply | undefined =>
  scope.subscriptionId !== undefined &&
  scope.resourceGroup !== undefined &&
  call.ctx.store.findResourceGroup(scope.subscriptionId, scope.resourceGroup) === undefined
    ? resourceGroupNotFound(scope.resourceGroup)
    : undefined

/** Principals the directory knows, with their type. */
const findPrincipal = (store: WorldStore, principalId: string): PrincipalType | undefined => {
  const id = principalId.toLowerCase()
  if (store.servicePrincipals().some((p) => p.objectId.toLowerCase() === id)) return "ServicePrincipal"
  if (store.vms().some((v) => v.systemAssigned?.principalId.toLowerCase() === id)) return "ServicePrincipal"
  if (store.hosts().some((h) => h.systemAssigned?.principalId.toLowerCase() === id)) return "ServicePrincipal"
  if (store.userAssignedIdentities().some((u) => u.principalId.toLowerCase() === id))
    return "ServicePrincipal"
  return undefined
}

const PRINCIPAL_TYPES: ReadonlyArray<PrincipalType> = [
  "User",
  "Group",
  "ServicePrincipal",
  "ForeignGroup",
  "Device",
]

const invalidContent = (message: string): Reply =>
  armError(
    400,
    "InvalidRequestContent",
    `The request content was invalid and could not be deserialized: '${message}'.`,
  )

export const putRoleAssignment = (call: ArmCall, scope: Scope, name: string): Reply => {
  if (!isAuthorized(call.ctx.store, call.caller.oid, RA_WRITE, scopeOrRoot(scope)))
    return denied(call, RA_WRITE, scope)
  if (!GUID.test(name)) {
    return armError(
      400,
      "InvalidRoleAssignmentId",
      `The role assignment ID '${name}' is not valid. The role assignment ID must be a GUID.`,
    )
  }
  const missing = missingScope(call, scope)
  if (missing !== undefined) return missing
  const parsed = parseJsonBody(call.req.body)
  if (!parsed.ok) return invalidContent(parsed.message)
  const props = isRecord(parsed.value) ? parsed.value.properties : undefined
  if (!isRecord(props)) return invalidContent("The 'properties' object is required.")
  const { roleDefinitionId, principalId, principalType, description } = props
  if (typeof roleDefinitionId !== "string" || roleDefinitionId === "") {
    return invalidContent("The 'properties.roleDefinitionId' property is required.")
  }
  if (typeof principalId !== "string" || principalId === "") {
    return invalidContent("The 'properties.principalId' property is required.")
  }
  const role = call.ctx.store.findRoleDefinition(roleDefinitionId)
  if (role === undefined) {
    return armError(
      400,
      "RoleDefinitionDoesNotExist",
      `The specified role definition with ID '${roleGuid(roleDefinitionId)}' does not exist.`,
    )
  }
  const tenantId = call.subscription?.tenantId ?? call.ctx.store.defaultTenantId
  const actualType = findPrincipal(call.ctx.store, principalId)
  if (actualType === undefined) {
    return armError(
      400,
      "PrincipalNotFound",
      `Principal ${principalId.replaceAll("-", "")} does not exist in the directory ${tenantId}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype`,
    )
  }
  if (principalType !== undefined && principalType !== null) {
    if (typeof principalType !== "string" || !PRINCIPAL_TYPES.includes(principalType as PrincipalType)) {
      return invalidContent(
        `The 'properties.principalType' value '${String(principalType)}' is not supported.`,
      )
    }
    if (principalType !== actualType) {
      return armError(
        400,
        "UnmatchedPrincipalType",
        `The PrincipalType in the request '${principalType}' does not match the type '${actualType}' of the principal with id '${principalId}'.`,
      )
    }
  }
  const scopeId = scopeOrRoot(scope)
  const existing = call.ctx.store.findRoleAssignment(name)
  const sameAs = (a: RoleAssignment) =>
    normaliseScope(a.scope) === normaliseScope(scopeId) &&
    a.principalId.toLowerCase() === principalId.toLowerCase() &&
    roleGuid(a.roleDefinitionId).toLowerCase() === role.name.toLowerCase()
  if (existing !== undefined) {
    if (sameAs(existing)) return jsonReply(201, roleAssignmentJson(existing))
    return armError(
      409,
      "RoleAssignmentUpdateNotPermitted",
      "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
    )
  }
  if (call.ctx.store.roleAssignments().some(sameAs)) {
    return armError(409, "RoleAssignmentExists", "The role assignment already exists.")
  }
  const now = new Date(call.ctx.now()).toISOString()
  const { assignment } = call.ctx.store.putRoleAssignment({
    name: name.toLowerCase(),
    scope: scopeId,
    roleDefinitionId: roleDefinitionIdIn(scope, role.name),
    principalId,
    principalType: actualType,
    ...(typeof description === "string" ? { description } : {}),
    createdOn: now,
    updatedOn: now,
    createdBy: call.caller.oid,
  })
  return jsonReply(201, roleAssignmentJson(assignment))
}

const findAt = (call: ArmCall, scope: Scope, name: string): RoleAssignment | undefined => {
  const a = call.ctx.store.findRoleAssignment(name)
  return a !== undefined && normaliseScope(a.scope) === normaliseScope(scopeOrRoot(scope)) ? a : undefined
}

export const getRoleAssignment = (call: ArmCall, scope: Scope, name: string): Reply => {
  if (!isAuthorized(call.ctx.store, call.caller.oid, RA_READ, scopeOrRoot(scope)))
    return denied(call, RA_READ, scope)
  const a = findAt(call, scope, name)
  return a === undefined
    ? armError(404, "RoleAssignmentNotFound", `The role assignment '${name}' is not found.`)
    : jsonReply(200, roleAssignmentJson(a))
}

export const deleteRoleAssignment = (call: ArmCall, scope: Scope, name: string): Reply => {
  if (!isAuthorized(call.ctx.store, call.caller.oid, RA_DELETE, scopeOrRoot(scope))) {
    return denied(call, RA_DELETE, scope)
  }
  const a = findAt(call, scope, name)
  if (a === undefined) return emptyReply(204)
  call.ctx.store.deleteRoleAssignment(a.name)
  return jsonReply(200, roleAssignmentJson(a))
}

type AssignmentFilter =
  | { readonly kind: "all" }
  | { readonly kind: "atScope"; readonly principalId?: string }
  | { readonly kind: "principal"; readonly principalId: string }

const parseAssignmentFilter = (text: string | null): AssignmentFilter | undefined => {
  if (text === null || text.trim() === "") return { kind: "all" }
  const t = text.trim()
  if (/^atScope\(\)$/i.test(t)) return { kind: "atScope" }
  const principal = /^principalId\s+eq\s+'([^']+)'$/i.exec(t) ?? /^assignedTo\('([^']+)'\)$/i.exec(t)
  if (principal?.[1] !== undefined) return { kind: "principal", principalId: principal[1] }
  const both =
    /^atScope\(\)\s+and\s+(?:principalId\s+eq\s+'([^']+)'|assignedTo\('([^']+)'\))$/i.exec(t) ??
    /^(?:principalId\s+eq\s+'([^']+)'|assignedTo\('([^']+)'\))\s+and\s+atScope\(\)$/i.exec(t)
  const id = both?.[1] ?? both?.[2]
  if (id !== undefined) return { kind: "atScope", principalId: id }
  return undefined
}

export const listRoleAssignments = (call: ArmCall, scope: Scope): Reply => {
  const scopeId = scopeOrRoot(scope)
  if (!isAuthorized(call.ctx.store, call.caller.oid, RA_READ, scopeId)) return denied(call, RA_READ, scope)
  const missing = missingScope(call, scope)
  if (missing !== undefined) return missing
  const filter = parseAssignmentFilter(queryParam(call.req.query, "$filter"))
  if (filter === undefined) {
    return armError(
      400,
      "UnsupportedQuery",
      "The filter is not supported. Use $filter=atScope(), $filter=principalId eq '{id}' or both joined with 'and'.",
    )
  }
  const above = (a: RoleAssignment) => isAtOrAbove(a.scope, scopeId)
  const related = (a: RoleAssignment) => above(a) || isAtOrAbove(scopeId, a.scope)
  const samePrincipal = (id: string) => (a: RoleAssignment) =>
    a.principalId.toLowerCase() === id.toLowerCase()
  const all = call.ctx.store.roleAssignments()
  const selected =
    filter.kind === "all"
      ? all.filter(related)
      : filter.kind === "principal"
        ? all.filter((a) => related(a) && samePrincipal(filter.principalId)(a))
        : all.filter(
            (a) => above(a) && (filter.principalId === undefined || samePrincipal(filter.principalId)(a)),
          )
  return jsonReply(200, { value: selected.map(roleAssignmentJson) })
}

// ---- role definitions

const BUILT_IN_DATE = "2015-02-02T21:55:09.8806423Z"

export const roleDefinitionJson = (scope: Scope, d: RoleDefinition): Record<string, unknown> => ({
  id: roleDefinitionIdIn(scope, d.name),
  properties: {
    roleName: d.roleName,
    type: d.roleType ?? "CustomRole",
    description: d.description ?? "",
    assignableScopes: d.assignableScopes ?? ["/"],
    permissions: d.permissions.map((p) => ({
      actions: p.actions,
      notActions: p.notActions ?? [],
      dataActions: p.dataActions ?? [],
      notDataActions: p.notDataActions ?? [],
    })),
    createdOn: BUILT_IN_DATE,
    updatedOn: BUILT_IN_DATE,
    createdBy: null,
    updatedBy: null,
  },
  type: "Microsoft.Authorization/roleDefinitions",
  name: d.name,
})

/** Reading role definitions needs read access at a subscription scope; tenant-level ones any caller may read. */
const mayReadDefinitions = (call: ArmCall, scope: Scope): boolean =>
  scope.subscriptionId === undefined || isAuthorized(call.ctx.store, call.caller.oid, RD_READ, scope.id)

export const getRoleDefinition = (call: ArmCall, scope: Scope, id: string): Reply => {
  if (!mayReadDefinitions(call, scope)) return denied(call, RD_READ, scope)
  const d = call.ctx.store.findRoleDefinition(id)
  return d === undefined
    ? armError(
        404,
        "RoleDefinitionDoesNotExist",
        `The specified role definition with ID '${id}' does not exist.`,
      )
    : jsonReply(200, roleDefinitionJson(scope, d))
}

export const listRoleDefinitions = (call: ArmCall, scope: Scope): Reply => {
  if (!mayReadDefinitions(call, scope)) return denied(call, RD_READ, scope)
  const text = queryParam(call.req.query, "$filter")
  let defs = [...call.ctx.store.roleDefinitions()]
  if (text !== null && text.trim() !== "") {
    const byName = /^\s*roleName\s+eq\s+'((?:[^']|'')*)'\s*$/i.exec(text)
    const byType = /^\s*type\s+eq\s+'(BuiltInRole|CustomRole)'\s*$/i.exec(text)
    if (byName?.[1] !== undefined) {
      const name = byName[1].replaceAll("''", "'").toLowerCase()
      defs = defs.filter((d) => d.roleName.toLowerCase() === name)
    } else if (byType?.[1] !== undefined) {
      const type = byType[1].toLowerCase()
      defs = defs.filter((d) => (d.roleType ?? "CustomRole").toLowerCase() === type)
    } else {
      return armError(
        400,
        "UnsupportedQuery",
        "The filter is not supported. Use $filter=roleName eq '{name}' or $filter=type eq 'BuiltInRole'.",
      )
    }
  }
  return jsonReply(200, { value: defs.map((d) => roleDefinitionJson(scope, d)) })
}
