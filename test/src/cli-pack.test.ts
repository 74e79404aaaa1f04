/**
 * The CLI installs like a real tool: `npm pack` of apps/cli gives a tarball that, installed into an
 * empty folder with nothing else from this repo, runs `azmi --help` and `azmi token` against the emulator.
 */
import { execFileSync, spawn } from "node:child_process"
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type CliEnv, startCliEnv } from "./cli-support.js"

const cliDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "apps", "cli")

let cli: CliEnv
let work: string
let bin: string
beforeAll(async () => {
  cli = await startCliEnv()
  work = mkdtempSync(join(tmpdir(), "azmi-pack-"))
  const npmEnv = {
    ...process.env,
    npm_config_cache: join(work, "npm-cache"),
    npm_config_update_notifier: "false",
  }
  execFileSync("npm", ["pack", cliDir, "--pack-destination", work, "--silent"], {
    env: npmEnv,
    stdio: "pipe",
  })
  const tgz = readdirSync(work).find((f) => f.endsWith(".tgz"))
  if (tgz === undefined) throw new Error("npm pack produced no tarball")
  const app = join(work, "app")
  execFileSync("mkdir", ["-p", app])
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "empty", version: "1.0.0", private: true }))
  execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "--silent", join(work, tgz)], {
    cwd: app,
    env: npmEnv,
    stdio: "pipe",
  })
  bin = join(app, "node_modules", ".bin", "azmi")
}, 120_000)
afterAll(async () => {
  await cli.close()
  rmSync(work, { recursive: true, force: true })
})

// Asynchronously: the emulator answers from this very process. The bin runs with a PATH that has node
// but a cwd and HOME with nothing from this repo.
const run = (args: ReadonlyArray<string>) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(bin, args, {
      cwd: work,
      env: { ...cli.env, HOME: work },
      stdio: ["ignore", "pipe", "pipe"],
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => {
      stdout += String(d)
    })
    child.stderr.on("data", (d) => {
      stderr += String(d)
    })
    child.once("error", reject)
    child.once("close", (status) => resolve({ status, stdout, stderr }))
  })

describe("npm-packed azmi (e2e)", () => {
  it("the tarball holds only the bundle and its bin entry, and declares no dependencies", () => {
    const listing = execFileSync(
      "tar",
      ["-tzf", join(work, readdirSync(work).find((f) => f.endsWith(".tgz")) ?? "")],
      {
        encoding: "utf8",
      },
    )
    const files = listing.trim().split("\n")
    expect(files).toContain("package/dist/azmi.mjs")
    expect(files).toContain("package/bin/azmi.mjs")
    expect(
      files.every(
        (f) =>
          f === "package/package.json" ||
          f === "package/bin/azmi.mjs" ||
          f.startsWith("package/dist/") ||
          /README|LICENSE/i.test(f),
      ),
    ).toBe(true)
    expect(readdirSync(join(work, "app", "node_modules")).filter((d) => !d.startsWith("."))).toEqual([
      "@azmi",
    ])
  })

  it("azmi --help runs", async () => {
    const r = await run(["--help"])
    expect(r.status).toBe(0)
    expect(r.stdout).toContain("Usage: azmi")
  })

  it("azmi token gets a token from the emulator", async () => {
    const r = await run(["token", "--decode", "--query", "claims.oid", "-o", "tsv"])
    expect(r.stderr).toBe("")
    expect(r.status).toBe(0)
    expect(r.stdout.trim()).toBe(cli.emu.vm.systemAssigned?.principalId)
  })
})
