/**
 * Resource groups: one group (GET, HEAD), all groups of a subscription, and the VM's own group.
 * Path values are handed to the core as decoded strings; the core validates them (subscription GUID,
 * group name rules) and encodes every path segment it sends to ARM.
 * @module
 */
import {
  InstanceMetadata,
  parseTagFilter,
  parseTop,
  ResourceGroup,
  ResourceGroups,
  topRange,
} from "@azmi/core"
import { Chunk, Effect, Either, ParseResult, Schema, Stream } from "effect"
import type { Context } from "hono"
import { ErrorBody } from "../errors.js"
import { type CachedGroup, GroupReads, type ServedGroup } from "../services/GroupReads.js"
import { type AppEnv, defineRoute, idHeaders, runRoute } from "./route.js"

/** Path parameters of a single group. */
export const GroupParams = Schema.Struct({
  subscriptionId: Schema.String.annotations({ description: "Subscription id (a GUID)" }),
  resourceGroupName: Schema.String.annotations({ description: "Resource group name (case-insensitive)" }),
})

/** Path parameters of a subscription. */
export const SubscriptionParams = Schema.Struct({
  subscriptionId: Schema.String.annotations({ description: "Subscription id (a GUID)" }),
})

// The core checks the lengths (tag name 1–512, value up to 256 characters); the bounds here match it.
const TagFilter = Schema.String.pipe(
  Schema.minLength(1),
  Schema.filter((s) => !s.startsWith("=") || "the tag name must not be empty"),
).annotations({
  description: "Only groups with this tag: `name` or `name=value` (name 1–512, value up to 256 characters)",
})

// The core's one parse (digits only, within its bounds), so `?top=` takes exactly what `--top` takes.
const Top = Schema.transformOrFail(Schema.String, Schema.Number, {
  strict: true,
  decode: (raw, _, ast) =>
    Either.match(parseTop(raw), {
      onLeft: (e) => ParseResult.fail(new ParseResult.Type(ast, raw, e.rule)),
      onRight: ParseResult.succeed,
    }),
  encode: (n) => ParseResult.succeed(String(n)),
}).annotations({
  // What the OpenAPI document says: the wire form is a string of digits, read as this integer.
  jsonSchema: {
    type: "integer",
    minimum: topRange.min,
    maximum: topRange.max,
    description: `At most this many groups: decimal digits only, ${topRange.min}–${topRange.max}`,
  },
})

/** Query of the group list. */
export const ListQuery = Schema.Struct({
  tag: Schema.optional(TagFilter),
  top: Schema.optional(Top),
})

/** The list body, ARM's shape without `nextLink` (azmi-http follows every page). */
export const ResourceGroupList = Schema.Struct({ value: Schema.Array(ResourceGroup) }).annotations({
  identifier: "ResourceGroupList",
})

const errors = {
  400: { description: "Invalid input (`InvalidInput`)", schema: ErrorBody },
  403: {
    description: "The identity may not read it (`AuthorizationFailed`, with the fixing command as `hint`)",
    schema: ErrorBody,
  },
  404: { description: "Not found", schema: ErrorBody },
  429: { description: "Throttled upstream; see `Retry-After`", schema: ErrorBody },
  502: {
    description: "ARM or IMDS failed, ARM refused the token, or an upstream TLS certificate was refused",
    schema: ErrorBody,
  },
  503: {
    description: "No managed identity available, azmi-http's own credential refused, or ARM unavailable",
    schema: ErrorBody,
  },
  504: { description: "Upstream timeout", schema: ErrorBody },
} as const

const groupPath = "/v1/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName"

const sendGroup = (c: Context<AppEnv>, served: ServedGroup, ttlSeconds: number) => {
  const headers = groupHeaders(served.read, ttlSeconds, Date.now())
  if (served.stale) headers.warning = staleWarning(served.refreshFailed)
  return c.body(served.read.body, 200, idHeaders(c, headers))
}

/**
 * The `Warning` of a read served past its TTL (RFC 7234 §5.5): 110 always, and 111 once a refresh
 * has failed (rather than just being slow).
 */
export const staleWarning = (refreshFailed: boolean): string =>
  refreshFailed ? '110 - "Response is Stale", 111 - "Revalidation Failed"' : '110 - "Response is Stale"'

/**
 * `GET` of one group, from the cache while it is fresh. A fresh hit is answered by the app's hot
 * path before hono routes it (see `app.ts`), which takes this declaration's path, label and security.
 * Past its TTL, while ARM or IMDS fails to refresh it, the last good read is served (stale-if-error,
 * with `Age` and `Warning`).
 */
export const getResourceGroup = defineRoute({
  method: "GET",
  path: groupPath,
  operationId: "getResourceGroup",
  summary: "Read a resource group (cached for the configured TTL)",
  tag: "resourceGroups",
  params: GroupParams,
  security: "apiKey",
  responses: {
    200: {
      description: "The group",
      schema: ResourceGroup,
      headers: {
        "Cache-Control": "private, max-age=<ttl>",
        Age: "Seconds since ARM answered",
        Warning:
          'On a read served past its TTL while its refresh fails: 110 - "Response is Stale" (and 111 - "Revalidation Failed")',
        "x-ms-request-id": "ARM's request id",
      },
    },
    ...errors,
  },
  handler:
    (deps) =>
    (c, { params }) =>
      runRoute(
        c,
        deps,
        Effect.flatMap(GroupReads, (reads) =>
          Effect.map(
            reads.getServable(params.subscriptionId, params.resourceGroupName),
            (served) => [served, reads.ttlSeconds] as const,
          ),
        ),
        ([read, ttl]) => sendGroup(c, read, ttl),
      ),
})

