#!/usr/bin/env node
// Runs every fast-check suite of the repository (each test file that imports "fast-check", in every
// workspace) once per seed, with FC_SEED=<seed> (scripts/fast-check-seed.mjs gives every property that seed),
// and prints which seed failed which suite. Build first (`npm run build`): the end-to-end suites use dist.
//
//   node scripts/fast-check-seeds.mjs                 # the 50 seeds below
//   node scripts/fast-check-seeds.mjs 42 -7 1416389422  # these seeds
//   FC_SEEDS_ONLY=packages/core node scripts/fast-check-seeds.mjs   # one workspace
//
// A failing run's output is kept in a log file whose path is printed.
import { spawn } from "node:child_process"
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")

/** Seeds that failed a suite once (issue 11) come first; the rest are fixed, so a run can be repeated. */
const KNOWN = [1416389422, 1457192742, -1010439716, -411921113]
const fixedSeeds = (count) => {
  const seeds = [...KNOWN]
  // A 32-bit xorshift from a fixed start: varied signed seeds, the same list every time.
  let x = 0x9e3779b9
  while (seeds.length < count) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    seeds.push(x | 0)
  }
  return seeds
}

const workspaces = async () => {
  const dirs = []
  for (const group of ["packages", "apps"])
    for (const name of await readdir(join(root, group))) dirs.push({ dir: join(group, name), tests: "test" })
  dirs.push({ dir: "test", tests: "src" })
  const out = []
  for (const w of dirs) {
    const files = []
    const walk = async (d) => {
      for (const entry of await readdir(join(root, w.dir, d), { withFileTypes: true }).catch(() => [])) {
        const p = join(d, entry.name)
        if (entry.isDirectory()) await walk(p)
        else if (entry.name.endsWith(".test.ts")) {
          const text = await readFile(join(root, w.dir, p), "utf8")
          if (/from "fast-check"/.test(text)) files.push(p)
        }
      }
    }
    await walk(w.tests)
    if (files.length > 0) out.push({ dir: w.dir, files: files.sort() })
  }
  return out
}

const vitest = (dir, files, seed) =>
  new Promise((resolve) => {
    const child = spawn("npx", ["vitest", "run", ...files], {
      cwd: join(root, dir),
      env: { ...process.env, FC_SEED: String(seed) },
      stdio: ["ignore", "pipe", "pipe"],
    })
    let output = ""
    child.stdout.on("data", (d) => {
      output += d
    })
    child.stderr.on("data", (d) => {
      output += d
    })
    child.on("close", (code) => resolve({ code, output }))
  })

const seeds = process.argv.length > 2 ? process.argv.slice(2).map(Number) : fixedSeeds(50)
if (seeds.some((s) => !Number.isSafeInteger(s))) throw new Error("seeds must be integers")
const only = process.env.FC_SEEDS_ONLY
const suites = (await workspaces()).filter((w) => only === undefined || w.dir === only)
const logs = await mkdtemp(join(tmpdir(), "fast-check-seeds-"))
console.log(`seeds (${seeds.length}): ${seeds.join(" ")}`)
for (const s of suites) console.log(`suites in ${s.dir}: ${s.files.join(" ")}`)
const failures = []
for (const seed of seeds) {
  const line = []
  for (const s of suites) {
    const { code, output } = await vitest(s.dir, s.files, seed)
    if (code === 0) line.push(`${s.dir} ok`)
    else {
      const log = join(logs, `${s.dir.replace(/\//g, "_")}_${seed}.log`)
      await writeFile(log, output)
      failures.push({ seed, dir: s.dir, log })
      line.push(`${s.dir} FAILED (${relative(process.cwd(), log)})`)
    }
  }
  console.log(`FC_SEED=${seed}: ${line.join(", ")}`)
}
console.log(
  failures.length === 0
    ? `\nall ${suites.length} workspaces' fast-check suites passed with all ${seeds.length} seeds`
    : `\n${failures.length} failed runs:\n${failures.map((f) => `  FC_SEED=${f.seed} ${f.dir}: ${f.log}`).join("\n")}`,
)
process.exitCode = failures.length === 0 ? 0 : 1
