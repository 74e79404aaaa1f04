/**
 * Memoised resource validation: the cached `getToken` path must not parse a URL on every call.
 * @internal
 */
import { Effect } from "effect"
import type { InvalidInput } from "../Errors.js"
import { toResource } from "./resource.js"

export const makeResourceMemo = (capacity = 256) => {
  const memo = new Map<string, string>()
  return (resourceOrScope: string): Effect.Effect<string, InvalidInput> => {
    const known = memo.get(resourceOrScope)
    if (known !== undefined) return Effect.succeed(known)
    return Effect.tap(toResource(resourceOrScope), (resource) =>
      Effect.sync(() => {
        if (memo.size >= capacity) memo.clear()
        memo.set(resourceOrScope, resource)
      }),
    )
  }
}
