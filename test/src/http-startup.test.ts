/**
 * End to end: the built `azmi-http` refuses invalid configuration at start, naming the variable,
 * before it listens.
 */
import { execFile } from "node:child_process"
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
    [{ AZMI_IMDS_ENDPOINT: "http://10.1.2.3" }, [], 1, "AZMI_IMDS_ENDPOINT"],
    [{}, ["--arm-endpoint", "http://example.com"], 1, "AZMI_ARM_ENDPOINT"],
  ] as const)("%j %j exits %i naming %s, without listening", async (env, args, code, variable) => {
    const result = await run(env, [...args])
    expect(result.code).toBe(code)
    expect(result.stdout).toBe("")
    expect(result.stderr).toContain(variable)
    expect(() => JSON.parse(result.stderr.trim())).not.toThrow()
    // A rejected secret is not repeated back.
    expect(result.stderr).not.toContain('"short"')
  })
})
