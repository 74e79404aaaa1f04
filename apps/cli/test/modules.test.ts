/**
 * The CLI's module graph: commands register options and load their action on demand; an action never
 * reaches back into `commands/` (its flag types live with it), so no module imports itself in a circle.
 */
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, normalize } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const src = join(dirname(fileURLToPath(import.meta.url)), "..", "src")

/** Every module under src/ with the modules it imports: statically, dynamically or for types only. */
const graph = (): Map<string, ReadonlyArray<string>> => {
  const modules = readdirSync(src, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"))
  return new Map(
    modules.map((file) => {
      const text = readFileSync(join(src, file), "utf8")
      const imports = [...text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)].map((m) =>
        normalize(join(dirname(file), (m[1] ?? "").replace(/\.js$/, ".ts"))),
      )
      return [normalize(file), imports]
    }),
  )
}

/** The import circles of `g`, each as the path that closes it. */
const circles = (g: Map<string, ReadonlyArray<string>>): Array<string> => {
  const found: Array<string> = []
  const done = new Set<string>()
  const walk = (node: string, path: Array<string>) => {
    if (path.includes(node)) {
      found.push([...path.slice(path.indexOf(node)), node].join(" → "))
      return
    }
    if (done.has(node)) return
    for (const next of g.get(node) ?? []) walk(next, [...path, node])
    done.add(node)
  }
  for (const node of g.keys()) walk(node, [])
  return found
}

describe("the CLI's modules", () => {
  it("import each other without a circle", () => {
    expect(circles(graph())).toEqual([])
  })

  it("actions never import commands (flag types live with the action that uses them)", () => {
    const back = [...graph()].flatMap(([file, imports]) =>
      file.startsWith("actions")
        ? imports.filter((i) => i.startsWith("commands")).map((i) => `${file} → ${i}`)
        : [],
    )
    expect(back).toEqual([])
  })
})
