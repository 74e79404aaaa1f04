import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { actionMatches, isAtOrAbove, roleGrants } from "../src/arm/rbac.js"
import {
  BUILT_IN_ROLES,
  CONTRIBUTOR_ROLE_ID,
  DEFAULT_ADMIN_ASSIGNMENT_NAME,
  DEFAULT_SUBSCRIPTION_ID,
  DEFAULT_TENANT_ID,
  OWNER_ROLE_ID,
  READER_ROLE_ID,
} from "../src/index.js"
import { json, READER_ID, start, type TestEmulator } from "./helpers.js"

const SUB = `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}`
const RG_SCOPE = `${SUB}/resourceGroups/DevTest`
const RA = "api-version=2022-04-01"
const ra = (scope: string, name: string) =>
  `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}?${RA}`
const roleId = (guid: string) => `${SUB}/providers/Microsoft.Authorization/roleDefinitions/${guid}`

describe("RBAC evaluation (unit)", () => {
  it("matches wildcard actions case-insensitively", () => {
    expect(actionMatches("*/read", "Microsoft.Resources/subscriptions/resourceGroups/read")).toBe(true)
    expect(actionMatches("*/read", "Microsoft.Resources/subscriptions/resourceGroups/write")).toBe(false)
    expect(actionMatches("*", "anything/at/all")).toBe(true)
    expect(
      actionMatches("Microsoft.Authorization/*/Write", "microsoft.authorization/roleassignments/write"),
    ).toBe(true)
    expect(actionMatches("Microsoft.Authorization/*", "Microsoft.Resources/x/read")).toBe(false)
  })

  it("inherits from parent scopes only", () => {
    expect(isAtOrAbove("/subscriptions/s", "/subscriptions/S/resourceGroups/rg")).toBe(true)
    expect(isAtOrAbove("/subscriptions/s/resourcegroups/RG", "/subscriptions/s/resourceGroups/rg")).toBe(true)
    expect(isAtOrAbove("/subscriptions/s/resourceGroups/rg", "/subscriptions/s")).toBe(false)
    expect(isAtOrAbove("/subscriptions/s/resourceGroups/rg", "/subscriptions/s/resourceGroups/rg2")).toBe(
      false,
    )
    expect(isAtOrAbove("/", "/subscriptions/s")).toBe(true)
  })

  it("applies NotActions (Contributor cannot write role assignments)", () => {
    const contributor = BUILT_IN_ROLES.find((r) => r.name === CONTRIBUTOR_ROLE_ID)!
    expect(roleGrants(contributor, "Microsoft.Resources/subscriptions/resourceGroups/write")).toBe(true)
    expect(roleGrants(contributor, "Microsoft.Authorization/roleAssignments/write")).toBe(false)
    const owner = BUILT_IN_ROLES.find((r) => r.name === OWNER_ROLE_ID)!
    expect(roleGrants(owner, "Microsoft.Authorization/roleAssignments/write")).toBe(true)
  })
})

