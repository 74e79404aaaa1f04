/**
 * `azmi token` end to end: the built CLI against a started emulator — output shape, --decode, identity
 * selection, and the exit code of each failure class driven by the emulator's faults.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { azmi, type CliEnv, expectNoLeaks, startCliEnv } from "./cli-support.js"

let cli: CliEnv
beforeAll(async () => {
  cli = await startCliEnv()
})
afterAll(async () => {
  expectNoLeaks(cli.emu.admin.clientSecret)
  await cli.close()
})

const decode = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8"))

describe("azmi token (e2e)", () => {
  it("prints an ARM token for the VM's system-assigned identity, like az account get-access-token", async () => {
    const r = await azmi(cli, ["token"], { printsToken: true })
    expect(r.code).toBe(0)
    expect(r.stderr).toBe("")
    const out = JSON.parse(r.stdout)
    expect(out.tokenType).toBe("Bearer")
    expect(out.resource).toBe("https://management.azure.com/")
    expect(out.expires_on).toBeGreaterThan(Date.now() / 1000 + 3600)
    expect(decode(out.accessToken).oid).toBe(cli.emu.vm.systemAssigned?.principalId)
  })

  it("--decode prints header and claims of that token and never the token", async () => {
    const r = await azmi(cli, ["token", "--decode", "--resource", "https://vault.azure.net"])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out.header.alg).toBe("RS256")
    expect(out.claims.aud).toBe("https://vault.azure.net")
    expect(out.claims.oid).toBe(cli.emu.vm.systemAssigned?.principalId)
    expect(Object.keys(out)).toEqual(["header", "claims"])
  })

  it("--scope X/.default asks for resource X", async () => {
    const r = await azmi(cli, [
      "token",
      "--decode",
      "--scope",
      "https://management.azure.com/.default",
      "--query",
      "claims.aud",
      "-o",
      "tsv",
    ])
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toMatch(/^https:\/\/management\.azure\.com\/?$/)
  })

  it("an identity the VM does not have exits 3 with the core's hint", async () => {
    const r = await azmi(cli, ["token", "--client-id", "00000000-1111-2222-3333-444444444444"])
    expect(r.code).toBe(3)
    expect(r.stdout).toBe("")
    expect(r.stderr).toMatch(/^ERROR: Identity not found/)
    expect(r.stderr).toMatch(/\nHINT: /)
  })

  it("no IMDS at the endpoint exits 3", async () => {
    const r = await azmi(cli, ["token", "--imds-endpoint", "http://127.0.0.1:9"])
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/^ERROR: No managed identity endpoint at http:\/\/127\.0\.0\.1:9/)
  })

  it("IMDS throttling that outlasts the retries exits 6", async () => {
    cli.emu.faults.inject({
      target: "imds-token",
      status: 429,
      retryAfter: 1,
      count: Number.POSITIVE_INFINITY,
    })
    try {
      const r = await azmi(cli, ["token", "--timeout", "3"])
      expect(r.code).toBe(6)
      expect(r.stderr).toMatch(/^ERROR: /)
      expect(r.stderr).not.toMatch(/\n\s+at /) // no stack without --debug
    } finally {
      cli.emu.faults.clear()
    }
  })

  it("a malformed token response exits 6 and says what was wrong", async () => {
    cli.emu.faults.inject({
      target: "imds-token",
      malformed: "missing-access-token",
      count: Number.POSITIVE_INFINITY,
    })
    try {
      const r = await azmi(cli, ["token", "--timeout", "3"])
      expect(r.code).toBe(6)
      expect(r.stderr).toMatch(/^ERROR: /)
    } finally {
      cli.emu.faults.clear()
    }
  })

  it("one IMDS 500 is retried by the core and the command still succeeds", async () => {
    cli.emu.requests.reset()
    cli.emu.faults.inject({ target: "imds-token", status: 500, count: 1 })
    const r = await azmi(cli, ["token", "--decode", "-o", "none"])
    expect(r.code).toBe(0)
    expect(cli.emu.requests.count({ target: "imds-token" })).toBe(2)
  })

  it("--debug shows request lines on stderr without the token", async () => {
    const r = await azmi(cli, ["token", "--debug"], { printsToken: true })
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/DEBUG: /)
    const token = JSON.parse(r.stdout).accessToken as string
    expect(r.stderr).not.toContain(token)
    expect(r.stderr).not.toContain(token.split(".")[2])
  })
})
