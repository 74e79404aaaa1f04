/**
 * The seed's flow through the built CLI: `azmi group show` is refused (403 + the grant command), the
 * admin grants Reader with `azmi role assignment create`, then `azmi group show` prints the group —
 * plus every output format, `--query`, list/exists, role assignment list/delete and each ARM exit code.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { adminEnv, azmi, type CliEnv, expectNoLeaks, startCliEnv } from "./cli-support.js"

let cli: CliEnv
let sub: string
let scope: string
let vmOid: string
beforeAll(async () => {
  cli = await startCliEnv()
  sub = cli.emu.subscriptionId
  scope = `/subscriptions/${sub}/resourceGroups/DevTest`
  vmOid = cli.emu.vm.systemAssigned?.principalId ?? ""
})
afterAll(async () => {
  expectNoLeaks(cli.emu.admin.clientSecret)
  await cli.close()
})

const asAdmin = () => ({ env: adminEnv(cli.emu) })
/** The admin grants the VM's identity `role` at `at`. */
const grant = (role: string, at: string) =>
  azmi(
    cli,
    ["role", "assignment", "create", "--assignee-object-id", vmOid, "--role", role, "--scope", at],
    asAdmin(),
  )

describe("azmi group + role assignment (e2e, in order)", () => {
  it("before any grant: 403 AuthorizationFailed, the exact fix as HINT, exit 4", async () => {
    const r = await azmi(cli, ["group", "show", "-g", "DevTest", "--subscription", sub])
    expect(r.code).toBe(4)
    expect(r.stdout).toBe("")
    const [error, hint, ...rest] = r.stderr.trimEnd().split("\n")
    expect(rest).toEqual([])
    expect(error).toMatch(/^ERROR: Authorization failed: principal 5a8f3c2e-/)
    expect(hint).toMatch(
      new RegExp(
        `^HINT: An Owner or User Access Administrator of the scope must run: azmi role assignment create --assignee-object-id ${vmOid} --role Reader --scope /subscriptions/${sub}/resourcegroups/DevTest$`,
        "i",
      ),
    )
  })

  it("before any grant, group exists (a HEAD: ARM's 403 has no body) names the action and the fix too", async () => {
    const r = await azmi(cli, ["group", "exists", "-g", "DevTest", "--subscription", sub])
    expect(r.code).toBe(4)
    expect(r.stdout).toBe("")
    const [error, hint, ...rest] = r.stderr.trimEnd().split("\n")
    expect(rest).toEqual([])
    expect(error).toBe(
      `ERROR: Authorization failed: principal ${vmOid} may not perform 'Microsoft.Resources/subscriptions/resourceGroups/read' over scope '/subscriptions/${sub}/resourceGroups/DevTest'.`,
    )
    expect(hint).toBe(
      `HINT: An Owner or User Access Administrator of the scope must run: azmi role assignment create --assignee-object-id ${vmOid} --role Reader --scope /subscriptions/${sub}/resourceGroups/DevTest`,
    )
  })

  it("the admin grants Reader with azmi role assignment create", async () => {
    const r = await azmi(
      cli,
      ["role", "assignment", "create", "--assignee-object-id", vmOid, "--role", "Reader", "--scope", scope],
      asAdmin(),
    )
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    const ra = JSON.parse(r.stdout)
    expect(ra.properties.principalId).toBe(vmOid)
    expect(ra.properties.roleDefinitionId).toMatch(/acdd72a7-3385-48ef-bd42-f606fba81ae7$/)
  })

  it("now group show prints the group, as the seed's curl did", async () => {
    const r = await azmi(cli, ["group", "show", "-g", "DevTest", "--subscription", sub])
    expect(r.code).toBe(0)
    const g = JSON.parse(r.stdout)
    expect(g).toMatchObject({
      id: scope,
      name: "DevTest",
      location: "westus",
      properties: { provisioningState: "Succeeded" },
    })
  })

  it("defaults subscription and group to the VM's own (instance metadata)", async () => {
    const r = await azmi(cli, ["group", "show", "--query", "name", "-o", "tsv"])
    expect(r.stderr).toBe("")
    expect(r.stdout).toBe("DevTest\n")
  })

  it("renders every output format", async () => {
    const args = ["group", "show", "-g", "DevTest", "--subscription", sub]
    const [jsonc, table, tsv, yaml, none] = await Promise.all(
      ["jsonc", "table", "tsv", "yaml", "none"].map((o) => azmi(cli, [...args, "-o", o])),
    )
    expect(JSON.parse(jsonc?.stdout ?? "").name).toBe("DevTest") // not a TTY: no colour codes
    expect(table?.stdout).toBe(
      "Name     Location  Status\n-------  --------  ---------\nDevTest  westus    Succeeded\n",
    )
    expect(tsv?.stdout.split("\t").slice(0, 2)).toEqual([scope, "DevTest"])
    expect(yaml?.stdout).toContain("name: DevTest\n")
    expect(none?.stdout).toBe("")
    for (const r of [jsonc, table, tsv, yaml, none]) expect(r?.code).toBe(0)
  })

  it("--query is JMESPath", async () => {
    const r = await azmi(cli, [
      "group",
      "show",
      "-g",
      "DevTest",
      "--subscription",
      sub,
      "--query",
      "{n: name, env: tags.env}",
    ])
    expect(JSON.parse(r.stdout)).toEqual({ n: "DevTest", env: "dev" })
    const bad = await azmi(cli, ["group", "show", "--query", "[?"])
    expect(bad.code).toBe(2)
  })

  it("exists prints true / false", async () => {
    const yes = await azmi(cli, ["group", "exists", "-g", "devtest", "--subscription", sub])
    expect([yes.code, yes.stdout]).toEqual([0, "true\n"])
  })

  it("role assignment list shows the new grant; -o table names the role", async () => {
    const r = await azmi(
      cli,
      ["role", "assignment", "list", "--scope", scope, "--assignee-object-id", vmOid, "-o", "table"],
      asAdmin(),
    )
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(new RegExp(`${vmOid}\\s+Reader\\s+${scope}`, "i"))
  })

  it("a missing group (with subscription-wide read) exits 5; exists says false", async () => {
    expect((await grant("Reader", `/subscriptions/${sub}`)).code).toBe(0)
    const r = await azmi(cli, ["group", "show", "-g", "Nope", "--subscription", sub])
    expect(r.code).toBe(5)
    expect(r.stderr).toMatch(/^ERROR: Resource group 'Nope' could not be found/)
    const no = await azmi(cli, ["group", "exists", "-g", "Nope", "--subscription", sub])
    expect([no.code, no.stdout]).toEqual([0, "false\n"])
  })

  it("group list, with --tag and --top", async () => {
    const all = await azmi(cli, ["group", "list", "--subscription", sub, "--query", "[].name"])
    expect(JSON.parse(all.stdout)).toContain("DevTest")
    const tagged = await azmi(cli, [
      "group",
      "list",
      "--subscription",
      sub,
      "--tag",
      "env=dev",
      "--top",
      "1",
      "-o",
      "tsv",
      "--query",
      "[].name",
    ])
    expect(tagged.stdout).toBe("DevTest\n")
  })

  it("an invalid group name is a usage error (2) and no ARM request is made", async () => {
    cli.emu.requests.reset()
    const r = await azmi(cli, ["group", "show", "-g", "bad/name", "--subscription", sub])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/^ERROR: Invalid /)
    expect(cli.emu.requests.count({ target: "arm" })).toBe(0)
  })

  it("ARM throttling that outlasts the retries exits 6", async () => {
    cli.emu.faults.inject({ target: "arm", status: 429, retryAfter: 1, count: Number.POSITIVE_INFINITY })
    try {
      const r = await azmi(cli, ["group", "show", "-g", "DevTest", "--subscription", sub, "--timeout", "3"])
      expect(r.code).toBe(6)
    } finally {
      cli.emu.faults.clear()
    }
  })

  it("ARM unreachable exits 6", async () => {
    const r = await azmi(cli, [
      "group",
      "show",
      "-g",
      "DevTest",
      "--subscription",
      sub,
      "--arm-endpoint",
      "https://127.0.0.1:9",
      "--timeout",
      "3",
    ])
    expect(r.code).toBe(6)
    expect(r.stderr).toMatch(/^ERROR: /)
  })

  it("a bad client secret exits 4", async () => {
    const r = await azmi(cli, ["role", "assignment", "list", "--scope", scope], {
      env: { ...adminEnv(cli.emu), AZURE_CLIENT_SECRET: "wrong" },
    })
    expect(r.code).toBe(4)
    expect(r.stderr).not.toContain("wrong")
  })

  it("delete --ids with one bad id deletes nothing (exit 2); a later ARM failure prints what was deleted and its own code", async () => {
    const created = await grant("Contributor", scope)
    const id = JSON.parse(created.stdout).id as string
    const listed = () =>
      azmi(cli, ["role", "assignment", "list", "--scope", scope, "--query", "[].id", "-o", "tsv"], asAdmin())
    const invalid = await azmi(cli, ["role", "assignment", "delete", "--ids", id, "garbage"], asAdmin())
    expect(invalid.code).toBe(2)
    expect((await listed()).stdout.split("\n")).toContain(id) // nothing was deleted
    expect(invalid.stderr).toMatch(/^ERROR: Invalid --ids \(item 2 of 2\)/)

    const elsewhere = `/subscriptions/11111111-1111-4111-8111-111111111111/providers/Microsoft.Authorization/roleAssignments/22222222-2222-4222-8222-222222222222`
    const partial = await azmi(
      cli,
      ["role", "assignment", "delete", "--ids", id, elsewhere, "--query", "[].id", "-o", "tsv"],
      asAdmin(),
    )
    expect(partial.code).toBe(5) // the subscription of the second id does not exist
    expect(partial.stdout).toBe(`${id}\n`)
    expect(partial.stderr).toMatch(
      /^ERROR: The subscription '11111111-1111-4111-8111-111111111111' could not be found/,
    )
    expect(partial.stderr).toContain(
      "NOTE: Stopped at item 2 of 2: the 1 before it were done (stdout lists them).",
    )
    expect((await listed()).stdout.split("\n")).not.toContain(id)
  })

  it("role assignment delete removes the grant; group show is refused again", async () => {
    const del = await azmi(
      cli,
      ["role", "assignment", "delete", "--assignee-object-id", vmOid, "--scope", scope, "--role", "Reader"],
      asAdmin(),
    )
    expect(del.code).toBe(0)
    expect(JSON.parse(del.stdout)).toHaveLength(1)
    const delSub = await azmi(
      cli,
      ["role", "assignment", "delete", "--assignee-object-id", vmOid, "--scope", `/subscriptions/${sub}`],
      asAdmin(),
    )
    expect(JSON.parse(delSub.stdout)).toHaveLength(1)
    const r = await azmi(cli, ["group", "show", "-g", "DevTest", "--subscription", sub])
    expect(r.code).toBe(4)
  })

  it("--debug shows ARM request lines and no token", async () => {
    const r = await azmi(cli, ["group", "show", "-g", "DevTest", "--subscription", sub, "--debug"])
    expect(r.stderr).toMatch(/DEBUG: ARM GET/)
    expect(r.stderr).not.toMatch(/eyJ[\w-]+\.eyJ/)
  })
})
