#!/usr/bin/env node
// Runs every benchmark module in scripts/bench/ in turn (each default-exports an async function that
// starts what it needs on 127.0.0.1, prints its side-by-side figures and closes everything).
// `npm run bench -- tokens arm` runs only the named modules.
import { readdir } from "node:fs/promises"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const dir = join(dirname(fileURLToPath(import.meta.url)), "bench")
const only = process.argv.slice(2)
const files = (await readdir(dir)).filter((f) => f.endsWith(".mjs")).sort()
let failed = 0
for (const file of files) {
  const name = file.replace(/\.mjs$/, "")
  if (only.length > 0 && !only.includes(name)) continue
  console.log(`\n=== bench: ${name} ===`)
  try {
    const mod = await import(pathToFileURL(join(dir, file)).href)
    await mod.default()
  } catch (error) {
    failed++
    console.error(`bench ${name} failed:`, error instanceof Error ? error.message : error)
  }
}
process.exitCode = failed === 0 ? 0 : 1
