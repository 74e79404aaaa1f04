import { describe, expect, it } from "vitest"
import { azmi, OID, readerAssignment, SUB } from "./harness.js"

const scope = `/subscriptions/${SUB}/resourceGroups/DevTest`

describe("azmi role assignment", () => {
  it("create passes assignee, role and scope to the core and prints the assignment", async () => {
    const r = await azmi([
      "role",
      "assignment",
      "create",
      "--assignee-object-id",
      OID,
      "--role",
      "Reader",
      "--scope",
      scope,
    ])
    expect(r.code).toBe(0)
    expect(r.calls.create).toEqual([{ scope, principalId: OID, role: "Reader" }])
    expect(JSON.parse(r.stdout).properties.principalId).toBe(OID)
    expect(r.calls.computeReads).toBe(0)
  })

  it("create defaults the scope to the VM's resource group", async () => {
    const r = await azmi(["role", "assignment", "create", "--assignee-object-id", OID, "--role", "Reader"])
    expect(r.calls.create).toEqual([{ scope, principalId: OID, role: "Reader" }])
  })

  it("create without --role is a usage error", async () => {
    const r = await azmi(["role", "assignment", "create", "--assignee-object-id", OID])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("--role")
    expect(r.calls.create).toEqual([])
  })

  it("list defaults to the subscription, filters by assignee, and -o table names the role", async () => {
    const r = await azmi(["role", "assignment", "list", "--assignee-object-id", OID, "-o", "table"])
    expect(r.calls.listAssignments).toEqual([{ scope: `/subscriptions/${SUB}`, principalId: OID }])
    expect(r.stdout.split("\n")[0]).toMatch(/^Principal\s+Role\s+Scope$/)
    expect(r.stdout).toContain(`${OID}  Reader  ${scope}`)
  })

  it("delete by --ids, by --name + --scope, and by assignee + role at a scope", async () => {
    const byId = await azmi(["role", "assignment", "delete", "--ids", readerAssignment.id])
    expect(byId.calls.deleted).toEqual([{ id: readerAssignment.id }])
    expect(JSON.parse(byId.stdout)).toHaveLength(1)
    const byName = await azmi(["role", "assignment", "delete", "--name", "a1", "--scope", scope])
    expect(byName.calls.deleted).toEqual([{ scope, name: "a1" }])
    const byAssignee = await azmi([
      "role",
      "assignment",
      "delete",
      "--assignee-object-id",
      OID,
      "--role",
      "Reader",
      "--scope",
      scope,
    ])
    expect(byAssignee.calls.deleted).toEqual([{ id: readerAssignment.id }])
    const otherRole = await azmi([
      "role",
      "assignment",
      "delete",
      "--assignee-object-id",
      OID,
      "--role",
      "Owner",
      "--scope",
      scope,
    ])
    expect(otherRole.calls.deleted).toEqual([])
    expect(JSON.parse(otherRole.stdout)).toEqual([])
  })

  it("delete with nothing to name is a usage error", async () => {
    const r = await azmi(["role", "assignment", "delete", "--role", "Reader"])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/^ERROR: Name what to delete/)
    expect(r.calls.deleted).toEqual([])
  })
})
