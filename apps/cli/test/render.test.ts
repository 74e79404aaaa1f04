import { describe, expect, it } from "vitest"
import { render } from "../src/render/index.js"
import { renderTable } from "../src/render/table.js"
import { renderTsv } from "../src/render/tsv.js"

describe("renderers", () => {
  it("table: scalar columns only, aligned, header rule; scalars and lists of scalars", () => {
    expect(
      renderTable([
        { a: "x", nested: { b: 1 }, c: 10 },
        { a: "longer", c: null },
      ]),
    ).toBe("A       C\n------  --\nx       10\nlonger\n")
    expect(renderTable(true)).toBe("true\n")
    expect(renderTable(["a", "b"])).toBe("Result\n--------\na\nb\n")
    expect(renderTable([])).toBe("")
  })

  it("tsv: one line per item, tabs and newlines inside values flattened", () => {
    expect(
      renderTsv([
        { a: "x\ty", n: 1, o: {} },
        { a: "z", n: 2 },
      ]),
    ).toBe("x y\t1\nz\t2\n")
    expect(renderTsv("plain")).toBe("plain\n")
    expect(renderTsv([[1, 2], [3]])).toBe("1\t2\n3\n")
  })

  it("undefined renders as nothing in every format", async () => {
    for (const format of ["json", "jsonc", "table", "tsv", "yaml", "none"] as const) {
      expect(await render(undefined, { format, color: false })).toBe("")
    }
  })

  it("class instances render as their JSON", async () => {
    class Box {
      constructor(readonly v: number) {}
      get hidden() {
        return 1
      }
    }
    expect(await render(new Box(3), { format: "json", color: false })).toBe('{\n  "v": 3\n}\n')
  })
})
