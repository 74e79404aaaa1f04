import { AuthorizationFailed, RoleAssignment } from "@azmi/core"
import { Effect, Option } from "effect"
import { describe, expect, it } from "vitest"
import { azmi, OID, readerAssignment, SUB } from "./harness.js"

const scope = `/subscriptions/${SUB}/resourceGroups/DevTest`
const idOf = (name: string) => `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}`
const guid = (n: number) => `00000000-0000-4000-8000-00000000000${n}`
const assignment = (n: number) =>
  new RoleAssignment({
    ...readerAssignment,
    id: idOf(guid(n)),
    name: guid(n),
  })
const denied = new AuthorizationFailed({
  action: "Microsoft.Authorization/roleAssignments/delete",
  scope,
  armMessage: "denied",
})

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
    const name = readerAssignment.name
    const byName = await azmi(["role", "assignment", "delete", "--name", name, "--scope", scope])
    expect(byName.calls.deleted).toEqual([{ scope, name }])
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

  it("delete --ids checks every id before deleting any: <valid> garbage deletes nothing and exits 2", async () => {
    const r = await azmi(["role", "assignment", "delete", "--ids", idOf(guid(1)), "garbage", idOf(guid(3))])
    expect(r.code).toBe(2)
    expect(r.calls.deleted).toEqual([])
    expect(r.stdout).toBe("")
    expect(r.stderr).toMatch(/^ERROR: Invalid --ids \(item 2 of 3\): must be a role assignment id/)
    const bad = await azmi(["role", "assignment", "delete", "--name", "not-a-guid", "--scope", scope])
    expect([bad.code, bad.calls.deleted]).toEqual([2, []])
  })

  it("a delete that fails at ARM after others succeeded prints what was deleted and exits with the failure's code", async () => {
    const ids = [1, 2, 3, 4].map((n) => idOf(guid(n)))
    const r = await azmi(
      ["role", "assignment", "delete", "--ids", ...ids, "-o", "tsv", "--query", "[].name"],
      {
        deleteOutcome: (n) => (n < 2 ? Effect.succeed(Option.some(assignment(n + 1))) : Effect.fail(denied)),
      },
    )
    expect(r.calls.deleted).toEqual(ids.slice(0, 3).map((id) => ({ id })))
    expect(r.code).toBe(4)
    expect(r.stdout).toBe(`${guid(1)}\n${guid(2)}\n`)
    const lines = r.stderr.trimEnd().split("\n")
    expect(lines[0]).toMatch(/^ERROR: Authorization failed: the caller may not perform/)
    expect(lines.at(-1)).toBe(
      "NOTE: Stopped at item 3 of 4: the 2 before it were done (stdout lists them); the 1 after it were not attempted.",
    )
  })

  it("by assignee: the assignments found are deleted in turn; a failure on the first is a plain failure", async () => {
    const found = [assignment(1), assignment(2)]
    const args = ["role", "assignment", "delete", "--assignee-object-id", OID, "--scope", scope]
    const partial = await azmi(args, {
      assignments: found,
      deleteOutcome: (n) =>
        n === 0 ? Effect.succeed(Option.some(found[0] as RoleAssignment)) : Effect.fail(denied),
    })
    expect(partial.code).toBe(4)
    expect(JSON.parse(partial.stdout)).toHaveLength(1)
    expect(partial.stderr).toContain(
      "NOTE: Stopped at item 2 of 2: the 1 before it were done (stdout lists them).",
    )
    const first = await azmi(args, { assignments: found, deleteOutcome: () => Effect.fail(denied) })
    expect([first.code, first.stdout, first.calls.deleted.length]).toEqual([4, "", 1])
    expect(first.stderr).not.toContain("NOTE")
  })

  it("delete with nothing to name is a usage error", async () => {
    const r = await azmi(["role", "assignment", "delete", "--role", "Reader"])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/^ERROR: Name what to delete/)
    expect(r.calls.deleted).toEqual([])
  })
})
