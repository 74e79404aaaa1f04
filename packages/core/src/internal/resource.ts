/**
 * Resource (audience) handling: accept a resource or a `…/.default` scope, validate it before any
 * request is built, and send it exactly.
 * @internal
 */
import { Effect } from "effect"
import { InvalidInput } from "../Errors.js"
import { isGuid } from "./guid.js"

// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const FORBIDDEN = /[\s\u0000-\u001f\u007f-\u009f]/

/**
 * The resource to request for `resourceOrScope`: a trailing `/.default` is stripped (only at the
 * end); anything else is kept byte for byte (IMDS requires an exact match, trailing slash included).
 * Fails with `InvalidInput` unless the result is an absolute http(s)/api URI or a GUID-like app id
 * without whitespace or control characters.
 */
export const toResource = (resourceOrScope: string): Effect.Effect<string, InvalidInput> => {
  const invalid = (rule: string) =>
    Effect.fail(new InvalidInput({ field: "resource", rule, value: resourceOrScope }))
  if (typeof resourceOrScope !== "string" || resourceOrScope === "") return invalid("must not be empty")
  if (resourceOrScope.length > 2048) return invalid("must be at most 2048 characters")
  if (FORBIDDEN.test(resourceOrScope)) return invalid("must not contain whitespace or control characters")
  const resource = resourceOrScope.endsWith("/.default")
    ? resourceOrScope.slice(0, -"/.default".length)
    : resourceOrScope
  if (isGuid(resource)) return Effect.succeed(resource)
  let url: URL
  try {
    url = new URL(resource)
  } catch {
    return invalid(
      "must be an absolute https URI (e.g. https://management.azure.com/) or an application id GUID",
    )
  }
  if (url.protocol !== "https:" && url.protocol !== "http:" && url.protocol !== "api:") {
    return invalid("must use the https, http or api scheme")
  }
  if (url.username !== "" || url.password !== "") return invalid("must not contain user info")
  if (url.hostname === "") return invalid("must name a host")
  return Effect.succeed(resource)
}
