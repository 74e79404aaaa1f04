/**
 * `azmi token` answered from the file token cache before commander and Effect load: it prints exactly
 * what the full command prints, and in every case it cannot be sure of, it declines having printed
 * nothing (the full command then runs).
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { IdentitySelector, TokenProvider } from "@azmi/core"
import { optionsInputsKey } from "@azmi/core/TokenCacheFile"
import { Effect, Layer, Redacted } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { makeCachedLayer } from "../src/cachedLive.js"
import { layerOptions, plainSelectors, selectorOf } from "../src/coreOptions.js"
import { runCli } from "../src/program.js"
import { tokenFromCache } from "../src/tokenFromCache.js"
import { fakeJwt } from "./harness.js"

const CLIENT = "b3c1e2d4-5f6a-4b7c-8d9e-0a1b2c3d4e5f"
let dir = ""
let env: Record<string, string> = {}
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "azmi-token-from-cache-"))
  env = { XDG_RUNTIME_DIR: dir, AZMI_IMDS_ENDPOINT: "http://127.0.0.1:1" }
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

/** A stand-in for `live.ts` whose credential counts its fetches; `opaque` resources get a non-JWT. */
const fetches: Array<string> = []
const loadLive = async () => ({
  makeLiveLayer: (options: { wrapTokenProvider?: Layer.Layer<TokenProvider, never, TokenProvider> }) => {
    const base = Layer.succeed(
      TokenProvider,
      TokenProvider.of({
        description: "fake",
        getToken: (resource) =>
          Effect.sync(() => {
            fetches.push(resource)
            const now = Date.now()
            return {
              token: Redacted.make(resource.includes("opaque") ? "opaque-token" : fakeJwt({ aud: resource })),
              tokenType: "Bearer",
              resource,
              expiresOn: now + 3_600_000,
              refreshOn: now + 1_800_000,
            }
          }),
      }),
    )
    return (options.wrapTokenProvider?.pipe(Layer.provide(base)) ?? base) as never
  },
})

interface Outcome {
  readonly stdout: string
  readonly stderr: string
  readonly code: number | undefined
}

const shellFor = (e: Record<string, string>) => {
  const out = { stdout: "", stderr: "", code: undefined as number | undefined }
  const shell = {
    stdout: {
      write: (s: string) => {
        out.stdout += s
      },
    },
    stderr: {
      write: (s: string) => {
        out.stderr += s
      },
    },
    env: e,
    setExitCode: (c: number) => {
      out.code = c
    },
  }
  return { shell, out }
}

/** The full command, wired as `main.ts` wires it (the cached layer over a fake credential). */
const full = async (argv: ReadonlyArray<string>, e = env): Promise<Outcome> => {
  const { shell, out } = shellFor(e)
  await runCli(argv, {
    ...shell,
    makeLayer: async (options, extras) => {
      if (!extras.cache) throw new Error("these tests run with the cache on")
      return makeCachedLayer(options, e, loadLive as never)
    },
  })
  return out
}

/** The fast path alone: whether it answered, and what it printed. */
const fast = async (argv: ReadonlyArray<string>, e = env) => {
  const { shell, out } = shellFor(e)
  const answered = await tokenFromCache(argv, shell)
  return { answered, ...out }
}

const cacheFile = () => join(dir, "azmi", "tokens.json")

