/**
 * What azmi prints comes partly from Azure (group names, tags, descriptions, error messages) and goes to
 * a terminal or into a line-based pipe. Characters that a terminal obeys instead of showing (ESC and the
 * other C0/C1 controls, DEL), that break a record (tab, newline, carriage return, line and paragraph
 * separators) or that reorder what is shown (bidi embeddings, overrides and isolates) are printed as
 * escapes: `\t`, `\n`, `\r`, else `\uXXXX` — which JSON and YAML double-quoted strings read back as the
 * same character. Every renderer and every diagnostic line goes through {@link escapeControl}.
 * @module
 */

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const unsafe = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
// The same set less tab and newline: the layout characters of JSON and YAML documents themselves.
const unsafeInDocument =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

const named: Readonly<Record<string, string>> = { "\t": "\\t", "\n": "\\n", "\r": "\\r" }

const escapeOne = (c: string) => named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`

const unsafeOne = new RegExp(unsafeInDocument.source)

/** Whether `text` holds a character that must be escaped even inside a document (not tab or newline). */
export const needsEscapeInDocument = (text: string): boolean => unsafeOne.test(text)

/**
 * `text` with every control, record-breaking or bidi character escaped. `layout: "document"` leaves
 * tab and newline alone: for the text of a whole JSON or YAML document, where they are layout (inside
 * strings the serialiser has already escaped them, or, in a YAML block scalar, they are content).
 *
 * @example
 * ```ts
 * escapeControl("a\tb\u001b[31m") // "a\\tb\\u001b[31m"
 * ```
 */
export const escapeControl = (text: string, layout: "value" | "document" = "value"): string =>
  text.replace(layout === "value" ? unsafe : unsafeInDocument, escapeOne)
