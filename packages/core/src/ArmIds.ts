/**
 * Validated ARM identifiers: subscription ids, resource group names and scopes as branded values.
 *
 * Every value a user types that ends up in an ARM URL goes through here first. Scopes are parsed into
 * a structured value (subscription / resource group / resource) and turned back into a path segment by
 * segment, each segment percent-encoded, so no input can add, remove or re-route a path segment.
 * @module
 */
import { type Brand, Data, Either } from "effect"
import { InvalidInput } from "./Errors.js"
import { isGuid } from "./internal/guid.js"

/** A subscription id: a GUID. */
export type SubscriptionId = string & Brand.Brand<"SubscriptionId">
/** A resource group name: 1–90 letters, digits, `_ - . ( )`, not ending with a period. */
export type ResourceGroupName = string & Brand.Brand<"ResourceGroupName">
/** A GUID (principal ids, role definition and role assignment names). */
export type Guid = string & Brand.Brand<"Guid">

/** One `{type}/{name}` pair under a provider namespace, e.g. `virtualMachines/myVM`. */
export interface ResourceSegment {
  readonly type: string
  readonly name: string
}

/**
 * A role-assignment scope, parsed.
 *
 * @example
 * ```ts
 * import { Either } from "effect"
 * import { ArmIds } from "@azmi/core"
 *
 * const scope = ArmIds.parseScope("/subscriptions/98f51385-2edc-4b79-bed9-7718de4cb861/resourceGroups/DevTest")
 * // Either.right(Scope.ResourceGroup({ subscriptionId, resourceGroupName: "DevTest" }))
 * if (Either.isRight(scope)) console.log(ArmIds.scopeToString(scope.right))
 * ```
 */
export type Scope = Data.TaggedEnum<{
  Subscription: { readonly subscriptionId: SubscriptionId }
  ResourceGroup: { readonly subscriptionId: SubscriptionId; readonly resourceGroupName: ResourceGroupName }
  Resource: {
    readonly subscriptionId: SubscriptionId
    readonly resourceGroupName: ResourceGroupName
    /** Provider namespace, e.g. `Microsoft.Compute`. */
    readonly provider: string
    /** At least one `{type}/{name}` pair; more for child resources. */
    readonly resources: ReadonlyArray<ResourceSegment>
  }
}>

export const Scope = Data.taggedEnum<Scope>()

// ARM's documented alphabet for resource group names: Unicode letters (Lu, Ll, Lt, Lm, Lo), decimal
// digits (Nd) and `_ - . ( )`.
const RG_CHARS = /^[\p{Lu}\p{Ll}\p{Lt}\p{Lm}\p{Lo}\p{Nd}_\-.()]+$/u
const PROVIDER = /^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)+$/
const RESOURCE_TYPE = /^[A-Za-z][A-Za-z0-9]*$/
// Control characters and whitespace at the edges never belong in a resource name; a name of "." or ".."
// would be collapsed by URL normalisation (even percent-encoded as %2E), moving the request elsewhere.
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

const invalid = (field: string, rule: string, value: string) => new InvalidInput({ field, rule, value })

/** A GUID, or `InvalidInput` naming `field`. */
export const parseGuid = (value: string, field: string): Either.Either<Guid, InvalidInput> =>
  isGuid(value)
    ? Either.right(value as Guid)
    : Either.left(invalid(field, "must be a GUID like 00000000-0000-0000-0000-000000000000", value))

/**
 * A subscription id, or `InvalidInput`.
 *
 * @example
 * ```ts
 * import { ArmIds } from "@azmi/core"
 * ArmIds.parseSubscriptionId("98f51385-2edc-4b79-bed9-7718de4cb861") // Either.right(…)
 * ArmIds.parseSubscriptionId("../other") // Either.left(InvalidInput { field: "subscriptionId", … })
 * ```
 */
export const parseSubscriptionId = (
  value: string,
  field = "subscriptionId",
): Either.Either<SubscriptionId, InvalidInput> =>
  Either.map(parseGuid(value, field), (guid) => guid as string as SubscriptionId)

/**
 * A resource group name, or `InvalidInput` naming the rule it broke.
 *
 * @example
 * ```ts
 * import { ArmIds } from "@azmi/core"
 * ArmIds.parseResourceGroupName("DevTest") // Either.right("DevTest")
 * ArmIds.parseResourceGroupName("dev.") // Either.left(… "must not end with a period")
 * ```
 */
export const parseResourceGroupName = (
  value: string,
  field = "resourceGroupName",
): Either.Either<ResourceGroupName, InvalidInput> => {
  if (value.length < 1 || value.length > 90) {
    return Either.left(invalid(field, "must be 1 to 90 characters long", value))
  }
  if (!RG_CHARS.test(value)) {
    return Either.left(
      invalid(
        field,
        "may contain only letters, digits, underscores, hyphens, periods and parentheses",
        value,
      ),
    )
  }
  if (value.endsWith(".")) return Either.left(invalid(field, "must not end with a period", value))
  return Either.right(value as ResourceGroupName)
}

const SCOPE_FORMS =
  "must be /subscriptions/{id}, /subscriptions/{id}/resourceGroups/{name} or /subscriptions/{id}/resourceGroups/{name}/providers/{namespace}/{type}/{name}"

