/**
 * The one reading of a JWT's parts, without verifying anything: for naming who a token is for (its
 * client or object id) and for checking a federated assertion's shape before Entra sees it.
 * @internal
 */

/** A base64url JWT segment decoded as a JSON object, or `undefined` (not base64url JSON, or not an object). */
export const segmentOf = (segment: string): Record<string, unknown> | undefined => {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"))
  } catch {
    return undefined
  }
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined
}

/**
 * The claims of a JWT (its second segment), or `undefined` when it has none that decode to an object.
 *
 * @example
 * ```ts
 * payloadOf(token)?.oid // the object id, if the token carries one
 * ```
 */
export const payloadOf = (jwt: string): Record<string, unknown> | undefined => {
  const payload = jwt.split(".")[1]
  return payload === undefined ? undefined : segmentOf(payload)
}
