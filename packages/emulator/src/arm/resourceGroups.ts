/**
 * `…/subscriptions/{sub}/resourcegroups[/{name}]`: GET, HEAD, PUT, PATCH, DELETE and list (`$top`,
 * `$skiptoken`, `$filter` by tag). Names are case-insensitive and case-preserving; `id` always says
 * `resourceGroups`. A caller with only group-scoped access sees just the groups it may read.
 */
import { emptyReply, jsonReply, type Reply } from "../http.js"
import type { ResourceGroup } from "../world/model.js"
import { type ArmCall, isRecord, parseJsonBody, queryParam } from "./context.js"
import { armError, authorizationFailed, resourceGroupNotFound } from "./errors.js"
import { hasAnyAssignmentTouching, isAuthorized } from "./rbac.js"

export const RG_READ = "Microsoft.Resources/subscriptions/resourcegroups/read"
export const RG_WRITE = "Microsoft.Resources/subscriptions/resourcegroups/write"
export const RG_DELETE = "Microsoft.Resources/subscriptions/resourcegroups/delete"

const rgScope = (sub: string, name: string): string => `/subscriptions/${sub}/resourcegroups/${name}`

export const resourceGroupJson = (g: ResourceGroup): Record<string, unknown> => ({
  id: `/subscriptions/${g.subscriptionId}/resourceGroups/${g.name}`,
  name: g.name,
  type: "Microsoft.Resources/resourceGroups",
  location: g.location,
  ...(g.managedBy === undefined ? {} : { managedBy: g.managedBy }),
  ...(g.tags === undefined ? {} : { tags: g.tags }),
  properties: { provisioningState: "Succeeded" },
})

const denied = (call: ArmCall, action: string, scope: string): Reply =>
  authorizationFailed(call.caller.appid, call.caller.oid, action, scope)

// Letters, digits (any script), _ - . ( ); 1–90 chars; not ending in a period.
const RG_NAME = /^[-\p{L}\p{Nd}_.()]{1,90}$/u

export const validateResourceGroupName = (name: string): Reply | undefined => {
  if (name.length > 90) {
    return armError(
      400,
      "InvalidResourceGroup",
      `The provided resource group name '${name}' has more than 90 characters.`,
    )
  }
  if (!RG_NAME.test(name) || name.endsWith(".")) {
    const bad = [...new Set([...name].filter((c) => !/^[-\p{L}\p{Nd}_.()]$/u.test(c)))].join("")
    return armError(
      400,
      "InvalidResourceGroup",
      `The provided resource group name '${name}' has these invalid characters: '${bad || "."}'. The name can only be a letter, digit, '-', '.', '(', ')' or '_'.`,
    )
  }
  return undefined
}

export const getResourceGroup = (call: ArmCall, name: string, head: boolean): Reply => {
  const sub = call.subscription!.subscriptionId
  if (!isAuthorized(call.ctx.store, call.caller.oid, RG_READ, rgScope(sub, name))) {
    return denied(call, RG_READ, rgScope(sub, name))
  }
  const group = call.ctx.store.findResourceGroup(sub, name)
  if (head) return emptyReply(group === undefined ? 404 : 204)
  return group === undefined ? resourceGroupNotFound(name) : jsonReply(200, resourceGroupJson(group))
}

const parseTags = (value: unknown): Record<string, string> | string => {
  if (!isRecord(value)) return "The 'tags' property must be an object of string values."
  const tags: Record<string, string> = {}
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") return `The value of tag '${k}' must be a string.`
    tags[k] = v
  }
  return tags
}

const invalidContent = (message: string): Reply =>
  armError(
    400,
    "InvalidRequestContent",
    `The request content was invalid and could not be deserialized: '${message}'.`,
  )

export const putResourceGroup = (call: ArmCall, name: string): Reply => {
  const sub = call.subscription!.subscriptionId
  if (!isAuthorized(call.ctx.store, call.caller.oid, RG_WRITE, rgScope(sub, name))) {
    return denied(call, RG_WRITE, rgScope(sub, name))
  }
  const invalidName = validateResourceGroupName(name)
  if (invalidName !== undefined) return invalidName
  const parsed = parseJsonBody(call.req.body)
  if (!parsed.ok) return invalidContent(parsed.message)
  if (!isRecord(parsed.value)) return invalidContent("The request body must be a JSON object.")
  const body = parsed.value
  const location = body.location
  if (typeof location !== "string" || location.trim() === "") {
    return armError(400, "LocationRequired", "The location property is required for this definition.")
  }
  let tags: Record<string, string> | undefined
  if (body.tags !== undefined && body.tags !== null) {
    const t = parseTags(body.tags)
    if (typeof t === "string") return invalidContent(t)
    tags = t
  }
  const existing = call.ctx.store.findResourceGroup(sub, name)
  const normalisedLocation = location.replace(/\s+/g, "").toLowerCase()
  if (existing !== undefined && existing.location.toLowerCase() !== normalisedLocation) {
    return armError(
      409,
      "InvalidResourceGroupLocation",
      `Invalid resource group location '${location}'. The Resource group already exists in location '${existing.location}'.`,
    )
  }
  const managedBy = typeof body.managedBy === "string" ? body.managedBy : undefined
  const { group, created } = call.ctx.store.putResourceGroup({
    subscriptionId: call.subscription!.subscriptionId,
    name,
    location: existing?.location ?? normalisedLocation,
    ...(tags === undefined ? {} : { tags }),
    ...(managedBy === undefined ? {} : { managedBy }),
  })
  return jsonReply(created ? 201 : 200, resourceGroupJson(group))
}

