/**
 * Rendering of command results: `-o json|jsonc|table|tsv|yaml|none` after an optional `--query`.
 * The YAML and JMESPath libraries are loaded only when asked for (start-up time).
 * @module
 */

import type { OutputFormat } from "./formats.js"
import { renderJson } from "./json.js"
import { renderJsonc } from "./jsonc.js"
import { renderNone } from "./none.js"
import { renderTable } from "./table.js"
import { renderTsv } from "./tsv.js"

export { type OutputFormat, outputFormats } from "./formats.js"

export interface RenderOptions {
  readonly format: OutputFormat
  readonly query?: string | undefined
  /** ANSI colour allowed (a TTY and no NO_COLOR). */
  readonly color: boolean
  /** A command-specific shape for `-o table` (like `az`'s table transformers); skipped when `--query` is given. */
  readonly tableView?: ((value: unknown) => unknown) | undefined
}

/**
 * The text to print for `value`.
 *
 * @example
 * ```ts
 * await render([{ name: "DevTest", location: "westus" }], { format: "tsv", color: false }) // "DevTest\twestus\n"
 * ```
 */
export const render = async (value: unknown, options: RenderOptions): Promise<string> => {
  // Plain JSON first: class instances (Schema.Class) and undefined fields print like ARM's JSON.
  const data: unknown = value === undefined ? undefined : JSON.parse(JSON.stringify(value))
  const shaped =
    options.query !== undefined
      ? (await import("./query.js")).applyQuery(data, options.query)
      : options.format === "table" && options.tableView !== undefined
        ? options.tableView(data)
        : data
  switch (options.format) {
    case "json":
      return renderJson(shaped)
    case "jsonc":
      return renderJsonc(shaped, options.color)
    case "table":
      return renderTable(shaped)
    case "tsv":
      return renderTsv(shaped)
    case "yaml":
      return (await import("./yaml.js")).renderYaml(shaped)
    case "none":
      return renderNone(shaped)
  }
}
