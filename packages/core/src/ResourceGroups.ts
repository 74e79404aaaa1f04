/**
 * ARM resource groups: get, exists, list (as a `Stream` following `nextLink`).
 * Inputs are plain strings validated here (`InvalidInput` before any request).
 * @module
 */
import { Context, type Effect, Either, Schema, type Stream } from "effect"
import type { ArmResponse } from "./ArmResponse.js"
import { type ArmError, InvalidInput } from "./Errors.js"

/** A resource group as ARM returns it. */
export class ResourceGroup extends Schema.Class<ResourceGroup>("ResourceGroup")({
  id: Schema.String,
  name: Schema.String,
  type: Schema.optionalWith(Schema.String, { default: () => "Microsoft.Resources/resourceGroups" }),
  location: Schema.String,
  managedBy: Schema.optional(Schema.String),
  tags: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), {
    default: () => ({}),
  }),
  properties: Schema.optionalWith(Schema.Struct({ provisioningState: Schema.optional(Schema.String) }), {
    default: () => ({}),
  }),
}) {}

/** A tag filter as users write it: `name` or `name=value` (the first `=` separates them). */
export const parseTagFilter = (raw: string): { readonly name: string; readonly value?: string } => {
  const i = raw.indexOf("=")
  return i < 0 ? { name: raw } : { name: raw.slice(0, i), value: raw.slice(i + 1) }
}

/** The range of `top` and `pageSize` (ARM pages hold at most 1000 groups). */
export const topRange = { min: 1, max: 1_000 } as const

/** The rule a `top` or `pageSize` outside {@link topRange} (or not a whole number) breaks. */
export const topRule = `must be a whole number from ${topRange.min} to ${topRange.max}`

/**
 * A whole number as users write it: ASCII decimal digits only, nothing else — no sign, space,
 * exponent, fraction, separator or hex, all of which `Number()` takes — and no larger than
 * `Number.MAX_SAFE_INTEGER`; `undefined` otherwise. The one digits-only parse the shells use for
 * counts (`--top`, `?top=`, azmi-http's limits).
 *
 * @example
 * ```ts
 * import { parseWholeNumber } from "@azmi/core"
 * parseWholeNumber("0042") // 42
 * parseWholeNumber("1e2") // undefined
 * ```
 */
export const parseWholeNumber = (raw: string): number | undefined => {
  if (!/^[0-9]+$/.test(raw)) return undefined
  const n = Number(raw)
  return Number.isSafeInteger(n) ? n : undefined
}

/** True when `n` is a whole number within {@link topRange}. */
export const isTop = (n: number): boolean => Number.isInteger(n) && n >= topRange.min && n <= topRange.max

/**
 * A `top` as users write it (a CLI flag, a query parameter): a {@link parseWholeNumber} within
 * {@link topRange}. One parse for every shell, so `--top` and `?top=` accept exactly the same strings.
 *
 * @example
 * ```ts
 * import { parseTop } from "@azmi/core"
 * parseTop("25") // Either.right(25)
 * parseTop("1e2") // Either.left(InvalidInput: Invalid top: must be a whole number from 1 to 1000 (got "1e2").)
 * ```
 */
export const parseTop = (raw: string, field = "top"): Either.Either<number, InvalidInput> => {
  const n = parseWholeNumber(raw)
  return n !== undefined && isTop(n)
    ? Either.right(n)
    : Either.left(new InvalidInput({ field, rule: topRule, value: raw }))
}

/** Filters for {@link ResourceGroups} `list`. */
export interface ListResourceGroupsOptions {
  /** Only groups carrying this tag (and value, when given). */
  readonly tag?: { readonly name: string; readonly value?: string | undefined } | undefined
  /** At most this many groups in all. */
  readonly top?: number | undefined
  /** Groups per page asked of ARM (`$top`; ARM answers with `nextLink` for the rest). Default: `top`, else ARM's. */
  readonly pageSize?: number | undefined
}

/**
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ResourceGroups } from "@azmi/core"
 *
 * const devTest = Effect.flatMap(ResourceGroups, (rg) => rg.get("98f51385-2edc-4b79-bed9-7718de4cb861", "DevTest"))
 * ```
 */
export class ResourceGroups extends Context.Tag("@azmi/core/ResourceGroups")<
  ResourceGroups,
  {
    readonly get: (
      subscriptionId: string,
      resourceGroupName: string,
    ) => Effect.Effect<ArmResponse<ResourceGroup>, ArmError>
    /** HEAD: `true` on 204, `false` on 404. */
    readonly exists: (subscriptionId: string, resourceGroupName: string) => Effect.Effect<boolean, ArmError>
    /** Every group in the subscription, page after page until ARM sends no `nextLink`. */
    readonly list: (
      subscriptionId: string,
      options?: ListResourceGroupsOptions,
    ) => Stream.Stream<ResourceGroup, ArmError>
  }
>() {}