export const patchResourceGroup = (call: ArmCall, name: string): Reply => {
  const sub = call.subscription!.subscriptionId
  if (!isAuthorized(call.ctx.store, call.caller.oid, RG_WRITE, rgScope(sub, name))) {
    return denied(call, RG_WRITE, rgScope(sub, name))
  }
  const existing = call.ctx.store.findResourceGroup(sub, name)
  if (existing === undefined) return resourceGroupNotFound(name)
  const parsed = parseJsonBody(call.req.body)
  if (!parsed.ok) return invalidContent(parsed.message)
  if (!isRecord(parsed.value)) return invalidContent("The request body must be a JSON object.")
  let tags = existing.tags
  if (parsed.value.tags !== undefined) {
    const t = parseTags(parsed.value.tags)
    if (typeof t === "string") return invalidContent(t)
    tags = t
  }
  const { group } = call.ctx.store.putResourceGroup({
    ...existing,
    name,
    ...(tags === undefined ? {} : { tags }),
  })
  return jsonReply(200, resourceGroupJson(group))
}

export const deleteResourceGroup = (call: ArmCall, name: string): Reply => {
  const sub = call.subscription!.subscriptionId
  if (!isAuthorized(call.ctx.store, call.caller.oid, RG_DELETE, rgScope(sub, name))) {
    return denied(call, RG_DELETE, rgScope(sub, name))
  }
  // Deletion completes synchronously here; 200 ends the SDK's long-running-operation poller at once.
  return call.ctx.store.deleteResourceGroup(sub, name) === undefined
    ? resourceGroupNotFound(name)
    : emptyReply(200)
}

interface TagFilter {
  readonly name: string
  readonly value?: string
}

const unquote = (s: string): string => s.replaceAll("''", "'")

const parseFilter = (filter: string): TagFilter | undefined => {
  const m = /^\s*tagname\s+eq\s+'((?:[^']|'')*)'(?:\s+and\s+tagvalue\s+eq\s+'((?:[^']|'')*)')?\s*$/i.exec(
    filter,
  )
  if (m === null || m[1] === undefined) return undefined
  return m[2] === undefined ? { name: unquote(m[1]) } : { name: unquote(m[1]), value: unquote(m[2]) }
}

const matchesTag = (g: ResourceGroup, f: TagFilter): boolean =>
  Object.entries(g.tags ?? {}).some(
    ([k, v]) => k.toLowerCase() === f.name.toLowerCase() && (f.value === undefined || v === f.value),
  )

const encodeSkipToken = (offset: number): string =>
  Buffer.from(JSON.stringify({ o: offset })).toString("base64url")

const decodeSkipToken = (token: string): number | undefined => {
  try {
    const v: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"))
    return isRecord(v) && typeof v.o === "number" && Number.isInteger(v.o) && v.o >= 0 ? v.o : undefined
  } catch {
    return undefined
  }
}

export const listResourceGroups = (call: ArmCall): Reply => {
  const sub = call.subscription!.subscriptionId
  const store = call.ctx.store
  const oid = call.caller.oid
  const subScope = `/subscriptions/${sub}`
  const all = [...store.resourceGroups(sub)].sort((a, b) =>
    a.name.toLowerCase() < b.name.toLowerCase() ? -1 : a.name.toLowerCase() > b.name.toLowerCase() ? 1 : 0,
  )
  let visible: ResourceGroup[]
  if (isAuthorized(store, oid, RG_READ, subScope)) visible = all
  else if (hasAnyAssignmentTouching(store, oid, subScope)) {
    visible = all.filter((g) => isAuthorized(store, oid, RG_READ, rgScope(sub, g.name)))
  } else return denied(call, RG_READ, subScope)

  const filterText = queryParam(call.req.query, "$filter")
  if (filterText !== null && filterText.trim() !== "") {
    const f = parseFilter(filterText)
    if (f === undefined) {
      return armError(
        400,
        "InvalidFilterInQueryString",
        `The $filter '${filterText}' is not supported. Use "tagName eq '{name}'" optionally followed by " and tagValue eq '{value}'".`,
      )
    }
    visible = visible.filter((g) => matchesTag(g, f))
  }
  const topText = queryParam(call.req.query, "$top")
  let top: number | undefined
  if (topText !== null && topText !== "") {
    if (!/^\d+$/.test(topText) || Number(topText) < 1 || Number(topText) > 1000) {
      return armError(
        400,
        "InvalidTopParameter",
        `The $top value '${topText}' is invalid. It must be an integer from 1 to 1000.`,
      )
    }
    top = Number(topText)
  }
  const skipText = queryParam(call.req.query, "$skiptoken")
  let offset = 0
  if (skipText !== null && skipText !== "") {
    const decoded = decodeSkipToken(skipText)
    if (decoded === undefined)
      return armError(400, "InvalidSkipToken", `The $skiptoken '${skipText}' is invalid.`)
    offset = decoded
  }
  const page = top === undefined ? visible.slice(offset) : visible.slice(offset, offset + top)
  const body: Record<string, unknown> = { value: page.map(resourceGroupJson) }
  const next = offset + page.length
  if (top !== undefined && next < visible.length) {
    const params = new URLSearchParams({ "api-version": call.apiVersion })
    if (filterText !== null && filterText.trim() !== "") params.set("$filter", filterText)
    params.set("$top", String(top))
    params.set("$skiptoken", encodeSkipToken(next))
    body.nextLink = `${call.ctx.baseUrl()}/subscriptions/${sub}/resourcegroups?${params.toString()}`
  }
  return jsonReply(200, body)
}
