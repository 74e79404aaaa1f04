/**
 * ARM resource groups: get, exists, list (as a `Stream` following `nextLink`).
 * Inputs are plain strings validated here (`InvalidInput` before any request). The live service is
 * `ResourceGroupsLive`; {@link ResourceGroups.layerTest} keeps groups in memory for tests.
 * @module
 */
import { Context, Effect, Either, Layer, Schema, Stream } from "effect"
import { parseResourceGroupName, parseSubscriptionId } from "./ArmIds.js"
import type { ArmResponse, ArmTestOverrides } from "./ArmResponse.js"
import { type ArmError, InvalidInput, ResourceGroupNotFound } from "./Errors.js"

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
 * `options` if every filter is one ARM takes (`top` and `pageSize` within {@link topRange}, a tag name of
 * 1–512 characters, a value of at most 256), else `InvalidInput` naming the first that is not.
 */
export const parseListOptions = (
  options: ListResourceGroupsOptions,
): Either.Either<ListResourceGroupsOptions, InvalidInput> => {
  for (const [field, n] of [
    ["top", options.top],
    ["pageSize", options.pageSize],
  ] as const) {
    if (n !== undefined && !isTop(n)) {
      return Either.left(new InvalidInput({ field, rule: topRule, value: String(n) }))
    }
  }
  if (options.tag !== undefined && (options.tag.name.trim() === "" || options.tag.name.length > 512)) {
    return Either.left(
      new InvalidInput({
        field: "tag",
        rule: "tag names must be 1 to 512 characters",
        value: options.tag.name,
      }),
    )
  }
  if (options.tag?.value !== undefined && options.tag.value.length > 256) {
    return Either.left(
      new InvalidInput({
        field: "tag",
        rule: "tag values must be at most 256 characters",
        value: options.tag.value,
      }),
    )
  }
  return Either.right(options)
}

/** One call of a {@link ResourceGroups.layerTest} service, with its arguments as given. */
export type ResourceGroupsCall =
  | { readonly op: "get"; readonly subscriptionId: string; readonly resourceGroupName: string }
  | { readonly op: "exists"; readonly subscriptionId: string; readonly resourceGroupName: string }
  | {
      readonly op: "list"
      readonly subscriptionId: string
      readonly options: ListResourceGroupsOptions | undefined
    }

/** Options of {@link ResourceGroups.layerTest}: the groups, and {@link ArmTestOverrides}. */
export interface ResourceGroupsTestOptions
  extends ArmTestOverrides<ResourceGroups["Type"], ResourceGroupsCall> {
  /** The groups ARM holds, in list order; each group's `id` names its subscription. Default: none. */
  readonly groups?: Iterable<ResourceGroup> | undefined
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
>() {
  /**
   * Resource groups in memory, for tests: inputs are validated as the live service validates them
   * (`InvalidInput`, nothing answered); `get` and `exists` find a group of `groups` by subscription and
   * name (names case-insensitive, as ARM's), a missing one is `ResourceGroupNotFound`; `list` gives the
   * subscription's groups in the order given, filtered by tag (name case-insensitive, value exact) and
   * cut at `top`. Every call is told to `onCall` first; `get`, `exists` or `list` given here answer
   * instead of `groups`.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { ResourceGroup, ResourceGroups, type ResourceGroupsCall } from "@azmi/core"
   *
   * const sub = "98f51385-2edc-4b79-bed9-7718de4cb861"
   * const devTest = new ResourceGroup({ id: `/subscriptions/${sub}/resourceGroups/DevTest`, name: "DevTest", location: "westus" })
   * const calls: Array<ResourceGroupsCall> = []
   * const arm = ResourceGroups.layerTest({ groups: [devTest], onCall: (call) => calls.push(call) })
   * const found = Effect.flatMap(ResourceGroups, (rg) => rg.exists(sub, "devtest"))
   * await Effect.runPromise(Effect.provide(found, arm)) // true; calls: [{ op: "exists", … }]
   * ```
   */
  static readonly layerTest = (options: ResourceGroupsTestOptions = {}): Layer.Layer<ResourceGroups> =>
    Layer.sync(ResourceGroups, () => makeTest(options))
}

const lower = (s: string) => s.toLowerCase()

const makeTest = (options: ResourceGroupsTestOptions): ResourceGroups["Type"] => {
  const groups = [...(options.groups ?? [])]
  const metadata = options.metadata ?? {}
  const inSubscription = (group: ResourceGroup, subscriptionId: string) =>
    lower(group.id).startsWith(`/subscriptions/${lower(subscriptionId)}/`)
  const find = (subscriptionId: string, name: string) =>
    groups.find((g) => inSubscription(g, subscriptionId) && lower(g.name) === lower(name))
  const parsed = (subscriptionId: string, resourceGroupName: string) =>
    Either.all([parseSubscriptionId(subscriptionId), parseResourceGroupName(resourceGroupName)])

  const get = (subscriptionId: string, resourceGroupName: string) =>
    Effect.suspend((): Effect.Effect<ArmResponse<ResourceGroup>, ArmError> => {
      options.onCall?.({ op: "get", subscriptionId, resourceGroupName })
      if (options.get !== undefined) return options.get(subscriptionId, resourceGroupName)
      return Effect.flatMap(parsed(subscriptionId, resourceGroupName), ([sub, name]) => {
        const group = find(sub, name)
        return group === undefined
          ? Effect.fail(new ResourceGroupNotFound({ subscriptionId: sub, resourceGroupName: name }))
          : Effect.succeed({ value: group, metadata })
      })
    })

  const exists = (subscriptionId: string, resourceGroupName: string) =>
    Effect.suspend((): Effect.Effect<boolean, ArmError> => {
      options.onCall?.({ op: "exists", subscriptionId, resourceGroupName })
      if (options.exists !== undefined) return options.exists(subscriptionId, resourceGroupName)
      return Effect.map(
        parsed(subscriptionId, resourceGroupName),
        ([sub, name]) => find(sub, name) !== undefined,
      )
    })

  const list = (subscriptionId: string, listOptions?: ListResourceGroupsOptions) =>
    Stream.suspend((): Stream.Stream<ResourceGroup, ArmError> => {
      options.onCall?.({ op: "list", subscriptionId, options: listOptions })
      if (options.list !== undefined) return options.list(subscriptionId, listOptions)
      const valid = Either.all([parseSubscriptionId(subscriptionId), parseListOptions(listOptions ?? {})])
      if (Either.isLeft(valid)) return Stream.fail(valid.left)
      const [sub, { tag, top }] = valid.right
      const matching = groups.filter(
        (g) =>
          inSubscription(g, sub) &&
          (tag === undefined ||
            Object.entries(g.tags).some(
              ([k, v]) => lower(k) === lower(tag.name) && (tag.value === undefined || v === tag.value),
            )),
      )
      return Stream.fromIterable(top === undefined ? matching : matching.slice(0, top))
    })

  return ResourceGroups.of({ get, exists, list })
}
