/**
 * `-o table`: `az`-style aligned columns with a dashed rule under the header. Only scalar fields
 * become columns (nested objects are left out, as `az` does without a query).
 * @module
 */
import { cell, isRow, isScalar, type Row, scalarColumns } from "./scalars.js"

// Keys come from the data too (`--query "tags"`): escaped like every cell.
const header = (key: string) => cell(key.charAt(0).toUpperCase() + key.slice(1))

export const renderTable = (value: unknown): string => {
  if (value === undefined) return ""
  if (isScalar(value)) return `${cell(value)}\n`
  const items: Array<unknown> = Array.isArray(value) ? value : [value]
  if (items.every(isScalar)) {
    return items.length === 0 ? "" : `Result\n--------\n${items.map((v) => `${cell(v)}\n`).join("")}`
  }
  const rows = items.filter(isRow) as Array<Row>
  const columns = scalarColumns(rows)
  if (columns.length === 0) return ""
  const widths = columns.map((c) => Math.max(header(c).length, ...rows.map((r) => cell(r[c]).length)))
  const line = (cells: Array<string>) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd()
  const out = [line(columns.map(header)), line(widths.map((w) => "-".repeat(w)))]
  for (const row of rows) out.push(line(columns.map((c) => cell(row[c]))))
  return `${out.join("\n")}\n`
}
