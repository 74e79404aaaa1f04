/**
 * The 403 hint names a built-in role whose permissions include the denied action, and who must grant it.
 */
import { BUILT_IN_ROLES } from "@azmi/emulator"
import { describe, expect, it } from "vitest"
import { AuthorizationFailed } from "../src/Errors.js"
import { grantingRole } from "../src/internal/grantingRole.js"

const OID = "5a8f3c2e-1b7d-4e9a-9c3f-2d6b8e4a1f07"
const SCOPE = "/subscriptions/98f51385-2edc-4b79-bed9-7718de4cb861/resourceGroups/DevTest"

const denied = (action: string, scope = SCOPE) =>
  new AuthorizationFailed({ action, scope, principalId: OID, armMessage: "denied" })

/** ARM's evaluation of one role definition (the emulator's copy of Azure's built-in roles). */
const allows = (roleName: string, action: string): boolean => {
  const role = BUILT_IN_ROLES.find((r) => r.roleName === roleName)
  if (role === undefined) throw new Error(`no built-in role ${roleName}`)
  const match = (pattern: string) =>
    new RegExp(
      `^${pattern
        .split("*")
        .map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, "\\$&"))
        .join(".*")}$`,
      "i",
    ).test(action)
  return role.permissions.some((p) => p.actions.some(match) && !(p.notActions ?? []).some(match))
}

const actions = [
  "Microsoft.Resources/subscriptions/resourceGroups/read",
  "Microsoft.Resources/subscriptions/resourceGroups/write",
  "Microsoft.Resources/subscriptions/resourceGroups/delete",
  "Microsoft.Authorization/roleAssignments/write",
  "Microsoft.Authorization/roleAssignments/delete",
  "Microsoft.Authorization/roleAssignments/read",
  "Microsoft.Authorization/policyAssignments/write",
  "Microsoft.Authorization/locks/delete",
  "Microsoft.Compute/galleries/share/action",
  "Microsoft.Subscription/cancel/action",
  "Microsoft.Storage/storageAccounts/listKeys/action",
]

describe("AuthorizationFailed hint", () => {
  it("role assignments are granted through User Access Administrator, never Contributor", () => {
    expect(denied("Microsoft.Authorization/roleAssignments/write").hint).toBe(
      `An Owner or User Access Administrator of the scope must run: azmi role assignment create --assignee-object-id ${OID} --role 'User Access Administrator' --scope ${SCOPE}`,
    )
    expect(denied("Microsoft.Authorization/roleAssignments/delete").hint).toContain(
      "--role 'User Access Administrator'",
    )
  })

  it("reads name Reader and say who must run the grant", () => {
    expect(denied("Microsoft.Resources/subscriptions/resourceGroups/read").hint).toBe(
      `An Owner or User Access Administrator of the scope must run: azmi role assignment create --assignee-object-id ${OID} --role Reader --scope ${SCOPE}`,
    )
  })

  it.each(actions)("the role named for %s includes that action in Azure's definition", (action) => {
    const role = grantingRole(action)
    expect(allows(role, action)).toBe(true)
    // …and it is the first of Reader, Contributor, User Access Administrator, Owner that does.
    const order = ["Reader", "Contributor", "User Access Administrator", "Owner"]
    for (const smaller of order.slice(0, order.indexOf(role))) expect(allows(smaller, action)).toBe(false)
  })

  it("a scope a shell would split or expand is quoted", () => {
    const odd = `/subscriptions/98f51385-2edc-4b79-bed9-7718de4cb861/resourceGroups/rg(prod)'s`
    expect(denied("Microsoft.Resources/subscriptions/resourceGroups/read", odd).hint).toMatch(
      /--scope '\/subscriptions\/98f51385-2edc-4b79-bed9-7718de4cb861\/resourceGroups\/rg\(prod\)'\\''s'$/,
    )
  })
})
