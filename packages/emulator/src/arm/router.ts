/**
 * ARM's request pipeline: route → authenticate → api-version → subscription (format, existence, tenant)
 * → read throttling → the route (which authorises with RBAC). Every reply carries ARM's standard headers.
 */
import { randomUUID } from "node:crypto"
import { header, jsonReply, type Reply, type RouteRequest } from "../http.js"
import type { TokenIssuer } from "../token/issuer.js"
import type { Subscription } from "../world/model.js"
import { authenticate } from "./auth.js"
import { type ArmCall, type ArmContext, GUID } from "./context.js"
import {
  armError,
  invalidApiVersion,
  invalidSubscriptionId,
  missingApiVersion,
  subscriptionNotFound,
  throttled,
  wrongTenant,
} from "./errors.js"
import { hasAnyAssignmentTouching } from "./rbac.js"
import {
  deleteResourceGroup,
  getResourceGroup,
  listResourceGroups,
  patchResourceGroup,
  putResourceGroup,
} from "./resourceGroups.js"
import {
  deleteRoleAssignment,
  getRoleAssignment,
  getRoleDefinition,
  listRoleAssignments,
  listRoleDefinitions,
  parseScope,
  putRoleAssignment,
  type Scope,
} from "./roles.js"
import type { TokenBuckets } from "./throttle.js"
import {
  RESOURCES_API_VERSIONS,
  ROLE_ASSIGNMENTS_API_VERSIONS,
  ROLE_DEFINITIONS_API_VERSIONS,
  SUBSCRIPTIONS_API_VERSIONS,
} from "./versions.js"

export interface ArmRouterContext extends ArmContext {
  readonly issuer: TokenIssuer
  readonly reads: TokenBuckets
}

type Handler = (call: ArmCall) => Reply

interface Route {
  readonly subscriptionId?: string
  readonly apiVersions: ReadonlyArray<string>
  readonly resourceType: string
  readonly namespace: string
  /** Method → handler; absent methods answer 405. */
  readonly methods: Readonly<Partial<Record<string, Handler>>>
}

const subscriptionJson = (s: Subscription): Record<string, unknown> => ({
  id: `/subscriptions/${s.subscriptionId}`,
  authorizationSource: "RoleBased",
  managedByTenants: [],
  subscriptionId: s.subscriptionId,
  tenantId: s.tenantId,
  displayName: s.displayName,
  state: s.state ?? "Enabled",
  subscriptionPolicies: {
    locationPlacementId: "Public_2014-09-01",
    quotaId: "PayAsYouGo_2014-09-01",
    spendingLimit: "Off",
  },
})

