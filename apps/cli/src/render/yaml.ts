/**
 * `-o yaml`. A string is quoted whenever a YAML reader could take it for something else: YAML 1.1
 * readers (PyYAML, Ruby's Psych, Go's yaml.v2 — still common) read `NO`, `on`, `off`, `Yes`, `y` as
 * booleans and `2001-12-14` as a date, YAML 1.2 readers read `0o17` as a number. Strings holding control
 * characters are double-quoted, so every one of them can be written as an escape. `<<` (1.1's merge key)
 * is quoted too.
 * @module
 */
import { Document, parse, visit } from "yaml"
import { escapeControl, needsEscapeInDocument } from "./escape.js"

// Plain only if YAML 1.1 and 1.2 readers both read it back as the same string; a plain `<<` key is a
// 1.1 merge (so the 1.1 schema's merge tag is dropped below: it would print the string `<<` plain).
const readsBack = (s: string): boolean => {
  if (s === "<<") return false
  try {
    return parse(s, { version: "1.1" }) === s && parse(s, { version: "1.2" }) === s
  } catch {
    return false
  }
}

const mergeTag = "tag:yaml.org,2002:merge"

export const renderYaml = (value: unknown): string => {
  if (value === undefined) return ""
  const doc = new Document(value, {
    version: "1.1",
    customTags: (tags) => tags.filter((t) => t !== "merge" && (typeof t === "string" || t.tag !== mergeTag)),
  })
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== "string") return
      if (needsEscapeInDocument(node.value)) node.type = "QUOTE_DOUBLE"
      else if (!node.value.includes("\n") && !readsBack(node.value)) node.type = "QUOTE_DOUBLE"
    },
  })
  return escapeControl(doc.toString(), "document")
}
