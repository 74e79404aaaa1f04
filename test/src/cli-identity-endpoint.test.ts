/**
 * End to end: `azmi token` against an App Service-style identity endpoint (azmi-http's broker) that refuses
 * it or is not running. The exit code says what kind of failure it is, and the hint names the variable
 * the user actually set (IDENTITY_HEADER, IDENTITY_ENDPOINT), never one they did not (AZMI_IMDS_ENDPOINT).
 */
import { createServer } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { azmi, type CliEnv, expectNoLeaks, startCliEnv } from "./cli-support.js"
import { type HttpChild, startHttp } from "./http-support.js"

const secret = "e2e-identity-header-0123456789"
let cli: CliEnv
let http: HttpChild

beforeAll(async () => {
  cli = await startCliEnv()
  http = await startHttp(cli.emu, { AZMI_IDENTITY_HEADER: secret })
})
afterAll(async () => {
  await http?.stop()
  await cli?.close()
})

/** A loopback port nothing listens on (bound, then released). */
const closedPort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

const viaBroker = (endpoint: string, header: string) => ({
  env: { AZMI_IMDS_ENDPOINT: undefined, IDENTITY_ENDPOINT: endpoint, IDENTITY_HEADER: header },
})

describe("azmi token through an identity endpoint", () => {
  it("the right IDENTITY_HEADER gets a token (the broker works)", async () => {
    const r = await azmi(cli, ["token"], { ...viaBroker(`${http.url}/msi/token`, secret), printsToken: true })
    expect(r.code).toBe(0)
  })

  it("a wrong IDENTITY_HEADER is an authentication failure (exit 4), once, with a hint naming IDENTITY_HEADER", async () => {
    cli.emu.requests.reset()
    const r = await azmi(cli, ["token"], viaBroker(`${http.url}/msi/token`, "not-the-right-secret"))
    expect(r.code).toBe(4)
    const [error, hint, ...rest] = r.stderr.trimEnd().split("\n")
    expect(rest).toEqual([])
    expect(error).toMatch(/^ERROR: Token request to .*\/msi\/token failed with HTTP 401 after 1 attempt/)
    expect(hint).toMatch(/^HINT: .*set IDENTITY_HEADER to the secret it expects/)
    expect(r.stderr).not.toContain("AZMI_IMDS_ENDPOINT")
    expect(r.stderr).not.toContain("not-the-right-secret")
    expect(cli.emu.requests.count({ target: "imds-token" })).toBe(0)
  })

  it("a broker that is not running: exit 3, the hint names IDENTITY_ENDPOINT, not AZMI_IMDS_ENDPOINT", async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}/msi/token`
    const r = await azmi(cli, ["token"], viaBroker(endpoint, secret))
    expect(r.code).toBe(3)
    const [error, hint] = r.stderr.trimEnd().split("\n")
    expect(error).toContain(endpoint)
    expect(hint).toMatch(/^HINT: Nothing answers at IDENTITY_ENDPOINT \(/)
    expect(r.stderr).not.toContain("AZMI_IMDS_ENDPOINT")
  })

  it("an IMDS endpoint the user set that is not running: the hint names that variable", async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`
    for (const variable of ["AZMI_IMDS_ENDPOINT", "AZURE_POD_IDENTITY_AUTHORITY_HOST"]) {
      const r = await azmi(cli, ["token"], { env: { AZMI_IMDS_ENDPOINT: undefined, [variable]: endpoint } })
      expect(r.code).toBe(3)
      expect(r.stderr.trimEnd().split("\n")[1]).toMatch(
        new RegExp(`^HINT: Nothing answers at ${variable} \\(`),
      )
    }
  })

  it("leaks no token or header secret", () => {
    expectNoLeaks(secret)
  })
})
