import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { IdentitySelector, TokenProvider } from "@azmi/core"
import { Effect, Layer, Redacted } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { cacheKeyParts, makeCachedLayer } from "../src/cachedLive.js"

describe("cacheKeyParts", () => {
  it("names the IMDS endpoint and identity the core will use", () => {
    expect(cacheKeyParts({}, { AZMI_IMDS_ENDPOINT: "http://127.0.0.1:1" })).toEqual({
      endpoint: "http://127.0.0.1:1",
      identity: "system-assigned",
    })
    expect(cacheKeyParts({ imdsEndpoint: "http://127.0.0.1:2" }, { AZURE_CLIENT_ID: "c" })).toEqual({
      endpoint: "http://127.0.0.1:2",
      identity: "client_id=c",
    })
    expect(cacheKeyParts({ identity: IdentitySelector.ObjectId({ objectId: "o" }) }, {}).identity).toBe(
      "object_id=o",
    )
    expect(cacheKeyParts({}, {}).endpoint).toBe("http://169.254.169.254")
  })

  it("keys a service principal by tenant and client, never by its secret", () => {
    const key = cacheKeyParts(
      {},
      {
        AZURE_TENANT_ID: "t",
        AZURE_CLIENT_ID: "c",
        AZURE_CLIENT_SECRET: "s3cret",
        AZURE_AUTHORITY_HOST: "https://h",
      },
    )
    expect(key).toEqual({ endpoint: "https://h", identity: "service-principal t/c" })
    expect(JSON.stringify(key)).not.toContain("s3cret")
  })
})

describe("makeCachedLayer", () => {
  let dir = ""
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it("answers a cached token without loading the core; loads it (once) on a miss", async () => {
    dir = mkdtempSync(join(tmpdir(), "azmi-cached-live-"))
    let loads = 0
    let fetches = 0
    const fakeLive = async () => {
      loads++
      return {
        makeLiveLayer: (options: {
          wrapTokenProvider?: Layer.Layer<TokenProvider, never, TokenProvider>
        }) => {
          const base = Layer.succeed(
            TokenProvider,
            TokenProvider.of({
              description: "fake",
              getToken: (resource) =>
                Effect.sync(() => {
                  fetches++
                  const now = Date.now()
                  return {
                    token: Redacted.make(`t${fetches}`),
                    tokenType: "Bearer",
                    resource,
                    expiresOn: now + 3_600_000,
                    refreshOn: now + 1_800_000,
                  }
                }),
            }),
          )
          return (
            options.wrapTokenProvider === undefined
              ? base
              : options.wrapTokenProvider.pipe(Layer.provide(base))
          ) as never
        },
      }
    }
    const env = { XDG_RUNTIME_DIR: dir, AZMI_IMDS_ENDPOINT: "http://127.0.0.1:1" }
    const get = (resource: string) =>
      Effect.runPromise(
        Effect.flatMap(TokenProvider, (tp) => tp.getToken(resource)).pipe(
          Effect.provide(makeCachedLayer({}, env, fakeLive as never)),
        ),
      )
    const previous = process.env.XDG_RUNTIME_DIR
    process.env.XDG_RUNTIME_DIR = dir // FileTokenCache's default path
    try {
      expect(Redacted.value((await get("r")).token)).toBe("t1")
      expect([loads, fetches]).toEqual([1, 1])
      expect(Redacted.value((await get("r")).token)).toBe("t1")
      expect([loads, fetches]).toEqual([1, 1]) // second "process": served from the file, core never loaded
    } finally {
      if (previous === undefined) delete process.env.XDG_RUNTIME_DIR
      else process.env.XDG_RUNTIME_DIR = previous
    }
  })
})
