import { AuthorizationFailed, ResourceGroupNotFound } from "@azmi/core"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { azmi, OID, SUB } from "./harness.js"

const denied = new AuthorizationFailed({
  action: "Microsoft.Resources/subscriptions/resourcegroups/read",
  scope: `/subscriptions/${SUB}/resourcegroups/DevTest`,
  principalId: OID,
  armMessage: "The client ... does not have authorization",
  requestId: "r-1",
})

describe("azmi group", () => {
  it("show defaults to the VM's own subscription and group (the seed's request)", async () => {
    const r = await azmi(["group", "show"])
    expect(r.code).toBe(0)
    expect(r.calls.get).toEqual([[SUB, "DevTest"]])
    expect(JSON.parse(r.stdout)).toEqual({
      id: `/subscriptions/${SUB}/resourceGroups/DevTest`,
      name: "DevTest",
      type: "Microsoft.Resources/resourceGroups",
      location: "westus",
      tags: { env: "dev" },
      properties: { provisioningState: "Succeeded" },
    })
  })

  it("show with both names given does not read instance metadata", async () => {
    const r = await azmi(["group", "show", "-g", "Prod", "--subscription", "s-2"])
    expect(r.calls.get).toEqual([["s-2", "Prod"]])
    expect(r.calls.computeReads).toBe(0)
    expect((await azmi(["group", "show", "-n", "X"])).calls.get).toEqual([[SUB, "X"]])
    expect((await azmi(["group", "show", "--resource-group", "Y"])).calls.get).toEqual([[SUB, "Y"]])
  })

  it("a 403 prints one ERROR line and the exact grant command as HINT, exit 4, no stack", async () => {
    const r = await azmi(["group", "show"], { get: Effect.fail(denied) })
    expect(r.code).toBe(4)
    expect(r.stdout).toBe("")
    const lines = r.stderr.trimEnd().split("\n")
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(/^ERROR: Authorization failed: principal 11111111-/)
    expect(lines[1]).toBe(
      `HINT: An Owner or User Access Administrator of the scope must run: azmi role assignment create --assignee-object-id ${OID} --role Reader --scope /subscriptions/${SUB}/resourcegroups/DevTest`,
    )
  })

  it("--debug adds the cause with its trace", async () => {
    const r = await azmi(["group", "show", "--debug"], { get: Effect.fail(denied) })
    expect(r.code).toBe(4)
    expect(r.stderr.split("\n").length).toBeGreaterThan(3)
    expect(r.stderr).toContain("AuthorizationFailed")
  })

  it("not found exits 5", async () => {
    const r = await azmi(["group", "show", "-g", "Nope"], {
      get: Effect.fail(new ResourceGroupNotFound({ subscriptionId: SUB, resourceGroupName: "Nope" })),
    })
    expect(r.code).toBe(5)
    expect(r.stderr).toMatch(/^ERROR: Resource group 'Nope' could not be found/)
  })

  it("exists prints true or false", async () => {
    const yes = await azmi(["group", "exists", "-g", "devtest"])
    expect(yes.stdout).toBe("true\n")
    expect(yes.code).toBe(0)
    const no = await azmi(["group", "exists", "-g", "Other", "-o", "tsv"])
    expect(no.stdout).toBe("false\n")
  })

  it("list passes --tag and --top to the core and prints every group", async () => {
    const r = await azmi(["group", "list", "--tag", "env=dev", "--top", "5"])
    expect(r.calls.list).toEqual([[SUB, { tag: { name: "env", value: "dev" }, top: 5 }]])
    expect(JSON.parse(r.stdout).map((g: { name: string }) => g.name)).toEqual(["DevTest", "Prod"])
    expect((await azmi(["group", "list", "--tag", "env"])).calls.list[0]?.[1]).toEqual({
      tag: { name: "env" },
    })
    const bad = await azmi(["group", "list", "--top", "many"])
    expect(bad.code).toBe(2)
    expect(bad.calls.list).toEqual([])
  })

  it("list -o table uses az's Name/Location/Status columns", async () => {
    const r = await azmi(["group", "list", "-o", "table"])
    expect(r.stdout).toBe(
      [
        "Name     Location  Status",
        "-------  --------  ---------",
        "DevTest  westus    Succeeded",
        "Prod     eastus    Succeeded",
        "",
      ].join("\n"),
    )
  })

  it("list -o tsv, yaml, none", async () => {
    expect((await azmi(["group", "list", "-o", "tsv"])).stdout).toBe(
      `/subscriptions/${SUB}/resourceGroups/DevTest\tDevTest\tMicrosoft.Resources/resourceGroups\twestus\n` +
        `/subscriptions/${SUB}/resourceGroups/Prod\tProd\tMicrosoft.Resources/resourceGroups\teastus\n`,
    )
    const yaml = (await azmi(["group", "show", "-o", "yaml"])).stdout
    expect(yaml).toContain("name: DevTest\n")
    expect(yaml).toContain("  provisioningState: Succeeded\n")
    const none = await azmi(["group", "show", "-o", "none"])
    expect(none.stdout).toBe("")
    expect(none.code).toBe(0)
  })

  it("--query applies JMESPath before rendering (and replaces the table view)", async () => {
    expect((await azmi(["group", "list", "--query", "[].name"])).stdout).toBe(
      '[\n  "DevTest",\n  "Prod"\n]\n',
    )
    expect((await azmi(["group", "list", "--query", "[?location=='eastus'].name", "-o", "tsv"])).stdout).toBe(
      "Prod\n",
    )
    expect((await azmi(["group", "show", "--query", "tags.env", "-o", "tsv"])).stdout).toBe("dev\n")
    expect((await azmi(["group", "list", "--query", "[].{n:name}", "-o", "table"])).stdout).toBe(
      "N\n-------\nDevTest\nProd\n",
    )
  })

  it("an invalid --query is a usage error caught before any request", async () => {
    const r = await azmi(["group", "list", "--query", "[?"])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/^ERROR: Invalid --query/)
    expect(r.calls.list).toEqual([])
    expect(r.calls.computeReads).toBe(0)
  })

  it("valid JMESPath whose functions need a list is accepted (checked by the parser, not run on {})", async () => {
    const sorted = await azmi(["group", "list", "--query", "sort_by(@, &location)[].name", "-o", "tsv"])
    expect([sorted.code, sorted.stdout]).toEqual([0, "Prod\nDevTest\n"])
    const count = await azmi(["group", "list", "--query", "length([].name)", "-o", "tsv"])
    expect([count.code, count.stdout]).toEqual([0, "2\n"])
    const piped = await azmi(["group", "list", "--query", "[].location | sort(@)", "-o", "tsv"])
    expect([piped.code, piped.stdout]).toEqual([0, "eastus\nwestus\n"])
  })

  it("an unknown JMESPath function is refused before any request", async () => {
    const r = await azmi(["group", "list", "--query", "nope(@)"])
    expect(r.code).toBe(2)
    expect(r.stderr).toBe('ERROR: Invalid --query "nope(@)": unknown function nope()\n')
    expect(r.calls.list).toEqual([])
    expect(r.calls.computeReads).toBe(0)
  })

  it("-o jsonc colours on a TTY unless NO_COLOR is set", async () => {
    const tty = await azmi(["group", "show", "-o", "jsonc"], {}, { stdoutTTY: true })
    expect(tty.stdout).toContain("\x1b[")
    expect(
      JSON.parse(tty.stdout.replace(new RegExp(`${String.fromCharCode(27)}\\[\\d+m`, "g"), "")),
    ).toHaveProperty("name", "DevTest")
    const noColor = await azmi(
      ["group", "show", "-o", "jsonc"],
      {},
      { stdoutTTY: true, env: { NO_COLOR: "1" } },
    )
    expect(noColor.stdout).not.toContain("\x1b[")
    const pipe = await azmi(["group", "show", "-o", "jsonc"])
    expect(pipe.stdout).not.toContain("\x1b[")
  })

  it("an unknown -o value is a usage error", async () => {
    const r = await azmi(["group", "show", "-o", "xml"])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("Allowed choices are json, jsonc, table, tsv, yaml, none")
  })
})
