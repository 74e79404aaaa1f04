/**
 * The hono application: request id, access log and metrics, size limits, API-key auth on `/v1`,
 * one router per resource, ARM-style errors. No listening here (`main.ts` does that), so tests drive
 * it with `app.request()`.
 * @module
 */
import { Context } from "effect"
import { Hono, type Context as HonoContext } from "hono"
import { bodyLimit } from "hono/body-limit"
import { HTTPException } from "hono/http-exception"
import { routePath } from "hono/route"
import type { HttpConfig } from "./config.js"
import { errorBody } from "./errors.js"
import { batchedSink } from "./logSink.js"
import { recordRequest, requestRecorder, trackInFlight } from "./metrics.js"
import { openApiDocument } from "./openapi.js"
import { nextRequestId } from "./requestId.js"
import { healthRouter, healthSpecs } from "./routes/health.js"
import { instanceRouter, instanceSpecs } from "./routes/instance.js"
import {
  groupHeaders,
  groupRoute,
  plainGroupNames,
  resourceGroupSpecs,
  resourceGroupsRouter,
} from "./routes/resourceGroups.js"
import { type AppEnv, builtRuntime, type RouteDeps, type RouteSpec, requestHeader } from "./routes/route.js"
import { secretDigest, secretMatches, tokenBrokerRouter, tokenBrokerSpecs } from "./routes/tokenBroker.js"
import { GroupReads } from "./services/GroupReads.js"

/** The package version, shown in `/openapi.json`. */
export const version = "0.1.0"

/** Longest request URL accepted (path and query). */
export const maxUrlLength = 8_192

/** One access-log record: what was asked, what was answered. Never headers, never the query. */
export interface AccessLogRecord {
  readonly time: string
  readonly level: "info" | "error"
  readonly msg: "request"
  readonly requestId: string
  readonly clientRequestId?: string | undefined
  readonly method: string
  readonly path: string
  readonly route: string
  readonly status: number
  readonly durationMs: number
}

/** Options of {@link createApp}. */
export interface AppOptions extends RouteDeps {
  /** Where access-log lines (one JSON object each) go. Default: stdout, batched per event-loop turn. */
  readonly log?: ((line: string) => void) | undefined
  /** True once shutdown began: responses then carry `Connection: close` and `/readyz` answers 503. */
  readonly isDraining?: (() => boolean) | undefined
}

/** Every route azmi-http can serve (the broker only when configured), for `/openapi.json`. */
export const routeSpecs = (config: Pick<HttpConfig, "identityHeader">): ReadonlyArray<RouteSpec> => [
  ...resourceGroupSpecs,
  ...instanceSpecs,
  ...(config.identityHeader === undefined ? [] : tokenBrokerSpecs),
  ...healthSpecs,
]

/**
 * The JSON line of an access-log record: exactly `JSON.stringify(record)`, in a fraction of its time
 * (it runs on every request). Every string a client influenced goes through `JSON.stringify`.
 */
export const accessLogLine = (r: AccessLogRecord): string =>
  `{"time":"${r.time}","level":"${r.level}","msg":"request","requestId":${JSON.stringify(r.requestId)}${
    r.clientRequestId === undefined ? "" : `,"clientRequestId":${JSON.stringify(r.clientRequestId)}`
  },"method":${JSON.stringify(r.method)},"path":${JSON.stringify(r.path)},"route":${JSON.stringify(r.route)},"status":${r.status},"durationMs":${JSON.stringify(r.durationMs)}}`

const groupRouteJson = JSON.stringify(groupRoute)

/**
 * The access-log line of a cached group read answered by the hot path: {@link accessLogLine} of
 * `{ method: "GET", route: groupRoute, status: 200, level: "info" }` with the constant parts written
 * once. `requestId` comes from `nextRequestId` (hex and dashes) and `clientRequestId` passed
 * `clientRequestIdOf`, so neither needs escaping; `pathJson` is `JSON.stringify` of the (truncated) path.
 * @internal
 */
export const groupHitLogLine = (
  time: string,
  requestId: string,
  clientRequestId: string | undefined,
  pathJson: string,
  durationMs: number,
): string =>
  `{"time":"${time}","level":"info","msg":"request","requestId":"${requestId}"${
    clientRequestId === undefined ? "" : `,"clientRequestId":"${clientRequestId}"`
  },"method":"GET","path":${pathJson},"route":${groupRouteJson},"status":200,"durationMs":${durationMs}}`

// `new Date().toISOString()` once per millisecond, not once per line.
let isoMs = Number.NaN
let isoText = ""
const isoAt = (now: number): string => {
  if (now !== isoMs) {
    isoMs = now
    isoText = new Date(now).toISOString()
  }
  return isoText
}

