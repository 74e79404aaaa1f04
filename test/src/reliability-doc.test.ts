/**
 * The README's reliability section is generated from the fault matrix the tests run: this fails when
 * someone edits one without regenerating the other (`node scripts/gen-reliability.mjs`).
 */
import { spawnSync } from "node:child_process"
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { faultMatrix } from "./fault-matrix.mjs"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const script = join(root, "scripts", "gen-reliability.mjs")
const readme = join(root, "README.md")
const scratch = mkdtempSync(join(tmpdir(), "azmi-readme-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const check = (path: string) =>
  spawnSync(process.execPath, [script, "--check", "--readme", path], { encoding: "utf8" })

describe("README reliability section", () => {
  it("is exactly what scripts/gen-reliability.mjs generates from the fault matrix", () => {
    const result = check(readme)
    expect(result.stderr).toBe("")
    expect(result.status).toBe(0)
  })

  it("names every row of the matrix", () => {
    const text = readFileSync(readme, "utf8")
    const section = text.slice(
      text.indexOf("<!-- reliability:start -->"),
      text.indexOf("<!-- reliability:end -->"),
    )
    for (const row of faultMatrix) expect(section).toContain(`| ${row.upstream} | ${row.title} |`)
  })

  it("detects a drifted section (the check can fail)", () => {
    const copy = join(scratch, "README.md")
    copyFileSync(readme, copy)
    writeFileSync(copy, readFileSync(copy, "utf8").replace("| 8+0 |", "| 7+0 |"))
    const result = check(copy)
    expect(result.status).toBe(1)
    expect(result.stderr).toContain("out of date")
  })
})
