/**
 * End to end: the built `azmi` hands its flags to the core's one resolver, so what it refuses — and the
 * hints it gives — name the flag the user typed (`--imds-endpoint`, `--client-id`, `--top`), not an
 * option name of the core's API. Nothing here reaches a network: every endpoint is a dead loopback port.
 */
import { beforeAll, describe, expect, it } from "vitest"
import { deadEndpoint, runAzmi } from "./reliability-support.js"

const SUB = "98f51385-2edc-4b79-bed9-7718de4cb861"
let env: Record<string, string>

beforeAll(async () => {
  env = {
    AZMI_IMDS_ENDPOINT: await deadEndpoint(),
    AZMI_ARM_ENDPOINT: "https://127.0.0.1:1",
    HOME: "/nonexistent",
  }
})

describe("azmi names the flag the user typed", () => {
  it("a refused --imds-endpoint: exit 2, named as the flag and the variable it stands for", async () => {
    const r = await runAzmi(["token", "--imds-endpoint", "http://10.0.0.1"], env)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(
      /^ERROR: Invalid configuration --imds-endpoint \(AZMI_IMDS_ENDPOINT\): host 10\.0\.0\.1 is neither loopback nor link-local/,
    )
  })

  it("nothing listening at --imds-endpoint: exit 3, the hint names --imds-endpoint", async () => {
    const dead = await deadEndpoint()
    const r = await runAzmi(["token", "--imds-endpoint", dead], env)
    expect(r.code).toBe(3)
    expect(r.stderr).toContain(`HINT: Nothing answers at --imds-endpoint (${dead}/`)
    expect(r.stderr).toContain("or correct --imds-endpoint or leave it out.")
  })

  it("a --client-id that is not a GUID: exit 2, named --client-id", async () => {
    const r = await runAzmi(["token", "--client-id", "nope"], env)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/^ERROR: Invalid configuration --client-id: must be a GUID/)
  })

  it.each(["0", "1001", "1e2", "many"])(
    "--top %s is the core's top rule, named --top, refused before any request: exit 2",
    async (top) => {
      const r = await runAzmi(["group", "list", "--subscription", SUB, "--top", top], env)
      expect(r.code).toBe(2)
      expect(r.stderr).toContain(
        `ERROR: Invalid --top: must be a whole number from 1 to 1000 (got "${top}").`,
      )
    },
  )
})
