import { IdentityNotFound, IdentitySelector, MultipleIdentities } from "@azmi/core"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { azmi, fakeJwt, OID, SIGNATURE } from "./harness.js"

describe("azmi token", () => {
  it("prints the token like az account get-access-token", async () => {
    const r = await azmi(["token"])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(Object.keys(out).sort()).toEqual([
      "accessToken",
      "expiresOn",
      "expires_on",
      "resource",
      "tokenType",
    ])
    expect(out.accessToken).toBe(fakeJwt())
    expect(out.expires_on).toBe(1_900_000_000)
    expect(out.expiresOn).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/)
    expect(out.tokenType).toBe("Bearer")
    expect(r.calls.tokens).toEqual(["https://management.azure.com/"])
    expect(r.stderr).toBe("")
  })

  it("--decode prints header and claims, never the token or its signature", async () => {
    const r = await azmi(["token", "--decode"])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out.header).toEqual({ typ: "JWT", alg: "RS256", kid: "k1" })
    expect(out.claims.oid).toBe(OID)
    expect(r.stdout).not.toContain(SIGNATURE)
    expect(r.stdout).not.toContain(fakeJwt().split(".")[1])
  })

  it("passes --resource or --scope through and refuses both at once", async () => {
    expect((await azmi(["token", "--resource", "https://vault.azure.net"])).calls.tokens).toEqual([
      "https://vault.azure.net",
    ])
    expect((await azmi(["token", "--scope", "https://storage.azure.com/.default"])).calls.tokens).toEqual([
      "https://storage.azure.com/.default",
    ])
    const both = await azmi(["token", "--resource", "a", "--scope", "b"])
    expect(both.code).toBe(2)
    expect(both.calls.tokens).toEqual([])
  })

  it("AZMI_ARM_AUDIENCE changes the default resource", async () => {
    const r = await azmi(
      ["token"],
      {},
      { env: { AZMI_ARM_AUDIENCE: "https://management.usgovcloudapi.net/" } },
    )
    expect(r.calls.tokens).toEqual(["https://management.usgovcloudapi.net/"])
    // Blank is unset, as in the core.
    const blank = await azmi(["token"], {}, { env: { AZMI_ARM_AUDIENCE: " " } })
    expect(blank.calls.tokens).toEqual(["https://management.azure.com/"])
  })

  it("hands the identity flags to the core as a selector; two at once is a usage error", async () => {
    expect((await azmi(["token", "--client-id", "c1"])).options[0]?.identity).toEqual(
      IdentitySelector.ClientId({ clientId: "c1" }),
    )
    expect((await azmi(["token", "--object-id", "o1"])).options[0]?.identity).toEqual(
      IdentitySelector.ObjectId({ objectId: "o1" }),
    )
    expect((await azmi(["token", "--mi-res-id", "/x"])).options[0]?.identity).toEqual(
      IdentitySelector.ResourceId({ resourceId: "/x" }),
    )
    expect((await azmi(["token"])).options[0]?.identity).toBeUndefined()
    const two = await azmi(["token", "--client-id", "a", "--object-id", "b"])
    expect(two.code).toBe(2)
    expect(two.stderr).toMatch(/cannot be used with/)
  })

  it("a missing identity exits 3 with the core's message and hint", async () => {
    const r = await azmi(["token"], {
      token: Effect.fail(new IdentityNotFound({ selector: "system-assigned" })),
    })
    expect(r.code).toBe(3)
    expect(r.stdout).toBe("")
    expect(r.stderr).toBe(
      "ERROR: Identity not found: the system-assigned identity is not assigned to this resource.\n" +
        "HINT: Enable the system-assigned identity on the VM, or set AZURE_CLIENT_ID to a user-assigned identity's client id. Or pass --client-id, --object-id or --mi-res-id for a user-assigned one.\n",
    )
  })

  it("identity hints name only options the command has: token and doctor get the flags, group and role do not", async () => {
    const several = {
      token: Effect.fail(new MultipleIdentities({})),
      get: Effect.fail(new MultipleIdentities({})),
    }
    const core = "HINT: Name the identity to use: set AZURE_CLIENT_ID to its client id."
    const token = await azmi(["token"], several)
    expect([token.code, token.stderr.split("\n")[1]]).toEqual([
      3,
      `${core} Or pass --client-id, --object-id or --mi-res-id.`,
    ])
    const doctor = await azmi(["doctor"], several)
    expect(doctor.stdout).toContain(`fix: ${core.slice(6)} Or pass --client-id, --object-id or --mi-res-id.`)
    for (const argv of [
      ["group", "show"],
      ["group", "list"],
      ["role", "assignment", "list"],
    ]) {
      const fake =
        argv[0] === "group" && argv[1] === "show"
          ? several
          : { compute: Effect.fail(new MultipleIdentities({})) }
      const r = await azmi(argv, fake)
      expect([r.code, r.stderr.split("\n")[1]], argv.join(" ")).toEqual([3, core])
      expect(r.stderr).not.toContain("--client-id")
    }
    const missing = await azmi(["group", "show"], {
      get: Effect.fail(new IdentityNotFound({ selector: "system-assigned" })),
    })
    expect(missing.stderr).not.toContain("--client-id")
  })

  it("--decode of something that is not a JWT is a usage error (exit 2), and the value is not echoed", async () => {
    const r = await azmi(["token", "--decode"], {
      token: Effect.succeed({
        token: (await import("effect")).Redacted.make("opaque-secret-value"),
        tokenType: "Bearer",
        resource: "r",
        expiresOn: 0,
        refreshOn: 0,
      }),
    })
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(
      "ERROR: The token for r is not a JWT (an opaque or encrypted token), so --decode has nothing to show; run without --decode to print the token.\n",
    )
    expect(r.stderr + r.stdout).not.toContain("opaque-secret-value")
  })
})
