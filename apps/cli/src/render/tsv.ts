/**
 * `-o tsv`: tab-separated scalar values, no header, one line per item, for `cut` and shell `read`
 * (like `az -o tsv`).
 * @module
 */
import { cell, isRow, isScalar } from "./scalars.js"

const line = (item: unknown): string | undefined => {
  if (isScalar(item)) return cell(item)
  if (isRow(item)) {
    return Object.values(item).filter(isScalar).map(cell).join("\t")
  }
  if (Array.isArray(item)) return item.filter(isScalar).map(cell).join("\t")
  return undefined
}

export const renderTsv = (value: unknown): string => {
  if (value === undefined) return ""
  const items: Array<unknown> = Array.isArray(value) ? value : [value]
  return items
    .map(line)
    .filter((l): l is string => l !== undefined)
    .map((l) => `${l}\n`)
    .join("")
}
