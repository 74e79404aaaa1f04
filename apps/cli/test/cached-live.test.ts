import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { TokenProvider, testToken } from "@azmi/core"
import { Effect, Layer, Logger, LogLevel, Redacted } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { makeCachedLayer } from "../src/cachedLive.js"

let dir = ""
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "azmi-cached-live-"))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

/**
 * A stand-in for `live.ts`: its credential names, in each token, the environment it was built for
 * (the one the cache was keyed for) and counts its fetches and loads.
 */
const fakeLive = (env: Record<string, string>) => {
  const counts = { loads: 0, fetches: 0 }
  const load = async () => {
    counts.loads++
    return {
      makeLiveLayer: (options: { wrapTokenProvider?: Layer.Layer<TokenProvider, never, TokenProvider> }) => {
        const base = TokenProvider.layerTest({
          description: "fake",
          getToken: (resource) =>
            Effect.sync(() => {
              counts.fetches++
              const now = Date.now()
              const from = env.AZURE_CLIENT_SECRET ?? env.IDENTITY_ENDPOINT ?? env.AZMI_IMDS_ENDPOINT
              return testToken(resource, {
                token: Redacted.make(`t${counts.fetches} from ${from}`),
                expiresOn: now + 3_600_000,
                refreshOn: now + 1_800_000,
              })
            }),
        })
        return (
          options.wrapTokenProvider === undefined ? base : options.wrapTokenProvider.pipe(Layer.provide(base))
        ) as never
      },
    }
  }
  return { counts, load }
}

/** One `azmi token --cache` "process" with `env`: the token it prints, and its warnings. */
const tokenWith = async (env: Record<string, string>, live = fakeLive(env)) => {
  const warnings: Array<string> = []
  const logger = Logger.make<unknown, void>(({ logLevel, message }) => {
    if (logLevel === LogLevel.Warning) warnings.push(String(message))
  })
  const token = await Effect.runPromise(
    Effect.flatMap(TokenProvider, (tp) =>
      Effect.zipRight(
        tp.getToken("https://management.azure.com/"),
        tp.getToken("https://management.azure.com/"),
      ),
    ).pipe(
      Effect.provide(makeCachedLayer({}, { XDG_RUNTIME_DIR: dir, ...env }, live.load as never)),
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
    ),
  )
  return { token: Redacted.value(token.token), warnings, counts: live.counts }
}

describe("makeCachedLayer", () => {
  it("answers a cached token without loading the core; loads it (once) on a miss", async () => {
    const env = { AZMI_IMDS_ENDPOINT: "http://127.0.0.1:1" }
    const first = await tokenWith(env)
    expect([first.token, first.counts]).toEqual(["t1 from http://127.0.0.1:1", { loads: 1, fetches: 1 }])
    const second = await tokenWith(env)
    // A second "process": served from the file, the core never loaded.
    expect([second.token, second.counts]).toEqual(["t1 from http://127.0.0.1:1", { loads: 0, fetches: 0 }])
  })

  it("keys by everything that selects the identity: two identity endpoints never share an entry", async () => {
    const imds = (port: number) => ({ AZMI_IMDS_ENDPOINT: `http://127.0.0.1:${port}` })
    expect((await tokenWith(imds(1))).token).toBe("t1 from http://127.0.0.1:1")
    expect((await tokenWith(imds(2))).token).toBe("t1 from http://127.0.0.1:2")
    const appService = (port: number) => ({
      IDENTITY_ENDPOINT: `http://127.0.0.1:${port}/msi/token`,
      IDENTITY_HEADER: "h",
    })
    expect((await tokenWith(appService(3))).token).toBe("t1 from http://127.0.0.1:3/msi/token")
    expect((await tokenWith(appService(4))).token).toBe("t1 from http://127.0.0.1:4/msi/token")
    expect((await tokenWith(appService(3))).counts.fetches).toBe(0) // each still cached under its own key
  })

  it("a service principal's secret is part of the key (as a digest): a rotated or wrong secret is not served", async () => {
    const sp = (secret: string) => ({
      AZURE_TENANT_ID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
      AZURE_CLIENT_ID: "b3c1e2d4-5f6a-4b7c-8d9e-0a1b2c3d4e5f",
      AZURE_CLIENT_SECRET: secret,
    })
    expect((await tokenWith(sp("right"))).token).toBe("t1 from right")
    const wrong = await tokenWith(sp("wrong"))
    expect([wrong.token, wrong.counts.fetches]).toEqual(["t1 from wrong", 1]) // asked upstream, which decides
    expect((await tokenWith(sp("right"))).counts.fetches).toBe(0)
    const keys = Object.keys(JSON.parse(readFileSync(join(dir, "azmi", "tokens.json"), "utf8")).entries)
    expect(keys).toHaveLength(2)
    for (const key of keys) expect(key).not.toMatch(/right|wrong/)
  })

  it("a configuration the core refuses fails the command (as without the cache)", async () => {
    await expect(tokenWith({ AZMI_IMDS_ENDPOINT: "http://example.com" })).rejects.toThrow(
      /AZMI_IMDS_ENDPOINT/,
    )
  })

  it("an unusable cache directory: one warning for the whole process, tokens still served", async () => {
    writeFileSync(join(dir, "file"), "")
    const r = await tokenWith({
      AZMI_IMDS_ENDPOINT: "http://127.0.0.1:1",
      XDG_RUNTIME_DIR: join(dir, "file"),
    })
    expect(r.token).toBe("t2 from http://127.0.0.1:1") // no cache: both calls went upstream
    expect(r.warnings).toEqual([expect.stringMatching(/^token cache: not used \(/)])
  })
})