describe("tokenFromCache", () => {
  it("answers a cached token exactly as the full command prints it, however it is asked for", async () => {
    fetches.length = 0
    const lines: Array<ReadonlyArray<string>> = [
      ["token", "--cache"],
      ["--cache", "token", "-o", "tsv"],
      ["token", "--cache", "--query", "expires_on", "--output=tsv"],
      ["token", "--cache", "--decode", "--query", "claims.aud", "-o", "tsv"],
      ["token", "--cache", "-o", "yaml", "--only-show-errors", "--timeout", "2.5"],
      ["token", "--cache", "-o", "none"],
      ["token", "--cache", "--scope", "https://vault.azure.net/.default", "-o", "jsonc"],
      ["token", "--cache", "--resource=https://storage.azure.com/", "--client-id", CLIENT],
      ["token", "--cache", "--imds-endpoint", "http://127.0.0.1:2", "--arm-endpoint", "https://127.0.0.1:3"],
    ]
    for (const argv of lines) {
      const before = await full(argv) // stores the token (or finds it)
      expect([argv, before.code, before.stderr]).toEqual([argv, 0, ""])
      const answer = await fast(argv)
      expect([argv, answer.answered, answer.code, answer.stderr]).toEqual([argv, true, 0, ""])
      expect(answer.stdout, argv.join(" ")).toBe(before.stdout)
    }
    const tokens = await fast(["token"], { ...env, AZMI_TOKEN_CACHE: "1" })
    expect([tokens.answered, tokens.stdout]).toEqual([true, (await full(["token", "--cache"])).stdout])
    // Four distinct (identity, resource) pairs: four fetches, however many times each was asked for.
    expect(fetches).toHaveLength(4)
  })

  it("declines, having printed nothing, wherever it cannot be sure to answer as the full command", async () => {
    await full(["token", "--cache"])
    await full(["token", "--cache", "--resource", "https://opaque/"])
    expect((await fast(["token", "--cache"])).answered).toBe(true)
    const declines = async (argv: ReadonlyArray<string>, e = env) =>
      expect([argv, e === env ? "" : "env", await fast(argv, e)]).toEqual([
        argv,
        e === env ? "" : "env",
        { answered: false, stdout: "", stderr: "", code: undefined },
      ])
    // Not a plain `azmi token` line with the cache on, as commander would read it.
    for (const argv of [
      ["token"],
      ["token", "--cache", "--debug"],
      ["token", "--cache", "--verbose"],
      ["token", "--cache", "--help"],
      ["token", "--cache", "--bogus"],
      ["token", "--cache", "extra"],
      ["token", "--cache", "--", "x"],
      ["token", "--cache", "--cache"],
      ["token", "--cache=1"],
      ["--resource", "https://management.azure.com/", "token", "--cache"],
      ["token", "--cache", "--resource", "https://a/", "--scope", "https://b/.default"],
      ["token", "--cache", "--client-id", CLIENT, "--object-id", CLIENT],
      ["token", "--cache", "--resource", "--decode"],
      ["token", "--cache", "-o", "xml"],
      ["token", "--cache", "-ojson"],
      ["token", "--cache", "--timeout", "0"],
      ["token", "--cache", "--query", "no[("],
      ["group", "show", "--cache"],
    ])
      await declines(argv)
    // Other inputs than the token was stored for: another identity, another setting.
    await declines(["token", "--cache", "--object-id", CLIENT])
    await declines(["token", "--cache", "--timeout", "3"])
    await declines(["token", "--cache"], { ...env, AZURE_CLIENT_ID: CLIENT })
    await declines(["token", "--cache"], { ...env, AZMI_CONNECT_TIMEOUT_MS: "500" })
    // A CA file the core reads while resolving (and would refuse once it is gone): the same inputs, but
    // the file's state is not one of them.
    writeFileSync(join(dir, "ca.pem"), "-----BEGIN CERTIFICATE-----\n")
    const withCa = { ...env, AZMI_CA_CERT_FILE: join(dir, "ca.pem") }
    expect((await full(["token", "--cache"], withCa)).code).toBe(0)
    await declines(["token", "--cache"], withCa)
    // A result that does not render: --decode of a token that is not a JWT.
    await declines(["token", "--cache", "--resource", "https://opaque/", "--decode"])
    // A file the core would not trust.
    chmodSync(cacheFile(), 0o666)
    await declines(["token", "--cache"])
    chmodSync(cacheFile(), 0o600)
    // A token past its refresh time.
    const file = JSON.parse(readFileSync(cacheFile(), "utf8")) as {
      entries: Record<string, { refreshOn: number }>
    }
    for (const entry of Object.values(file.entries)) entry.refreshOn = Date.now() - 1
    writeFileSync(cacheFile(), JSON.stringify(file))
    await declines(["token", "--cache"])
  })

  it("digests the same inputs for the full command's selectors and its own plain ones, and other inputs differently", () => {
    const globals = [{}, { imdsEndpoint: "http://127.0.0.1:2" }, { armEndpoint: "https://a" }, { timeout: 2 }]
    const flags = [{}, { clientId: CLIENT }, { objectId: CLIENT }, { miResId: "/x" }]
    const digests = new Set<string>()
    for (const g of globals)
      for (const f of flags) {
        const plain = optionsInputsKey(layerOptions(g, selectorOf(f, plainSelectors)), env)
        expect(optionsInputsKey(layerOptions(g, selectorOf(f, IdentitySelector)), env)).toBe(plain)
        digests.add(plain)
      }
    expect(digests.size).toBe(globals.length * flags.length)
    expect(optionsInputsKey({}, { ...env, AZURE_CLIENT_SECRET: "s" })).not.toBe(optionsInputsKey({}, env))
  })
})
