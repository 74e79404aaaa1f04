/**
 * @azmi/core as another workspace sees it: imported by name from its built `dist/`, public API present,
 * internals not importable.
 */
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import * as core from "@azmi/core"
import { startEmulator } from "@azmi/emulator"
import { Effect, Exit, Redacted } from "effect"
import { describe, expect, it } from "vitest"

// Node's own resolver (vitest's would bypass the exports map), as another workspace's code would resolve it.
const require = createRequire(import.meta.url)

describe("@azmi/core package", () => {
  it("resolves to the built ESM output with type declarations", () => {
    const entry = require.resolve("@azmi/core")
    expect(entry).toMatch(/packages[/\\]core[/\\]dist[/\\]index\.js$/)
    expect(readFileSync(entry.replace(/\.js$/, ".d.ts"), "utf8")).toContain("createManagedIdentityCredential")
  })

  it("exports the token API", () => {
    expect(typeof core.createManagedIdentityCredential).toBe("function")
    expect(typeof core.ManagedIdentity.layer).toBe("function")
    expect(typeof core.ClientSecret.layer).toBe("function")
    expect(typeof core.RefreshAheadCache.make).toBe("function")
    expect(typeof core.InstanceMetadataLive.make).toBe("function")
    expect(typeof core.HttpTransport.layer).toBe("function")
    expect(typeof core.Retry.retrying).toBe("function")
    expect(core.TokenProvider.key).toBe("@azmi/core/TokenProvider")
    expect(core.AzmiConfig.key).toBe("@azmi/core/AzmiConfig")
    for (const m of [
      core.Metrics.imdsRequests,
      core.Metrics.tokenCacheHits,
      core.Metrics.tokenCacheMisses,
      core.Metrics.retries,
    ]) {
      expect(typeof m.unsafeValue).toBe("function")
    }
    expect(new core.ImdsUnavailable({ endpoint: "x", reason: "ConnectionRefused" })._tag).toBe(
      "ImdsUnavailable",
    )
  })

  it("sends User-Agent azmi/<the package.json version>", () => {
    const pkg = JSON.parse(readFileSync(require.resolve("@azmi/core/package.json"), "utf8"))
    expect(core.HttpTransport.USER_AGENT).toBe(`azmi/${pkg.version}`)
  })

  it("does not expose internals or deep dist paths", () => {
    for (const path of [
      "@azmi/core/internal/miRequest.js",
      "@azmi/core/dist/Config.js",
      "@azmi/core/src/index.ts",
    ]) {
      expect(() => require.resolve(path), path).toThrow(
        expect.objectContaining({ code: "ERR_PACKAGE_PATH_NOT_EXPORTED" }),
      )
    }
  })

  it("works end to end from the built output: a token from an emulator's IMDS", async () => {
    // An emulator of this test's own: the shared one's IMDS request counts belong to sdk-interop.
    const emu = await startEmulator({ armTls: false })
    try {
      const exit = await Effect.runPromiseExit(
        Effect.flatMap(core.TokenProvider, (tp) => tp.getToken("https://management.azure.com/")).pipe(
          Effect.provide(core.ManagedIdentity.layer({ imdsEndpoint: emu.imdsUrl })),
        ),
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      if (Exit.isSuccess(exit)) expect(Redacted.value(exit.value.token).split(".")).toHaveLength(3)
      expect(emu.requests.count({ target: "imds-token" })).toBe(1)
    } finally {
      await emu.close()
    }
  })
})
