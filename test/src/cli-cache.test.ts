/**
 * The opt-in token cache shared by `azmi` processes: 100 sequential `azmi token --cache` make one IMDS
 * request (the Azure CLI makes 100), concurrent processes corrupt nothing, and the file is private.
 */
import { readFileSync, statSync } from "node:fs"
import { join } from "node:path"
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

const cacheFile = () => join(cli.home, "run", "azmi", "tokens.json")

describe("azmi token --cache (e2e)", () => {
  it("100 sequential processes → 1 IMDS request, all printing the same token", {
    timeout: 300_000,
  }, async () => {
    cli.emu.requests.reset()
    const seen = new Set<string>()
    for (let i = 0; i < 100; i++) {
      const r = await azmi(cli, ["token", "--cache", "--query", "expires_on", "-o", "tsv"])
      expect(r.code).toBe(0)
      seen.add(r.stdout)
    }
    expect(seen.size).toBe(1)
    expect(cli.emu.requests.count({ target: "imds-token" })).toBe(1)
    expect(statSync(cacheFile()).mode & 0o777).toBe(0o600)
    expect(statSync(join(cli.home, "run", "azmi")).mode & 0o777).toBe(0o700)
  })

  it("AZMI_TOKEN_CACHE=1 uses the same cache; without it every process asks IMDS", async () => {
    expect((await azmi(cli, ["token", "--cache", "-o", "none"])).code).toBe(0)
    cli.emu.requests.reset()
    expect((await azmi(cli, ["token", "-o", "none"], { env: { AZMI_TOKEN_CACHE: "1" } })).code).toBe(0)
    expect(cli.emu.requests.count({ target: "imds-token" })).toBe(0)
    await azmi(cli, ["token", "-o", "none"])
    await azmi(cli, ["token", "-o", "none"])
    expect(cli.emu.requests.count({ target: "imds-token" })).toBe(2)
  })

  it("16 concurrent processes over 4 resources: all succeed, the file stays valid, one request per resource", async () => {
    cli.emu.requests.reset()
    const resources = [
      "https://vault.azure.net",
      "https://storage.azure.com/",
      "https://graph.microsoft.com/",
      "https://database.windows.net/",
    ]
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        azmi(cli, [
          "token",
          "--cache",
          "--resource",
          resources[i % 4] ?? "",
          "--decode",
          "--query",
          "claims.aud",
          "-o",
          "tsv",
        ]),
      ),
    )
    results.forEach((r, i) => {
      expect(r.code).toBe(0)
      expect(r.stdout.trim()).toBe(resources[i % 4])
    })
    const file = JSON.parse(readFileSync(cacheFile(), "utf8")) as { entries: Record<string, unknown> }
    for (const resource of resources) {
      expect(Object.keys(file.entries).some((k) => k.includes(JSON.stringify(resource)))).toBe(true)
    }
    expect(cli.emu.requests.count({ target: "imds-token" })).toBe(4)
  })

  it("with --cache, ARM commands reuse the cached token too", async () => {
    expect((await azmi(cli, ["token", "--cache", "-o", "none"])).code).toBe(0)
    cli.emu.requests.reset()
    for (let i = 0; i < 3; i++) {
      const r = await azmi(cli, ["group", "exists", "-g", "DevTest", "--cache"])
      expect(r.code).toBe(4) // no role yet: what matters here is who asked IMDS
    }
    expect(cli.emu.requests.count({ target: "imds-token" })).toBe(0)
    expect(cli.emu.requests.count({ target: "arm" })).toBe(3)
  })

  it("a cache in another HOME/XDG is not shared", async () => {
    cli.emu.requests.reset()
    const other = join(cli.home, "other")
    const r = await azmi(cli, ["token", "--cache", "-o", "none"], {
      env: { XDG_RUNTIME_DIR: join(other, "run"), XDG_CACHE_HOME: join(other, "cache") },
    })
    expect(r.code).toBe(0)
    expect(cli.emu.requests.count({ target: "imds-token" })).toBe(1)
    expect(statSync(join(other, "run", "azmi", "tokens.json")).isFile()).toBe(true)
  })
})
