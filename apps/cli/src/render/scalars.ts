/** Shared helpers of the tabular renderers (table, tsv): which values count as cells and how they print. */
import { escapeControl } from "./escape.js"

export type Row = Record<string, unknown>

export const isScalar = (v: unknown): v is string | number | boolean | null =>
  v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean"

export const isRow = (v: unknown): v is Row => typeof v === "object" && v !== null && !Array.isArray(v)

/** A value as one cell: control characters escaped, so a value can neither drive the terminal nor split a record. */
export const cell = (v: unknown): string => (v === null || v === undefined ? "" : escapeControl(String(v)))

/** Columns of a list of rows: every key holding a scalar in some row, in first-seen order (like `az`). */
export const scalarColumns = (rows: ReadonlyArray<Row>): Array<string> => {
  const columns: Array<string> = []
  for (const row of rows) {
    for (const [key, value] of Object.entries(row)) {
      if (isScalar(value) && !columns.includes(key)) columns.push(key)
    }
  }
  return columns
}