describe("the seed flow over raw HTTP", () => {
  let t: TestEmulator
  beforeAll(async () => {
    t = await start()
  })
  afterAll(() => t.close())

  it("VM token → 403 → admin grants Reader on DevTest → 200", async () => {
    const vmToken = await t.vmToken()
    const rg = `${SUB}/resourceGroups/DevTest?api-version=2016-09-01`

    const denied = await t.arm(rg, vmToken)
    expect(denied.status).toBe(403)
    const vm = t.emu.vm.systemAssigned!
    expect((await json(denied)).error).toEqual({
      code: "AuthorizationFailed",
      message: `The client '${vm.clientId}' with object id '${vm.principalId}' does not have authorization to perform action 'Microsoft.Resources/subscriptions/resourcegroups/read' over scope '${SUB}/resourcegroups/DevTest' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    })

    const admin = await t.adminToken()
    const grant = await t.arm(ra(RG_SCOPE, "0e0e0e0e-1111-4222-8333-444455556666"), admin, {
      method: "PUT",
      body: {
        properties: {
          roleDefinitionId: READER_ID(DEFAULT_SUBSCRIPTION_ID),
          principalId: vm.principalId,
          principalType: "ServicePrincipal",
        },
      },
    })
    expect(grant.status).toBe(201)

    const ok = await t.arm(rg, vmToken)
    expect(ok.status).toBe(200)
    expect((await json(ok)).name).toBe("DevTest")
    // Reader does not allow writes.
    const write = await t.arm(rg, vmToken, { method: "PUT", body: { location: "westus" } })
    expect(write.status).toBe(403)
    expect((await json(write)).error.message).toMatch(
      /'Microsoft.Resources\/subscriptions\/resourcegroups\/write'/,
    )
  })
})

describe("role assignments", () => {
  let t: TestEmulator
  let admin: string
  let vmPrincipal: string
  beforeAll(async () => {
    t = await start()
    admin = await t.adminToken()
    vmPrincipal = t.emu.vm.systemAssigned!.principalId
  })
  afterAll(() => t.close())

  const assign = (scope: string, name: string, properties: Record<string, unknown>, token = admin) =>
    t.arm(ra(scope, name), token, { method: "PUT", body: { properties } })

  it("PUT returns the assignment in ARM's shape", async () => {
    const res = await assign(RG_SCOPE, "1a1a1a1a-0000-4000-8000-000000000001", {
      roleDefinitionId: roleId(READER_ROLE_ID),
      principalId: vmPrincipal,
      principalType: "ServicePrincipal",
    })
    expect(res.status).toBe(201)
    expect(await json(res)).toMatchObject({
      id: `${RG_SCOPE}/providers/Microsoft.Authorization/roleAssignments/1a1a1a1a-0000-4000-8000-000000000001`,
      name: "1a1a1a1a-0000-4000-8000-000000000001",
      type: "Microsoft.Authorization/roleAssignments",
      properties: {
        roleDefinitionId: roleId(READER_ROLE_ID),
        principalId: vmPrincipal,
        principalType: "ServicePrincipal",
        scope: RG_SCOPE,
      },
    })
  })

  it("PUT of the identical assignment again is idempotent; a changed one → 409", async () => {
    const name = "1a1a1a1a-0000-4000-8000-000000000001"
    const same = await assign(RG_SCOPE, name, {
      roleDefinitionId: roleId(READER_ROLE_ID),
      principalId: vmPrincipal,
    })
    expect(same.status).toBe(201)
    const changed = await assign(RG_SCOPE, name, {
      roleDefinitionId: roleId(OWNER_ROLE_ID),
      principalId: vmPrincipal,
    })
    expect(changed.status).toBe(409)
    expect((await json(changed)).error.code).toBe("RoleAssignmentUpdateNotPermitted")
  })

  it("the same role for the same principal at the same scope under another name → 409 RoleAssignmentExists", async () => {
    const res = await assign(RG_SCOPE, "1a1a1a1a-0000-4000-8000-000000000002", {
      roleDefinitionId: roleId(READER_ROLE_ID),
      principalId: vmPrincipal,
    })
    expect(res.status).toBe(409)
    expect((await json(res)).error).toEqual({
      code: "RoleAssignmentExists",
      message: "The role assignment already exists.",
    })
  })

  it("a name that is not a GUID → 400 InvalidRoleAssignmentId", async () => {
    const res = await assign(RG_SCOPE, "not-a-guid", {
      roleDefinitionId: roleId(READER_ROLE_ID),
      principalId: vmPrincipal,
    })
    expect(res.status).toBe(400)
    expect((await json(res)).error.code).toBe("InvalidRoleAssignmentId")
  })

  it("an unknown role definition → 400 RoleDefinitionDoesNotExist", async () => {
    const res = await assign(RG_SCOPE, "1a1a1a1a-0000-4000-8000-000000000003", {
      roleDefinitionId: roleId("00000000-0000-4000-8000-000000000000"),
      principalId: vmPrincipal,
    })
    expect(res.status).toBe(400)
    expect((await json(res)).error.code).toBe("RoleDefinitionDoesNotExist")
  })

  it("an unknown principal → 400 PrincipalNotFound", async () => {
    const res = await assign(RG_SCOPE, "1a1a1a1a-0000-4000-8000-000000000004", {
      roleDefinitionId: roleId(READER_ROLE_ID),
      principalId: "12345678-1234-4234-8234-123456789012",
    })
    expect(res.status).toBe(400)
    const { error } = await json(res)
    expect(error.code).toBe("PrincipalNotFound")
    expect(error.message).toContain(`does not exist in the directory ${DEFAULT_TENANT_ID}`)
  })

  it("a principalType that does not match the principal → 400 UnmatchedPrincipalType", async () => {
    const res = await assign(RG_SCOPE, "1a1a1a1a-0000-4000-8000-000000000005", {
      roleDefinitionId: roleId(CONTRIBUTOR_ROLE_ID),
      principalId: vmPrincipal,
      principalType: "User",
    })
    expect(res.status).toBe(400)
    expect((await json(res)).error.code).toBe("UnmatchedPrincipalType")
  })

  it("missing properties → 400 InvalidRequestContent", async () => {
    const res = await t.arm(ra(RG_SCOPE, "1a1a1a1a-0000-4000-8000-000000000006"), admin, {
      method: "PUT",
      body: {},
    })
    expect(res.status).toBe(400)
    expect((await json(res)).error.code).toBe("InvalidRequestContent")
  })

  it("a scope whose resource group does not exist → 404 ResourceGroupNotFound", async () => {
    const res = await assign(`${SUB}/resourceGroups/nope`, "1a1a1a1a-0000-4000-8000-000000000007", {
      roleDefinitionId: roleId(READER_ROLE_ID),
      principalId: vmPrincipal,
    })
    expect(res.status).toBe(404)
    expect((await json(res)).error.code).toBe("ResourceGroupNotFound")
  })

  it("GET by name at its scope; 404 RoleAssignmentNotFound elsewhere", async () => {
    const ok = await t.arm(ra(RG_SCOPE, "1a1a1a1a-0000-4000-8000-000000000001"), admin)
    expect(ok.status).toBe(200)
    expect((await json(ok)).properties.principalId).toBe(vmPrincipal)
    const missing = await t.arm(ra(RG_SCOPE, "1a1a1a1a-0000-4000-8000-0000000000ff"), admin)
    expect(missing.status).toBe(404)
    expect((await json(missing)).error.code).toBe("RoleAssignmentNotFound")
    expect((await t.arm(ra(SUB, "1a1a1a1a-0000-4000-8000-000000000001"), admin)).status).toBe(404)
  })

  it("list at a group scope: all, atScope(), principalId eq", async () => {
    // One more assignment below nothing: Contributor at the subscription for the VM.
    expect(
      (
        await assign(SUB, "1a1a1a1a-0000-4000-8000-000000000008", {
          roleDefinitionId: roleId(CONTRIBUTOR_ROLE_ID),
          principalId: vmPrincipal,
        })
      ).status,
    ).toBe(201)
    const names = async (scope: string, filter?: string) => {
      const q = filter === undefined ? "" : `&$filter=${encodeURIComponent(filter)}`
      const res = await t.arm(`${scope}/providers/Microsoft.Authorization/roleAssignments?${RA}${q}`, admin)
      expect(res.status).toBe(200)
      return ((await json(res)).value as Array<{ name: string }>).map((a) => a.name).sort()
    }
    const rgAssignment = "1a1a1a1a-0000-4000-8000-000000000001"
    const subAssignment = "1a1a1a1a-0000-4000-8000-000000000008"
    expect(await names(RG_SCOPE, "atScope()")).toEqual(
      [DEFAULT_ADMIN_ASSIGNMENT_NAME, rgAssignment, subAssignment].sort(),
    )
    // At the subscription, atScope() excludes what is below it; no filter includes it.
    expect(await names(SUB, "atScope()")).toEqual([DEFAULT_ADMIN_ASSIGNMENT_NAME, subAssignment].sort())
    expect(await names(SUB)).toEqual([DEFAULT_ADMIN_ASSIGNMENT_NAME, rgAssignment, subAssignment].sort())
    expect(await names(SUB, `principalId eq '${vmPrincipal}'`)).toEqual([rgAssignment, subAssignment].sort())
    expect(await names(SUB, `atScope() and principalId eq '${vmPrincipal}'`)).toEqual([subAssignment])
  })

  it("an unsupported list filter → 400", async () => {
    const res = await t.arm(
      `${SUB}/providers/Microsoft.Authorization/roleAssignments?${RA}&$filter=${encodeURIComponent("roleName eq 'x'")}`,
      admin,
    )
    expect(res.status).toBe(400)
  })

  it("scope inheritance: Contributor at the subscription lets the VM write groups but not assign roles", async () => {
    const vmToken = await t.vmToken()
    const put = await t.arm(`${SUB}/resourcegroups/made-by-vm?api-version=2025-04-01`, vmToken, {
      method: "PUT",
      body: { location: "westus" },
    })
    expect(put.status).toBe(201)
    const grant = await assign(
      SUB,
      "1a1a1a1a-0000-4000-8000-000000000009",
      { roleDefinitionId: roleId(READER_ROLE_ID), principalId: t.emu.admin.objectId },
      vmToken,
    )
    expect(grant.status).toBe(403)
    expect((await json(grant)).error.message).toContain("'Microsoft.Authorization/roleAssignments/write'")
  })

  it("DELETE returns the deleted assignment (200), then 204", async () => {
    const name = "1a1a1a1a-0000-4000-8000-000000000008"
    const first = await t.arm(ra(SUB, name), admin, { method: "DELETE" })
    expect(first.status).toBe(200)
    expect((await json(first)).name).toBe(name)
    const again = await t.arm(ra(SUB, name), admin, { method: "DELETE" })
    expect(again.status).toBe(204)
    expect(t.emu.world.findRoleAssignment(name)).toBeUndefined()
  })

  it("api-version is checked against the roleAssignments versions", async () => {
    const res = await t.arm(
      `${RG_SCOPE}/providers/Microsoft.Authorization/roleAssignments?api-version=2025-04-01`,
      admin,
    )
    expect(res.status).toBe(400)
    expect((await json(res)).error.code).toBe("InvalidApiVersionParameter")
  })
})

describe("role definitions", () => {
  let t: TestEmulator
  let admin: string
  beforeAll(async () => {
    t = await start()
    admin = await t.adminToken()
  })
  afterAll(() => t.close())
  const RD = "api-version=2022-04-01"

  it("GET Reader by id at subscription scope", async () => {
    const res = await t.arm(`${roleId(READER_ROLE_ID)}?${RD}`, admin)
    expect(res.status).toBe(200)
    expect(await json(res)).toMatchObject({
      id: roleId(READER_ROLE_ID),
      name: READER_ROLE_ID,
      type: "Microsoft.Authorization/roleDefinitions",
      properties: {
        roleName: "Reader",
        type: "BuiltInRole",
        permissions: [{ actions: ["*/read"], notActions: [] }],
        assignableScopes: ["/"],
      },
    })
  })

  it("GET at tenant scope uses the /providers form", async () => {
    const res = await t.arm(
      `/providers/Microsoft.Authorization/roleDefinitions/${OWNER_ROLE_ID}?${RD}`,
      admin,
    )
    expect(res.status).toBe(200)
    expect((await json(res)).id).toBe(`/providers/Microsoft.Authorization/roleDefinitions/${OWNER_ROLE_ID}`)
  })

  it("unknown id → 404 RoleDefinitionDoesNotExist", async () => {
    const res = await t.arm(`${roleId("00000000-0000-4000-8000-000000000000")}?${RD}`, admin)
    expect(res.status).toBe(404)
    expect((await json(res)).error.code).toBe("RoleDefinitionDoesNotExist")
  })

  it("list with $filter=roleName eq 'Reader' → just Reader; unfiltered includes the three built-ins", async () => {
    const filtered = await json(
      await t.arm(
        `${SUB}/providers/Microsoft.Authorization/roleDefinitions?${RD}&$filter=${encodeURIComponent("roleName eq 'Reader'")}`,
        admin,
      ),
    )
    expect(filtered.value.map((d: { name: string }) => d.name)).toEqual([READER_ROLE_ID])
    const all = await json(
      await t.arm(`${SUB}/providers/Microsoft.Authorization/roleDefinitions?${RD}`, admin),
    )
    const names = all.value.map((d: { properties: { roleName: string } }) => d.properties.roleName)
    for (const n of ["Reader", "Contributor", "Owner"]) expect(names).toContain(n)
  })

  it("a caller without access to the subscription cannot list its role definitions", async () => {
    const res = await t.arm(
      `${SUB}/providers/Microsoft.Authorization/roleDefinitions?${RD}`,
      await t.vmToken(),
    )
    expect(res.status).toBe(403)
  })
})
