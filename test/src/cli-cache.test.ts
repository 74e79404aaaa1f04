/**
 * The opt-in token cache shared by `azmi` processes: 100 sequential `azmi token --cache` make one IMDS
 * request (the Azure CLI makes 100), concurrent processes corrupt nothing, and the file is private.
 * Its key names everything that selects the identity (endpoint, a digest of a secret), and a cache
 * location that cannot be used or trusted is skipped at once with one warning.
 */
import { spawnSync } from "node:child_process"
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { dirname, join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { adminEnv, azmi, azmiBin, type CliEnv, expectNoLeaks, startCliEnv } from "./cli-support.js"

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

  it("a cached token is answered before commander or Effect loads: the bundle's entry is one file that does not reach them", () => {
    // Every module the entry imports statically, transitively (what runs before it can answer).
    const reached = new Set<string>()
    const visit = (file: string) => {
      if (reached.has(file)) return
      reached.add(file)
      for (const m of readFileSync(file, "utf8").matchAll(/from\s*"(\.[^"]+)"/g))
        visit(join(dirname(file), m[1] ?? ""))
    }
    visit(azmiBin)
    // One file: no chunk to resolve, read and link before the cache can answer.
    expect([...reached]).toEqual([azmiBin])
    const text = (files: Iterable<string>) => [...files].map((f) => readFileSync(f, "utf8")).join("\n")
    // commander's error codes and Effect's type ids survive minification: present in the bundle…
    const chunks = join(dirname(azmiBin), "chunks")
    const bundle = text([azmiBin, ...readdirSync(chunks).map((f) => join(chunks, f))])
    expect([bundle.includes('"commander.'), bundle.includes('"effect/Effect"')]).toEqual([true, true])
    // …but not where the entry reaches before it has decided whether the cache can answer.
    expect([text(reached).includes('"commander.'), text(reached).includes('"effect/Effect"')]).toEqual([
      false,
      false,
    ])
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
    // A process that went without the cache says why on stderr (a filesystem call slower than 2 s).
    const said = results.map((r) => r.stderr).join("")
    expect(cli.emu.requests.count({ target: "imds-token" }), said).toBe(4)
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

  it("a service principal's cached token is keyed by its secret: a wrong secret fails (exit 4), not served from cache", async () => {
    const admin = adminEnv(cli.emu)
    const ok = await azmi(cli, ["token", "--cache", "-o", "none"], { env: admin })
    expect(ok.code).toBe(0)
    const again = await azmi(cli, ["token", "--cache", "-o", "none"], { env: admin })
    expect(again.code).toBe(0)
    const wrong = await azmi(cli, ["token", "--cache", "-o", "none"], {
      env: { ...admin, AZURE_CLIENT_SECRET: "rotated-or-wrong" },
    })
    expect(wrong.code).toBe(4)
    expect(wrong.stderr).toMatch(/^ERROR: The token issuer at .* refused the client credentials/)
    const keys = Object.keys(JSON.parse(readFileSync(cacheFile(), "utf8")).entries).join("\n")
    expect(keys).not.toContain(admin.AZURE_CLIENT_SECRET)
  })

  it("two App Service / broker endpoints never share a cache entry", async () => {
    // Two token endpoints, each answering with its own token.
    const servers: Array<Server> = []
    const endpoint = (name: string) =>
      new Promise<string>((resolve) => {
        const server = createServer((_req, res) => {
          res.setHeader("content-type", "application/json")
          res.end(
            JSON.stringify({
              access_token: `token-of-${name}`,
              expires_on: String(Math.floor(Date.now() / 1000) + 3600),
              resource: "https://management.azure.com/",
              token_type: "Bearer",
            }),
          )
        })
        servers.push(server)
        server.listen(0, "127.0.0.1", () =>
          resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/msi/token`),
        )
      })
    try {
      const [a, b] = [await endpoint("a"), await endpoint("b")]
      const tokenFrom = async (url: string) =>
        (
          await azmi(cli, ["token", "--cache", "--query", "accessToken", "-o", "tsv"], {
            env: { IDENTITY_ENDPOINT: url, IDENTITY_HEADER: "h" },
            printsToken: true,
          })
        ).stdout
      expect(await tokenFrom(a)).toBe("token-of-a\n")
      expect(await tokenFrom(b)).toBe("token-of-b\n")
      expect(await tokenFrom(a)).toBe("token-of-a\n")
    } finally {
      for (const server of servers) server.close()
    }
  })

  it("a cache directory that can never be made (XDG_RUNTIME_DIR=/proc/self) or is a file: one warning, no wait", async () => {
    writeFileSync(join(cli.home, "a-file"), "")
    for (const runtime of ["/proc/self", join(cli.home, "a-file")]) {
      const r = await azmi(cli, ["token", "-o", "none", "--timeout", "20", "--debug"], {
        env: { XDG_RUNTIME_DIR: runtime, AZMI_TOKEN_CACHE: "1" },
      })
      expect(r.code, runtime).toBe(0)
      const warnings = r.stderr.split("\n").filter((l) => l.startsWith("WARN"))
      expect(warnings, runtime).toEqual([expect.stringMatching(/^WARN: token cache: not used \(/)])
      expect(r.stderr, runtime).not.toContain("lock busy") // the 10 s lock wait is for a held lock only
    }
  })

  it("a FIFO planted as the cache file is refused at once (never opened blocking, which would keep azmi from exiting)", async () => {
    const run = join(cli.home, "fifo")
    mkdirSync(join(run, "azmi"), { recursive: true, mode: 0o700 })
    const fifo = join(run, "azmi", "tokens.json")
    spawnSync("mkfifo", [fifo])
    try {
      const r = await azmi(cli, ["token", "--cache", "-o", "none"], { env: { XDG_RUNTIME_DIR: run } })
      expect(r.code).toBe(0)
      expect(r.stderr).toMatch(/^WARN: token cache: not used \(the cache file .* is not a file\)/)
    } finally {
      rmSync(fifo, { force: true })
    }
  })

  it("a cache file others could write (0666 in a 0777 directory) is not trusted: one warning, IMDS asked", async () => {
    const run = join(cli.home, "loose")
    const env = { XDG_RUNTIME_DIR: run }
    expect((await azmi(cli, ["token", "--cache", "-o", "none"], { env })).code).toBe(0)
    chmodSync(join(run, "azmi"), 0o777)
    chmodSync(join(run, "azmi", "tokens.json"), 0o666)
    cli.emu.requests.reset()
    const r = await azmi(cli, ["token", "--cache", "-o", "none"], { env })
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(
      /^WARN: token cache: not used \(the cache directory .* is writable by every user/,
    )
    expect(cli.emu.requests.count({ target: "imds-token" })).toBe(1)
  })
})
