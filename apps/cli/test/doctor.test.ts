import { AuthorizationFailed, ImdsUnavailable, MultipleIdentities } from "@azmi/core"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { azmi, OID, SUB } from "./harness.js"

describe("azmi doctor", () => {
  it("all checks pass: the host, then five ✔ lines, exit 0", async () => {
    const r = await azmi(["doctor"])
    expect(r.code).toBe(0)
    const lines = r.stdout.trimEnd().split("\n")
    expect(lines[0]).toBe("✔ Host: IMDS at http://169.254.169.254 (no other host's variables are set)")
    expect(lines.slice(1).map((l) => l.split(":")[0])).toEqual([
      "✔ IMDS reachable",
      "✔ Managed identity present",
      "✔ Token obtainable",
      "✔ ARM reachable",
      "✔ Read access to resource group DevTest",
    ])
    expect(lines[3]).toContain(`oid ${OID}`)
    expect(lines[3]).toContain("aud https://management.azure.com/")
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

  it("no IMDS: stops at the first check after the host, exit 3", async () => {
    const r = await azmi(["doctor"], {
      compute: Effect.fail(
        new ImdsUnavailable({ endpoint: "http://127.0.0.1:9", reason: "ConnectionRefused" }),
      ),
    })
    expect(r.code).toBe(3)
    expect(r.stdout.trimEnd().split("\n")[1]).toMatch(/^✖ IMDS reachable: No managed identity endpoint/)
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
    expect(checks).toHaveLength(6)
    expect(checks.every((c: { ok: boolean }) => c.ok)).toBe(true)
  })

  it("a host without IMDS: the host line names the variables, no IMDS check, read access skipped without a group", async () => {
    const r = await azmi(["doctor"], {
      host: {
        name: "app-service",
        displayName: "App Service",
        decidedBy: ["IDENTITY_ENDPOINT", "IDENTITY_HEADER"],
        endpoint: "http://127.0.0.1:41741/msi/token",
        hasImds: false,
      },
    })
    expect(r.code).toBe(0)
    expect(r.calls.computeReads).toBe(0)
    expect(r.calls.get).toEqual([])
    expect(r.stdout.trimEnd().split("\n")).toEqual([
      "✔ Host: App Service at http://127.0.0.1:41741/msi/token, decided by IDENTITY_ENDPOINT, IDENTITY_HEADER",
      expect.stringMatching(/^✔ Managed identity present: /),
      expect.stringMatching(/^✔ Token obtainable: /),
      "- Read access to a resource group: not checked: App Service has no instance metadata to name one; pass --subscription and --name",
    ])
    const named = await azmi(["doctor", "--subscription", SUB, "--name", "DevTest"], {
      host: { name: "app-service", displayName: "App Service", hasImds: false },
    })
    expect(named.calls.get).toEqual([[SUB, "DevTest"]])
    expect(named.stdout).toContain("✔ Read access to resource group DevTest")
  })

  it("a failed host check (Arc's key directory) stops the report with its fix and its exit code", async () => {
    const r = await azmi(["doctor"], {
      host: {
        name: "arc",
        displayName: "Azure Arc",
        hasImds: false,
        checks: Effect.succeed([
          {
            check: "Azure Arc key directory readable",
            ok: false,
            detail: "/var/opt/azcmagent/tokens: EACCES",
            fix: "join the himds group",
            category: "CredentialUnavailable",
          },
        ]),
      },
    })
    expect(r.code).toBe(3)
    expect(r.calls.tokens).toEqual([])
    expect(r.stdout).toContain(
      "✖ Azure Arc key directory readable: /var/opt/azcmagent/tokens: EACCES\n    fix: join the himds group",
    )
  })
})