/** `HEAD` of one group: ARM's existence check, not a read. */
export const resourceGroupExists = defineRoute({
  method: "HEAD",
  path: groupPath,
  operationId: "resourceGroupExists",
  summary: "Whether a resource group exists (204 yes, 404 no)",
  tag: "resourceGroups",
  params: GroupParams,
  security: "apiKey",
  responses: { 204: { description: "It exists" }, ...errors },
  handler:
    (deps) =>
    (c, { params }) =>
      runRoute(
        c,
        deps,
        Effect.flatMap(ResourceGroups, (groups) =>
          groups.exists(params.subscriptionId, params.resourceGroupName),
        ),
        (exists) => {
          c.header("Cache-Control", "no-store")
          return c.body(null, exists ? 204 : 404)
        },
      ),
})

/** Every group of a subscription, all pages. */
export const listResourceGroups = defineRoute({
  method: "GET",
  path: "/v1/subscriptions/:subscriptionId/resourceGroups",
  operationId: "listResourceGroups",
  summary: "Every resource group of a subscription (all pages)",
  tag: "resourceGroups",
  params: SubscriptionParams,
  query: ListQuery,
  security: "apiKey",
  responses: { 200: { description: "The groups", schema: ResourceGroupList }, ...errors },
  handler:
    (deps) =>
    (c, { params, query: { tag, top } }) => {
      const tagFilter = tag === undefined ? undefined : parseTagFilter(tag)
      return runRoute(
        c,
        deps,
        Effect.flatMap(ResourceGroups, (groups) =>
          Stream.runCollect(
            groups.list(params.subscriptionId, {
              ...(tagFilter === undefined ? {} : { tag: tagFilter }),
              ...(top === undefined ? {} : { top }),
            }),
          ),
        ),
        (groups) => {
          c.header("Cache-Control", "no-store")
          return c.json({ value: Chunk.toReadonlyArray(groups) }, 200)
        },
      )
    },
})

/** The VM's own group, from instance metadata. */
export const getOwnResourceGroup = defineRoute({
  method: "GET",
  path: "/v1/resourceGroup",
  operationId: "getOwnResourceGroup",
  summary: "The VM's own resource group (from instance metadata)",
  tag: "resourceGroups",
  security: "apiKey",
  responses: { 200: { description: "The group", schema: ResourceGroup }, ...errors },
  handler: (deps) => (c) =>
    runRoute(
      c,
      deps,
      Effect.gen(function* () {
        const compute = yield* Effect.flatMap(InstanceMetadata, (m) => m.compute)
        const reads = yield* GroupReads
        const served = yield* reads.getServable(compute.subscriptionId, compute.resourceGroupName)
        return [served, reads.ttlSeconds] as const
      }),
      ([read, ttl]) => sendGroup(c, read, ttl),
    ),
})

/** The routes of this module. */
export const resourceGroupRoutes = [
  getResourceGroup,
  resourceGroupExists,
  listResourceGroups,
  getOwnResourceGroup,
]

/** The route of one group, as hono (and so the metrics and the access log) names it. */
export const groupRoute = getResourceGroup.path

/**
 * The headers of a group read, as name/value pairs in the order the routed answer puts them on the
 * wire — by name, as hono's `Headers` iterate — so the hot path (`hotPath.ts`), which writes these
 * pairs itself, sends the same bytes. Names are lower case, as they reach the wire from `Headers` too.
 * With `requestId`, the request ids are included (the caller's `x-ms-client-request-id` only when
 * given). A cached read says how old it is (`Age`, whole seconds since ARM answered), so a client's
 * own cache keeps it only for what is left of `max-age`.
 */
export const groupHeaderPairs = (
  read: CachedGroup,
  ttlSeconds: number,
  nowMs: number,
  requestId?: string,
  clientRequestId?: string,
): Array<string> => {
  const pairs =
    ttlSeconds > 0
      ? [
          "age",
          String(nowMs > read.fetchedAt ? Math.floor((nowMs - read.fetchedAt) / 1000) : 0),
          "cache-control",
          privateMaxAge(ttlSeconds),
          "content-type",
          json,
        ]
      : ["cache-control", "no-store", "content-type", json]
  if (clientRequestId !== undefined && requestId !== undefined)
    pairs.push("x-ms-client-request-id", clientRequestId)
  const armRequestId = read.metadata.requestId
  if (armRequestId !== undefined) pairs.push("x-ms-request-id", armRequestId)
  if (requestId !== undefined) pairs.push("x-request-id", requestId)
  return pairs
}

const json = "application/json; charset=utf-8"

// `Cache-Control` of a cached read: the TTL is the server's, so the value is built once, not per hit.
let maxAgeTtl = Number.NaN
let maxAgeValue = ""
const privateMaxAge = (ttlSeconds: number): string => {
  if (ttlSeconds !== maxAgeTtl) {
    maxAgeTtl = ttlSeconds
    maxAgeValue = `private, max-age=${ttlSeconds}`
  }
  return maxAgeValue
}

/** {@link groupHeaderPairs} without the request ids, as a fresh object (the caller adds to it). */
export const groupHeaders = (
  read: CachedGroup,
  ttlSeconds: number,
  nowMs: number,
): Record<string, string> => {
  const pairs = groupHeaderPairs(read, ttlSeconds, nowMs)
  const headers: Record<string, string> = {}
  for (let i = 0; i < pairs.length; i += 2) headers[pairs[i] as string] = pairs[i + 1] as string
  return headers
}