// A client's id is echoed and logged, so only a short, plain token is taken; anything else is replaced.
export const clientRequestIdOf = (header: string | undefined): string | undefined =>
  header !== undefined && /^[A-Za-z0-9._-]{1,128}$/.test(header) ? header : undefined

// Sets a header on the finished response; a response whose headers are immutable is copied first.
const setHeader = (c: HonoContext<AppEnv>, name: string, value: string) => {
  try {
    c.res.headers.set(name, value)
  } catch {
    const copy = new Response(c.res.body, c.res)
    copy.headers.set(name, value)
    c.res = copy
  }
}

/**
 * Builds azmi-http's application over a runtime that provides every service the routes use.
 *
 * @example
 * ```ts
 * const runtime = ManagedRuntime.make(HttpServices.live(config))
 * const app = createApp({ runtime, config })
 * const res = await app.request("/healthz")
 * ```
 */
export const createApp = (options: AppOptions): Hono<AppEnv> => {
  const { config } = options
  const log = options.log ?? batchedSink()
  const isDraining = options.isDraining ?? (() => false)
  const apiKeyDigest = config.apiKey === undefined ? undefined : secretDigest(config.apiKey)
  const app = new Hono<AppEnv>()

  // Metrics and the access-log line of one answered request (both paths below end here).
  const logPath = (path: string) => (path.length > 512 ? `${path.slice(0, 512)}…` : path)
  const served = (
    started: number,
    requestId: string,
    clientRequestId: string | undefined,
    method: string,
    path: string,
    route: string,
    status: number,
  ) => {
    const seconds = (performance.now() - started) / 1000
    recordRequest(route, method, status, seconds)
    log(
      accessLogLine({
        time: isoAt(Date.now()),
        level: status >= 500 ? "error" : "info",
        msg: "request",
        requestId,
        clientRequestId,
        method,
        path: logPath(path),
        route,
        status,
        durationMs: Math.round(seconds * 1e6) / 1e3,
      }),
    )
  }

  // One edge middleware (request id, in-flight gauge, URL limit, client request id, draining,
  // metrics, access log) rather than several: it runs on every request, cached reads included.
  app.use(async (c, next) => {
    const started = performance.now()
    const id = nextRequestId()
    c.set("requestId", id)
    const clientRequestId = clientRequestIdOf(requestHeader(c, "x-ms-client-request-id"))
    if (clientRequestId !== undefined) c.set("clientRequestId", clientRequestId)
    trackInFlight(1)
    try {
      if (c.req.url.length > maxUrlLength) {
        c.res = c.json(
          errorBody("UriTooLong", `The request URL is longer than ${maxUrlLength} characters.`),
          414,
        )
      } else {
        await next()
      }
    } finally {
      trackInFlight(-1)
    }
    // The hot route puts these into its response itself (see `idHeaders`): any `c.header()` call
    // makes hono build WHATWG Headers, and @hono/node-server convert them back, on every request.
    if (c.get("idHeadersSent") !== true) {
      setHeader(c, "X-Request-Id", id)
      if (clientRequestId !== undefined) setHeader(c, "x-ms-client-request-id", clientRequestId)
    }
    if (isDraining()) setHeader(c, "Connection", "close")
    const matched = routePath(c, -1)
    // Unmatched paths share one label, so a scanner cannot blow up the metric's cardinality.
    const route = matched === "/*" || matched === "*" ? "unmatched" : matched
    served(started, id, clientRequestId, c.req.method, c.req.path, route, c.res.status)
  })

  const tooLarge = (c: HonoContext<AppEnv>) =>
    c.json(errorBody("PayloadTooLarge", `The request body is larger than ${config.maxBodyBytes} bytes.`), 413)
  const limitBody = bodyLimit({ maxSize: config.maxBodyBytes, onError: tooLarge })
  app.use(async (c, next) => {
    const length = requestHeader(c, "content-length")
    if (length !== undefined && Number(length) > config.maxBodyBytes) return tooLarge(c)
    // No route reads a body. For GET/HEAD without a declared length there is nothing to count, and
    // hono's limiter would build a full WHATWG Request per read just to look.
    if (c.req.method === "GET" || c.req.method === "HEAD") return next()
    return limitBody(c, next)
  })

  if (apiKeyDigest !== undefined) {
    app.use("/v1/*", async (c, next) => {
      const header = requestHeader(c, "authorization")
      const presented = header?.startsWith("Bearer ") === true ? header.slice("Bearer ".length) : undefined
      if (!secretMatches(apiKeyDigest, presented)) {
        c.header("WWW-Authenticate", 'Bearer realm="azmi-http"')
        c.header("Cache-Control", "no-store")
        return c.json(
          errorBody("Unauthorized", "Missing or wrong API key (Authorization: Bearer <key>)."),
          401,
        )
      }
      await next()
    })
  }

  app.route("/v1", resourceGroupsRouter(options))
  app.route("/v1", instanceRouter(options))
  if (config.identityHeader !== undefined)
    app.route("/msi", tokenBrokerRouter(options, config.identityHeader))
  app.route(
    "/",
    healthRouter(
      options,
      () => openApiDocument(routeSpecs(config), { title: "azmi-http", version }),
      isDraining,
    ),
  )

  app.notFound((c) => c.json(errorBody("NotFound", `No route for ${c.req.method} ${c.req.path}.`), 404))

  // Only defects and hono's own exceptions arrive here: typed failures are rendered by the routes.
  app.onError((error, c) => {
    if (error instanceof HTTPException) {
      const status = error.status
      return c.json(
        errorBody(status >= 500 ? "InternalError" : "BadRequest", error.message || "Bad request."),
        status,
      )
    }
    log(
      JSON.stringify({
        time: new Date().toISOString(),
        level: "error",
        msg: "defect",
        requestId: c.get("requestId"),
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      }),
    )
    return c.json(
      errorBody("InternalError", `An unexpected error occurred; quote request id ${c.get("requestId")}.`),
      500,
    )
  })

  // The hot path: a GET of one group whose read is fresh in the core's cache is answered here,
  // synchronously, before hono routes it. Through hono the same answer takes several times the CPU
  // (its middleware chain is async, and the route runs an effect), and cached reads are what
  // neighbours do most. Only the plain success is answered here; anything that needs a decision
  // (other routes and methods, auth failures, limits, draining, encoded names, a cold or expired
  // entry) falls through to hono, which answers it, and a hit, the same way.
  const routed = app.fetch
  const recordHit = requestRecorder(groupRoute, "GET", 200)
  // Neighbours mostly read the same few groups: the escaped path of the last hit is kept.
  let lastPath = ""
  let lastPathJson = '""'
  let reads: typeof GroupReads.Service | undefined
  app.fetch = (request, env, executionCtx) => {
    if (request.method !== "GET" || isDraining()) return routed(request, env, executionCtx)
    const started = performance.now()
    const headers = nodeHeaders(env)
    const target = headers === undefined ? request.url.slice(request.url.indexOf("/", 8)) : nodeUrl(env)
    const query = target.indexOf("?")
    const path = query < 0 ? target : target.slice(0, query)
    const names = target.length > 2_048 ? undefined : plainGroupNames(path)
    if (names === undefined) return routed(request, env, executionCtx)
    if (reads === undefined) {
      // The services exist once the runtime is built (by the first routed request at the latest).
      const runtime = builtRuntime(options.runtime)
      if (runtime === undefined) return routed(request, env, executionCtx)
      reads = Context.get(runtime.context, GroupReads)
    }
    const header = (name: string) => {
      if (headers === undefined) return request.headers.get(name) ?? undefined
      const value = headers[name]
      return Array.isArray(value) ? value.join(", ") : value
    }
    if (header("content-length") !== undefined) return routed(request, env, executionCtx)
    if (apiKeyDigest !== undefined) {
      const authorization = header("authorization")
      const presented = authorization?.startsWith("Bearer ") === true ? authorization.slice(7) : undefined
      if (!secretMatches(apiKeyDigest, presented)) return routed(request, env, executionCtx)
    }
    // Last, as an answer counts as a cache hit.
    const read = reads.peek(names[0], names[1])
    if (read === undefined) return routed(request, env, executionCtx)
    const id = nextRequestId()
    const clientRequestId = clientRequestIdOf(header("x-ms-client-request-id"))
    const now = Date.now()
    const out = groupHeaders(read, reads.ttlSeconds, now)
    out["x-request-id"] = id
    if (clientRequestId !== undefined) out["x-ms-client-request-id"] = clientRequestId
    const response = new Response(read.body, { status: 200, headers: out })
    // What `served` does, with the route, method and status known.
    const seconds = (performance.now() - started) / 1000
    recordHit(seconds)
    if (path !== lastPath) {
      lastPath = path
      lastPathJson = JSON.stringify(logPath(path))
    }
    log(groupHitLogLine(isoAt(now), id, clientRequestId, lastPathJson, Math.round(seconds * 1e6) / 1e3))
    return response
  }

  return app
}

interface NodeEnv {
  readonly incoming?: {
    readonly url?: string
    readonly headers?: Record<string, string | Array<string> | undefined>
  }
}

// Under @hono/node-server the Node request's own header object (see `requestHeader`); in tests none.
const nodeHeaders = (env: unknown) => (env as NodeEnv | undefined)?.incoming?.headers

// The Node request's target (path and query) as sent, when it is origin-form; otherwise a
// placeholder that matches no route, so hono decides.
const nodeUrl = (env: unknown) => {
  const url = (env as NodeEnv).incoming?.url
  return url?.startsWith("/") === true ? url : "*"
}
