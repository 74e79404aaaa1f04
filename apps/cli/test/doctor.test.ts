import { AuthorizationFailed, ImdsUnavailable, MultipleIdentities } from "@azmi/core"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { azmi, OID, SUB } from "./harness.js"

describe("azmi doctor", () => {
  it("all checks pass: five ✔ lines, exit 0", async () => {
    const r = await azmi(["doctor"])
    expect(r.code).toBe(0)
    const lines = r.stdout.trimEnd().split("\n")
    expect(lines.map((l) => l.split(":")[0])).toEqual([
      "✔ IMDS reachable",
      "✔ Managed identity present",
      "✔ Token obtainable",
      "✔ ARM reachable",
      "✔ Read access to resource group DevTest",
    ])
    expect(lines[2]).toContain(`oid ${OID}`)
    expect(lines[2]).toContain("aud https://management.azure.com/")
  })

  it("a 403 shows ✖ and the exact grant command, exit 4", async () => {
    const r = await azmi(["doctor"], {
      get: Effect.fail(
        new AuthorizationFailed({
          action: "Microsoft.Resources/subscriptions/resourcegroups/read",
          scope: `/subscriptions/${SUB}/resourcegroups/DevTest`,
          armMessage: "denied",
        }),
      ),
    })
    expect(r.code).toBe(4)
    expect(r.stdout).toContain("✔ ARM reachable")
    expect(r.stdout).toContain("✖ Read access to resource group DevTest")
    expect(r.stdout).toContain(
      `fix: Grant access: azmi role assignment create --assignee-object-id ${OID} --role Reader --scope /subscriptions/${SUB}/resourceGroups/DevTest`,
    )
  })

  it("no IMDS: stops at the first check, exit 3", async () => {
    const r = await azmi(["doctor"], {
      compute: Effect.fail(
        new ImdsUnavailable({ endpoint: "http://127.0.0.1:9", reason: "ConnectionRefused" }),
      ),
    })
    expect(r.code).toBe(3)
    expect(r.stdout.trimEnd().split("\n")[0]).toMatch(/^✖ IMDS reachable: No managed identity endpoint/)
    expect(r.stdout).toContain("fix: Run on an Azure VM")
    expect(r.calls.tokens).toEqual([])
  })

  it("several identities and none chosen: ✖ identity, exit 3", async () => {
    const r = await azmi(["doctor"], { token: Effect.fail(new MultipleIdentities({})) })
    expect(r.code).toBe(3)
    expect(r.stdout).toContain("✖ Managed identity present")
    expect(r.calls.get).toEqual([])
  })

  it("-o json gives the checks as data", async () => {
    const r = await azmi(["doctor", "-o", "json"])
    const checks = JSON.parse(r.stdout)
    expect(checks).toHaveLength(5)
    expect(checks.every((c: { ok: boolean }) => c.ok)).toBe(true)
  })
})
