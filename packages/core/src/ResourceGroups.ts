/**
 * ARM resource groups: get, exists, list (as a `Stream` following `nextLink`).
 * Inputs are plain strings validated here (`InvalidInput` before any request).
 * @module
 */
import { Context, type Effect, Schema, type Stream } from "effect"
import type { ArmResponse } from "./ArmResponse.js"
import type { ArmError } from "./Errors.js"

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
