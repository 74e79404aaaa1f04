import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  AuthorizationFailed,
  AzmiConfig,
  AzureHostLive,
  ImdsUnavailable,
  MultipleIdentities,
} from "@azmi/core"
import { ConfigProvider, Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
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

  describe("on AKS (workload identity): the host line, then the federated token's checks (the core's, run once by AzureHost)", () => {
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
    /** The host the core detects from the webhook's variables (its own checks included). */
    const hostOf = (path: string) =>
      AzureHostLive.make(
        Effect.runSync(
          AzmiConfig.make().pipe(
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env(path))))),
          ),
        ),
      )

    /** `azmi doctor` in a process with the webhook's variables, on the host detected from them. */
    const onPod = (path: string) => azmi(["doctor"], { host: hostOf(path) }, { env: env(path) })

    it("the host line, then file readable, issuer and subject shown, not expired — each once — then the usual path", async () => {
      const path = tokenFile("fresh", Math.floor(Date.now() / 1000) + 3000)
      const r = await onPod(path)
      expect(r.code).toBe(0)
      const lines = r.stdout.trimEnd().split("\n")
      expect(lines.shift()).toBe(
        "✔ Host: workload identity at https://login.microsoftonline.com, decided by AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID, AZURE_CLIENT_ID",
      )
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
      const r = await onPod(tokenFile("stale", Math.floor(Date.now() / 1000) - 600))
      expect(r.code).toBe(4)
      expect(r.stdout).toContain("✖ Federated token not expired")
      expect(r.stdout).toMatch(/fix: The file is stale/)
      expect(r.calls.tokens).toEqual([])
    })

    it("no file: ✖ readable, exit 3", async () => {
      const r = await onPod(join(dir, "absent"))
      expect(r.code).toBe(3)
      expect(r.stdout.split("\n")[1]).toMatch(/^✖ Federated token file readable: Cannot read/)
      expect(r.calls.tokens).toEqual([])
    })
  })
})
