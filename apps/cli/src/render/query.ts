/**
 * `--query`: JMESPath (the `jmespath` library, the same language `az --query` speaks).
 * @module
 */
import jmespath from "jmespath"
import { UsageError } from "../usage.js"

/** A `--query` that does not parse; the CLI reports it as a usage error. */
export class InvalidQuery extends UsageError {
  override readonly name = "InvalidQuery"
}

/** Throws {@link InvalidQuery} when `expression` is not valid JMESPath, before any request is made. */
export const checkQuery = (expression: string): void => {
  try {
    jmespath.search({}, expression)
  } catch (error) {
    throw new InvalidQuery(`Invalid --query ${JSON.stringify(expression)}: ${(error as Error).message}`)
  }
}

/** Applies `expression` to `value` (which is plain JSON data). */
export const applyQuery = (value: unknown, expression: string): unknown => {
  try {
    // JMESPath works on JSON data; round-tripping drops class instances and undefined fields.
    return jmespath.search(JSON.parse(JSON.stringify(value ?? null)), expression)
  } catch (error) {
    throw new InvalidQuery(`--query ${JSON.stringify(expression)} failed: ${(error as Error).message}`)
  }
}