const getSubscription: Handler = (call) => {
  const s = call.subscription!
  if (!hasAnyAssignmentTouching(call.ctx.store, call.caller.oid, `/subscriptions/${s.subscriptionId}`)) {
    return armError(
      403,
      "AuthorizationFailed",
      `The client '${call.caller.appid}' with object id '${call.caller.oid}' does not have authorization to perform action 'Microsoft.Resources/subscriptions/read' over scope '/subscriptions/${s.subscriptionId}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    )
  }
  return jsonReply(200, subscriptionJson(s))
}

const listSubscriptions: Handler = (call) => {
  const visible = call.ctx.store
    .subscriptions()
    .filter(
      (s) =>
        s.tenantId.toLowerCase() === call.caller.tenantId.toLowerCase() &&
        hasAnyAssignmentTouching(call.ctx.store, call.caller.oid, `/subscriptions/${s.subscriptionId}`),
    )
  return jsonReply(200, {
    value: visible.map(subscriptionJson),
    count: { type: "Total", value: visible.length },
  })
}

const rolesRoute = (scope: Scope, kind: string, name: string | undefined): Route | undefined => {
  const base = scope.subscriptionId === undefined ? {} : { subscriptionId: scope.subscriptionId }
  if (kind === "roleassignments") {
    return {
      ...base,
      apiVersions: ROLE_ASSIGNMENTS_API_VERSIONS,
      resourceType: "roleAssignments",
      namespace: "Microsoft.Authorization",
      methods:
        name === undefined
          ? { GET: (c) => listRoleAssignments(c, scope) }
          : {
              GET: (c) => getRoleAssignment(c, scope, name),
              PUT: (c) => putRoleAssignment(c, scope, name),
              DELETE: (c) => deleteRoleAssignment(c, scope, name),
            },
    }
  }
  if (kind === "roledefinitions") {
    return {
      ...base,
      apiVersions: ROLE_DEFINITIONS_API_VERSIONS,
      resourceType: "roleDefinitions",
      namespace: "Microsoft.Authorization",
      methods:
        name === undefined
          ? { GET: (c) => listRoleDefinitions(c, scope) }
          : { GET: (c) => getRoleDefinition(c, scope, name) },
    }
  }
  return undefined
}

const match = (segments: ReadonlyArray<string>): Route | undefined => {
  const lower = segments.map((s) => s.toLowerCase())
  // {scope}/providers/Microsoft.Authorization/{roleAssignments|roleDefinitions}[/{name}]
  for (let i = lower.length - 2; i >= 0; i--) {
    if (lower[i] === "providers" && lower[i + 1] === "microsoft.authorization") {
      const kind = lower[i + 2]
      const rest = segments.slice(i + 3)
      if (kind === undefined || rest.length > 1) return undefined
      const scope = parseScope(segments.slice(0, i))
      return scope === undefined ? undefined : rolesRoute(scope, kind, rest[0])
    }
  }
  const [s0, sub, s2, rg, ...rest] = segments
  if (lower[0] !== "subscriptions" || s0 === undefined) return undefined
  const resources = { apiVersions: RESOURCES_API_VERSIONS, namespace: "Microsoft.Resources" }
  if (sub === undefined) {
    return {
      apiVersions: SUBSCRIPTIONS_API_VERSIONS,
      namespace: "Microsoft.Resources",
      resourceType: "subscriptions",
      methods: { GET: listSubscriptions },
    }
  }
  if (s2 === undefined) {
    return {
      subscriptionId: sub,
      apiVersions: SUBSCRIPTIONS_API_VERSIONS,
      namespace: "Microsoft.Resources",
      resourceType: "subscriptions",
      methods: { GET: getSubscription },
    }
  }
  if (lower[2] !== "resourcegroups" || rest.length > 0) return undefined
  if (rg === undefined) {
    return {
      ...resources,
      subscriptionId: sub,
      resourceType: "resourceGroups",
      methods: { GET: listResourceGroups },
    }
  }
  return {
    ...resources,
    subscriptionId: sub,
    resourceType: "resourceGroups",
    methods: {
      GET: (c) => getResourceGroup(c, rg, false),
      HEAD: (c) => getResourceGroup(c, rg, true),
      PUT: (c) => putResourceGroup(c, rg),
      PATCH: (c) => patchResourceGroup(c, rg),
      DELETE: (c) => deleteResourceGroup(c, rg),
    },
  }
}

const decodeSegments = (path: string): string[] | undefined => {
  try {
    return path
      .split("/")
      .filter((s) => s !== "")
      .map((s) => decodeURIComponent(s))
  } catch {
    return undefined
  }
}

export class ArmRouter {
  constructor(private readonly ctx: ArmRouterContext) {}

  async handle(req: RouteRequest): Promise<Reply> {
    const requestId = randomUUID()
    const reply = await this.route(req)
    return withArmHeaders(req, reply, requestId, this.ctx.now())
  }

  private async route(req: RouteRequest): Promise<Reply> {
    const segments = decodeSegments(req.path)
    if (segments === undefined)
      return armError(400, "InvalidRequestUri", `The request URI '${req.rawPath}' is invalid.`)
    const route = match(segments)
    const store = this.ctx.store
    const knownSub =
      route?.subscriptionId === undefined ? undefined : store.findSubscription(route.subscriptionId)
    const challengeTenant = knownSub?.tenantId ?? store.defaultTenantId
    const nowMs = this.ctx.now()
    const auth = await authenticate(req, this.ctx.issuer, store, challengeTenant, nowMs)
    if (!auth.ok) return auth.reply
    if (route === undefined) {
      return armError(
        404,
        "InvalidResourceType",
        `The resource type could not be found for the request path '${req.rawPath}'.`,
      )
    }
    const apiVersion = req.query.get("api-version")
    if (apiVersion === null || apiVersion === "") return missingApiVersion()
    if (!route.apiVersions.includes(apiVersion)) {
      return invalidApiVersion(apiVersion, route.apiVersions, route.resourceType, route.namespace)
    }
    let subscription: Subscription | undefined
    if (route.subscriptionId !== undefined) {
      if (!GUID.test(route.subscriptionId)) return invalidSubscriptionId(route.subscriptionId)
      subscription = knownSub
      if (subscription === undefined) return subscriptionNotFound(route.subscriptionId)
      if (subscription.tenantId.toLowerCase() !== auth.caller.tenantId.toLowerCase()) {
        return wrongTenant(auth.caller.tenantId, subscription.tenantId)
      }
    }
    const handler = route.methods[req.method]
    if (handler === undefined) {
      return armError(
        405,
        "HttpMethodNotSupported",
        `The HTTP method '${req.method}' is not supported for the resource type '${route.namespace}/${route.resourceType}'.`,
        { allow: Object.keys(route.methods).join(", ") },
      )
    }
    const read = req.method === "GET" || req.method === "HEAD"
    let rateHeaders: Record<string, string> = {}
    if (read) {
      const sub = subscription?.subscriptionId ?? "tenant"
      const taken = this.ctx.reads.take(`${sub.toLowerCase()}|${auth.caller.oid.toLowerCase()}`)
      if (!taken.allowed) return throttled(sub, auth.caller.oid, taken.retryAfterSeconds)
      rateHeaders = { "x-ms-ratelimit-remaining-subscription-reads": String(taken.remaining) }
    } else {
      rateHeaders =
        req.method === "DELETE"
          ? { "x-ms-ratelimit-remaining-subscription-deletes": "199" }
          : { "x-ms-ratelimit-remaining-subscription-writes": "199" }
    }
    const reply = handler({ ctx: this.ctx, req, caller: auth.caller, apiVersion, subscription })
    return { ...reply, headers: { ...reply.headers, ...rateHeaders } }
  }
}

const routingTimestamp = (ms: number): string =>
  new Date(ms)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")

/** ARM's standard response headers. */
export const withArmHeaders = (req: RouteRequest, reply: Reply, requestId: string, nowMs: number): Reply => {
  const correlation = header(req.headers, "x-ms-correlation-request-id") ?? requestId
  const clientRequestId = header(req.headers, "x-ms-client-request-id")
  const headers: Record<string, string> = {
    "cache-control": "no-cache",
    pragma: "no-cache",
    expires: "-1",
    "x-ms-request-id": requestId,
    "x-ms-correlation-request-id": correlation,
    "x-ms-routing-request-id": `WESTUS:${routingTimestamp(nowMs)}:${requestId}`,
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "x-content-type-options": "nosniff",
    ...(clientRequestId === undefined ? {} : { "x-ms-client-request-id": clientRequestId }),
    ...reply.headers,
  }
  return { ...reply, headers }
}
