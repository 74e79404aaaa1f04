/**
 * `--query`: JMESPath (the `jmespath` library, the same language `az --query` speaks).
 * @module
 */
import jmespath from "jmespath"
import { UsageError } from "../usage.js"

/** A `--query` that does not parse, or that fails on the result; the CLI reports it as a usage error. */
export class InvalidQuery extends UsageError {
  override readonly name = "InvalidQuery"
}

// `@types/jmespath` leaves out `compile`, which the library exports: the parser alone, no evaluation.
const { compile } = jmespath as unknown as { readonly compile: (expression: string) => unknown }

// The functions of the JMESPath specification (all that jmespath.js implements). The parser accepts any
// name; an unknown one would only fail when the query runs — after the command's requests.
const functions = new Set([
  "abs",
  "avg",
  "ceil",
  "contains",
  "ends_with",
  "floor",
  "join",
  "keys",
  "length",
  "map",
  "max",
  "max_by",
  "merge",
  "min",
  "min_by",
  "not_null",
  "reverse",
  "sort",
  "sort_by",
  "starts_with",
  "sum",
  "to_array",
  "to_number",
  "to_string",
  "type",
  "values",
])

const unknownFunction = (node: unknown): string | undefined => {
  if (Array.isArray(node)) {
    for (const child of node) {
      const found = unknownFunction(child)
      if (found !== undefined) return found
    }
    return undefined
  }
  if (typeof node !== "object" || node === null) return undefined
  const n = node as { readonly type?: unknown; readonly name?: unknown }
  if (n.type === "Function" && typeof n.name === "string" && !functions.has(n.name)) return n.name
  return unknownFunction(Object.values(node))
}

/**
 * Throws {@link InvalidQuery} when `expression` is not valid JMESPath, before any request is made. Only
 * the syntax (and the function names) are checked: running the query against a stand-in document would
 * refuse valid queries whose functions need a list (`sort_by(@, &name)`, `length([].name)`).
 *
 * @example
 * ```ts
 * checkQuery("sort_by(@, &name)[].name") // fine
 * checkQuery("[[[")                      // throws InvalidQuery
 * ```
 */
export const checkQuery = (expression: string): void => {
  let ast: unknown
  try {
    ast = compile(expression)
  } catch (error) {
    throw new InvalidQuery(`Invalid --query ${JSON.stringify(expression)}: ${(error as Error).message}`)
  }
  const unknown = unknownFunction(ast)
  if (unknown !== undefined) {
    throw new InvalidQuery(`Invalid --query ${JSON.stringify(expression)}: unknown function ${unknown}()`)
  }
}

/** Applies `expression` to `value` (which is plain JSON data). */
export const applyQuery = (value: unknown, expression: string): unknown => {
  try {
    // JMESPath works on JSON data; round-tripping drops class instances and undefined fields.
    return jmespath.search(JSON.parse(JSON.stringify(value ?? null)), expression)
  } catch (error) {
    throw new InvalidQuery(
      `--query ${JSON.stringify(expression)} failed on the command's result (the command itself completed): ${(error as Error).message}`,
    )
  }
}
