/**
 * Memoised resource validation: the cached `getToken` path must not parse a URL on every call.
 * @internal
 */
import { Effect } from "effect"
import type { InvalidInput } from "../Errors.js"
import { toResource } from "./resource.js"

export interface ResourceMemo {
  /** Validate and normalise (memoised). */
  (resourceOrScope: string): Effect.Effect<string, InvalidInput>
  /** The resource for an input already validated, else undefined. */
  readonly known: (resourceOrScope: string) => string | undefined
}

export const makeResourceMemo = (capacity = 256): ResourceMemo => {
  const memo = new Map<string, string>()
  const validate = (resourceOrScope: string): Effect.Effect<string, InvalidInput> => {
    const known = memo.get(resourceOrScope)
    if (known !== undefined) return Effect.succeed(known)
    return Effect.tap(toResource(resourceOrScope), (resource) =>
      Effect.sync(() => {
        if (memo.size >= capacity) memo.clear()
        memo.set(resourceOrScope, resource)
      }),
    )
  }
  return Object.assign(validate, { known: (resourceOrScope: string) => memo.get(resourceOrScope) })
}
