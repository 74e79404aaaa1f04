import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { AuthorizationFailed, ImdsUnavailable, MultipleIdentities } from "@azmi/core"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
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

  describe("on AKS (workload identity): the federated token's checks first", () => {
    const dir = mkdtempSync(join(tmpdir(), "azmi-doctor-wi-"))
    afterAll(() => rmSync(dir, { recursive: true, force: true }))
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url")
    const issuer = "https://oidc.prod-aks.azure.com/0b1c2d3e/"
    const tokenFile = (name: string, exp: number) => {
      const path = join(dir, name)
      writeFileSync(
        path,
        `${b64({ alg: "RS256" })}.${b64({ iss: issuer, sub: "system:serviceaccount:default:api", aud: ["api://AzureADTokenExchange"], exp })}.c2ln`,
      )
      return path
    }
    const env = (path: string) => ({
      AZURE_FEDERATED_TOKEN_FILE: path,
      AZURE_TENANT_ID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
      AZURE_CLIENT_ID: "a6e35b7f-9c0e-4f1a-8b3c-4d5e6f7a8b3e",
      AZURE_AUTHORITY_HOST: "https://login.microsoftonline.com/",
    })

    it("file readable, issuer and subject shown, not expired — then the usual path", async () => {
      const path = tokenFile("fresh", Math.floor(Date.now() / 1000) + 3000)
      const r = await azmi(["doctor"], {}, { env: env(path) })
      expect(r.code).toBe(0)
      const lines = r.stdout.trimEnd().split("\n")
      expect(lines.map((l) => l.split(":")[0])).toEqual([
        "✔ Federated token file readable",
        "✔ Federated token issuer and subject",
        "✔ Federated token not expired",
        "✔ IMDS reachable",
        "✔ Managed identity present",
        "✔ Token obtainable",
        "✔ ARM reachable",
        "✔ Read access to resource group DevTest",
      ])
      expect(lines[0]).toBe(`✔ Federated token file readable: ${path} (AZURE_FEDERATED_TOKEN_FILE)`)
      expect(lines[1]).toContain(
        `iss ${issuer}, sub system:serviceaccount:default:api, aud api://AzureADTokenExchange`,
      )
      expect(lines[2]).toMatch(/\(in (49|50) min\)$/)
    })

    it("a stale file: ✖ not expired with the fix, exit 4, and no token asked for", async () => {
      const r = await azmi(
        ["doctor"],
        {},
        { env: env(tokenFile("stale", Math.floor(Date.now() / 1000) - 600)) },
      )
      expect(r.code).toBe(4)
      expect(r.stdout).toContain("✖ Federated token not expired")
      expect(r.stdout).toMatch(/fix: The file is stale/)
      expect(r.calls.tokens).toEqual([])
    })

    it("no file: ✖ readable, exit 3", async () => {
      const r = await azmi(["doctor"], {}, { env: env(join(dir, "absent")) })
      expect(r.code).toBe(3)
      expect(r.stdout.split("\n")[0]).toMatch(/^✖ Federated token file readable: Cannot read/)
    })
  })
})
