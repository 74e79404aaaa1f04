import { escapeControl } from "./escape.js"

/** `-o json`: indented JSON, like `az`; the controls JSON.stringify leaves raw (DEL, C1, bidi…) as `\u` escapes. */
export const renderJson = (value: unknown): string =>
  value === undefined ? "" : `${escapeControl(JSON.stringify(value, null, 2), "document")}\n`
