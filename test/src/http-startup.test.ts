/**
 * End to end: the built `azmi-http` refuses invalid configuration at start, naming the variable,
 * before it listens.
 */
import { execFile } from "node:child_process"
import { createRequire } from "node:module"
import { describe, expect, it } from "vitest"
import { httpMain } from "./http-support.js"

const run = (env: Record<string, string>, args: Array<string> = []) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [httpMain, ...args],
      { env: { PATH: process.env.PATH ?? "", AZMI_HTTP_PORT: "0", ...env }, timeout: 20_000 },
      (error, stdout, stderr) =>
        resolve({
          code: error === null ? 0 : typeof error.code === "number" ? error.code : null,
          stdout,
          stderr,
        }),
    )
  })

describe("azmi-http start-up", () => {
  it.each([
    [{ AZMI_HTTP_PORT: "http" }, [], 2, "AZMI_HTTP_PORT"],
    [{ AZMI_HTTP_CACHE_TTL_MS: "soon" }, [], 2, "AZMI_HTTP_CACHE_TTL_MS"],
    [{ AZMI_HTTP_API_KEY: "short" }, [], 2, "AZMI_HTTP_API_KEY"],
    [{}, ["--port", "-3"], 2, "--port"],
    // The core's settings are read by the same resolver at start: invalid configuration, exit 2 (they
    // exited 1 as "could not start" while only the server's layer read them).
    [{ AZMI_IMDS_ENDPOINT: "http://10.1.2.3" }, [], 2, "AZMI_IMDS_ENDPOINT"],
    [{}, ["--arm-endpoint", "http://example.com"], 2, "--arm-endpoint (AZMI_ARM_ENDPOINT)"],
    [{ AZURE_CLIENT_ID: "not-a-guid" }, [], 2, "AZURE_CLIENT_ID"],
    [{}, ["--host", "0.0.0.0"], 2, "--host"],
    [{ AZMI_HTTP_HOST: "::" }, [], 2, "AZMI_HTTP_HOST"],
  ] as const)("%j %j exits %i naming %s, without listening", async (env, args, code, variable) => {
    const result = await run(env, [...args])
    expect(result.code).toBe(code)
    expect(result.stdout).toBe("")
    expect(result.stderr).toContain(variable)
    expect(() => JSON.parse(result.stderr.trim())).not.toThrow()
    // A rejected secret is not repeated back.
    expect(result.stderr).not.toContain('"short"')
  })

  it("off loopback without an API key: refused, and the message says why and how to proceed", async () => {
    const result = await run({ AZMI_HTTP_HOST: "0.0.0.0" })
    expect(result.code).toBe(2)
    expect(result.stdout).toBe("")
    const { msg } = JSON.parse(result.stderr.trim()) as { msg: string }
    expect(msg).toContain("not a loopback address")
    expect(msg).toContain("with this machine's identity")
    expect(msg).toContain("set AZMI_HTTP_API_KEY")
    expect(msg).toContain("--allow-unauthenticated-remote")
  })

  it.each(["--version", "-V"])("%s prints the version and exits 0", async (flag) => {
    const { version } = createRequire(import.meta.url)("@azmi/http/package.json") as { version: string }
    const result = await run({}, [flag])
    expect(result).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" })
  })
})
