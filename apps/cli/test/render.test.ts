import { describe, expect, it } from "vitest"
import { parse } from "yaml"
import { escapeControl } from "../src/render/escape.js"
import { render } from "../src/render/index.js"
import { renderTable } from "../src/render/table.js"
import { renderTsv } from "../src/render/tsv.js"

const ESC = "\u001b"
const formats = ["json", "jsonc", "table", "tsv", "yaml", "none"] as const

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

  it("tsv: one line per item; tabs and newlines inside values are escaped, so records stay whole", () => {
    expect(
      renderTsv([
        { a: "x\ty", n: 1, o: {} },
        { a: "z\nw", n: 2 },
      ]),
    ).toBe("x\\ty\t1\nz\\nw\t2\n")
    expect(renderTsv("plain")).toBe("plain\n")
    expect(renderTsv([[1, 2], [3]])).toBe("1\t2\n3\n")
  })

  it("escapeControl: C0, DEL, C1, line separators and bidi controls become escapes; the rest is kept", () => {
    expect(escapeControl(`a\tb\nc\rd${ESC}[2J\u0007\u007f\u009b\u2028\u202e\u2066`)).toBe(
      "a\\tb\\nc\\rd\\u001b[2J\\u0007\\u007f\\u009b\\u2028\\u202e\\u2066",
    )
    expect(escapeControl("DevTest — westus, ünïcødé, 日本, C:\\path")).toBe(
      "DevTest — westus, ünïcødé, 日本, C:\\path",
    )
    expect(escapeControl("a\tb\nc\u009b", "document")).toBe("a\tb\nc\\u009b")
  })

  it("no raw control character reaches stdout in any format: scalars, lists and rows", async () => {
    const hostile = `evil${ESC}]0;pwned\u0007${ESC}[2J\u009b31m\r\nfake line\u202e\u0000`
    const values: ReadonlyArray<unknown> = [
      hostile,
      [hostile, "ok"],
      [{ name: hostile, tags: { [hostile]: hostile } }],
      { [hostile]: hostile },
    ]
    for (const value of values) {
      for (const format of formats) {
        for (const query of [undefined, "@"]) {
          const out = await render(value, { format, color: false, query })
          // Only the layout's own newlines (and tsv's tabs) remain; ESC, BEL, CR, C1, NUL and bidi never do.
          expect(out, `${format} ${JSON.stringify(value)}`).not.toMatch(
            // biome-ignore lint/suspicious/noControlCharactersInRegex: the assertion is about control characters
            /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/,
          )
        }
      }
    }
    // …and one value stays one line in tsv and table.
    expect(renderTsv([{ a: hostile, b: "x" }]).split("\n")).toHaveLength(2)
    expect(renderTable([{ a: hostile }]).split("\n")).toHaveLength(4)
  })

  it("json and yaml escapes read back as the original strings", async () => {
    const value = { s: `a${ESC}b\u009bc\u202ed\te\nf`, [`k${ESC}`]: 1 }
    expect(JSON.parse(await render(value, { format: "json", color: false }))).toEqual(value)
    const yaml = await render(value, { format: "yaml", color: false })
    expect(parse(yaml)).toEqual(value)
    expect(parse(yaml, { version: "1.1" })).toEqual(value)
  })

  it("yaml quotes what YAML 1.1 or 1.2 readers would take for booleans, dates, numbers or null", async () => {
    const words = ["NO", "on", "off", "Yes", "y", "N", "2001-12-14", "2001-12-14t21:59:43.10-05:00"]
    const more = ["0o17", "0777", "1_000", "1:20", "~", "null", "true", "12", ".inf", "<<", "plain"]
    const value = Object.fromEntries([...words, ...more].map((w) => [w, w]))
    const yaml = await render(value, { format: "yaml", color: false })
    for (const reader of ["1.1", "1.2"] as const) {
      expect(parse(yaml, { version: reader }), `YAML ${reader} reader`).toEqual(value)
    }
    expect(yaml).toContain('"NO": "NO"\n')
    expect(yaml).toContain('"2001-12-14": "2001-12-14"\n')
    expect(yaml).toContain("plain: plain\n")
  })

  it("undefined renders as nothing in every format", async () => {
    for (const format of formats) {
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