const parseResourceName = (value: string, field: string): Either.Either<string, InvalidInput> =>
  value.length === 0 || value.length > 260
    ? Either.left(invalid(field, "resource names must be 1 to 260 characters long", value))
    : value === "." || value === ".." || CONTROL.test(value) || value.trim() !== value
      ? Either.left(
          invalid(field, "resource names must not be '.' or '..' nor contain control characters", value),
        )
      : Either.right(value)

/**
 * Parses a scope string into a {@link Scope}. Keywords (`subscriptions`, `resourceGroups`, `providers`)
 * are case-insensitive, as in ARM; names keep their casing. One trailing `/` is tolerated.
 */
export const parseScope = (value: string, field = "scope"): Either.Either<Scope, InvalidInput> => {
  if (!value.startsWith("/")) return Either.left(invalid(field, SCOPE_FORMS, value))
  const body = value.length > 1 && value.endsWith("/") ? value.slice(1, -1) : value.slice(1)
  const parts = body.split("/")
  if (parts.some((p) => p === "")) return Either.left(invalid(field, `${SCOPE_FORMS} (empty segment)`, value))
  const [kwSub, sub, kwRg, rg, kwProviders, provider, ...rest] = parts
  if (kwSub?.toLowerCase() !== "subscriptions" || sub === undefined) {
    return Either.left(invalid(field, SCOPE_FORMS, value))
  }
  const subscriptionId = parseSubscriptionId(sub, field)
  if (Either.isLeft(subscriptionId)) return Either.left(subscriptionId.left)
  if (kwRg === undefined) return Either.right(Scope.Subscription({ subscriptionId: subscriptionId.right }))
  if (kwRg.toLowerCase() !== "resourcegroups" || rg === undefined) {
    return Either.left(invalid(field, SCOPE_FORMS, value))
  }
  const resourceGroupName = parseResourceGroupName(rg, field)
  if (Either.isLeft(resourceGroupName)) return Either.left(resourceGroupName.left)
  if (kwProviders === undefined) {
    return Either.right(
      Scope.ResourceGroup({
        subscriptionId: subscriptionId.right,
        resourceGroupName: resourceGroupName.right,
      }),
    )
  }
  if (kwProviders.toLowerCase() !== "providers" || provider === undefined || rest.length === 0) {
    return Either.left(invalid(field, SCOPE_FORMS, value))
  }
  if (!PROVIDER.test(provider)) {
    return Either.left(invalid(field, "the provider namespace must look like Microsoft.Compute", value))
  }
  if (rest.length % 2 !== 0) {
    return Either.left(invalid(field, "resource segments must come in {type}/{name} pairs", value))
  }
  const resources: Array<ResourceSegment> = []
  for (let i = 0; i < rest.length; i += 2) {
    const type = rest[i] as string
    const name = rest[i + 1] as string
    if (!RESOURCE_TYPE.test(type)) {
      return Either.left(
        invalid(field, "resource types must be letters and digits, e.g. virtualMachines", value),
      )
    }
    // A nested provider or a role assignment id is not a scope azmi accepts.
    if (type.toLowerCase() === "providers") return Either.left(invalid(field, SCOPE_FORMS, value))
    const checked = parseResourceName(name, field)
    if (Either.isLeft(checked)) return Either.left(checked.left)
    resources.push({ type, name })
  }
  return Either.right(
    Scope.Resource({
      subscriptionId: subscriptionId.right,
      resourceGroupName: resourceGroupName.right,
      provider,
      resources,
    }),
  )
}

/** The unencoded segments of a scope, in order (for building paths with {@link encodePath}). */
export const scopeSegments = (scope: Scope): ReadonlyArray<string> =>
  Scope.$match(scope, {
    Subscription: ({ subscriptionId }) => ["subscriptions", subscriptionId],
    ResourceGroup: ({ subscriptionId, resourceGroupName }) => [
      "subscriptions",
      subscriptionId,
      "resourceGroups",
      resourceGroupName,
    ],
    Resource: ({ subscriptionId, resourceGroupName, provider, resources }) => [
      "subscriptions",
      subscriptionId,
      "resourceGroups",
      resourceGroupName,
      "providers",
      provider,
      ...resources.flatMap((r) => [r.type, r.name]),
    ],
  })

/** The canonical (unencoded) form of a scope, as ARM writes it in role assignments. */
export const scopeToString = (scope: Scope): string => `/${scopeSegments(scope).join("/")}`

/** The subscription a scope belongs to. */
export const scopeSubscription = (scope: Scope): SubscriptionId => scope.subscriptionId

/**
 * Joins path segments, percent-encoding each one, into an absolute path. The only `/` in the result are
 * the separators added here.
 */
export const encodePath = (segments: ReadonlyArray<string>): string =>
  `/${segments.map((s) => encodeURIComponent(s)).join("/")}`

/** Case-insensitive scope equality (ARM compares names case-insensitively). */
export const scopeEquals = (a: Scope, b: Scope): boolean =>
  scopeToString(a).toLowerCase() === scopeToString(b).toLowerCase()
