import { spawn } from "node:child_process"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { defaultWorld } from "../src/world/model.js"

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), "..")
// The bin is built from the current source (emulator tests do not depend on a prior `npm run build`); it lives
// inside the package so its bare imports (jose, selfsigned) resolve like the published dist's.
const binPath = join(pkgDir, "node_modules", ".cache", "azmi-bin-test", "bin.mjs")
let dir: string

beforeAll(async () => {
  await build({
    entryPoints: [join(pkgDir, "src", "bin.ts")],
    outfile: binPath,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    logLevel: "silent",
  })
  dir = await mkdtemp(join(tmpdir(), "azmi-bin-"))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const run = (args: ReadonlyArray<string>): Promise<Run> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binPath, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => {
      stdout += d
    })
    child.stderr.on("data", (d) => {
      stderr += d
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000)
    child.on("error", reject)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

describe("azmi-emulator usage errors", () => {
  it("the source starts with a node shebang", async () => {
    expect((await readFile(join(pkgDir, "src", "bin.ts"), "utf8")).split("\n")[0]).toBe("#!/usr/bin/env node")
  })

  it("--help prints usage and exits 0", async () => {
    const r = await run(["--help"])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("Usage: azmi-emulator")
    expect(r.stdout).toContain("--no-tls")
  })

  it("an unknown flag exits 2 with the usage on stderr", async () => {
    const r = await run(["--bogus"])
    expect(r.code).toBe(2)
    expect(r.stdout).toBe("")
    expect(r.stderr).toContain("--bogus")
    expect(r.stderr).toContain("Usage: azmi-emulator")
  })

  it("a bad port exits 2", async () => {
    const r = await run(["--imds-port", "99999"])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--imds-port: must be a port number 0..65535 (got "99999")')
  })

  it("an invalid world file exits 2 naming the file and the field, without a stack trace", async () => {
    const path = join(dir, "world.json")
    const world = structuredClone(defaultWorld()) as unknown as {
      resourceGroups: Array<{ location: string }>
    }
    world.resourceGroups[0]!.location = ""
    await writeFile(path, JSON.stringify(world))
    const r = await run(["--world", path])
    expect(r.code).toBe(2)
    expect(r.stdout).toBe("")
    expect(r.stderr).toContain(`Invalid world file ${path}`)
    expect(r.stderr).toContain("world.resourceGroups[0].location: must be a region name")
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })

  it("a missing world file exits 2", async () => {
    const r = await run(["--world", join(dir, "nope.json")])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("cannot read the file (ENOENT)")
  })
})
