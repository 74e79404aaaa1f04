/**
 * `-o jsonc`: JSON with ANSI colours (keys, strings, literals) when colour is allowed, else plain JSON.
 * @module
 */
import { renderJson } from "./json.js"

const ansi = { key: "\x1b[94m", string: "\x1b[32m", literal: "\x1b[36m", reset: "\x1b[0m" }

// Matches the tokens JSON.stringify emits: a key (string followed by a colon), a string, or a literal.
const token = /("(?:\\.|[^"\\])*")(\s*:)?|\b(?:true|false|null)\b|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g

export const renderJsonc = (value: unknown, color: boolean): string => {
  const plain = renderJson(value)
  if (!color) return plain
  return plain.replace(token, (match, str: string | undefined, colon: string | undefined) => {
    if (str !== undefined) {
      return colon !== undefined
        ? `${ansi.key}${str}${ansi.reset}${colon}`
        : `${ansi.string}${str}${ansi.reset}`
    }
    return `${ansi.literal}${match}${ansi.reset}`
  })
}
