/**
 * The hono application: request id, access log and metrics, size limits, the route table (which
 * registers every route with its credential check and 405s), ARM-style errors, and the hot path of
 * cached group reads. No listening here (`main.ts` does that), so tests drive it with `app.request()`.
 * @module
 */
import type { Readable } from "node:stream"
import { parseWholeNumber } from "@azmi/core"
import { Context } from "effect"
import { Hono, type Context as HonoContext } from "hono"
import { HTTPException } from "hono/http-exception"
import { routePath } from "hono/route"
import { getPath } from "hono/utils/url"
import { guardsOf } from "./auth.js"
import { errorBody } from "./errors.js"
import { authorityOf, hostCheckOf } from "./hostCheck.js"
import { batchedSink } from "./logSink.js"
import { recordRequest, requestRecorder, trackInFlight } from "./metrics.js"
import { openApiDocument } from "./openapi.js"
import { nextRequestId } from "./requestId.js"
import { getImdsToken, tokenHotPath } from "./routes/imds.js"
import { getResourceGroup, groupHeaders, groupRoute } from "./routes/resourceGroups.js"
import { type AnyRoute, type AppEnv, builtRuntime, type RouteDeps, requestHeader } from "./routes/route.js"
import { plainParams, registerRoutes, routeTable } from "./routes/table.js"
import { GroupReads } from "./services/GroupReads.js"
import { TokenBroker } from "./services/TokenBroker.js"

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
  /** The routes to serve (default: `routeTable(config)`; the health listener serves a few of them). */
  readonly routes?: ReadonlyArray<AnyRoute> | undefined
  /** Where access-log lines (one JSON object each) go. Default: stdout, batched per event-loop turn. */
  readonly log?: ((line: string) => void) | undefined
  /** True once shutdown began: responses then carry `Connection: close` and `/readyz` answers 503. */
  readonly isDraining?: (() => boolean) | undefined
}

/**
 * The JSON line of an access-log record: exactly `JSON.stringify(record)`, in a fraction of its time
 * (it runs on every request). Every string a client influenced goes through `JSON.stringify`.
 */
export const accessLogLine = (r: AccessLogRecord): string =>
  `{"time":"${r.time}","level":"${r.level}","msg":"request","requestId":${JSON.stringify(r.requestId)}${
    r.clientRequestId === undefined ? "" : `,"clientRequestId":${JSON.stringify(r.clientRequestId)}`
  },"method":${JSON.stringify(r.method)},"path":${JSON.stringify(r.path)},"route":${JSON.stringify(r.route)},"status":${r.status},"durationMs":${JSON.stringify(r.durationMs)}}`

/**
 * The access-log line of a hit answered by a hot path (a cached group read, IMDS's token route):
 * {@link accessLogLine} of `{ method: "GET", route, status: 200, level: "info" }` with the constant
 * parts written once. `requestId` comes from `nextRequestId` (hex and dashes) and `clientRequestId`
 * passed `clientRequestIdOf`, so neither needs escaping; `pathJson` is `JSON.stringify` of the
 * (truncated) path.
 * @internal
 */
export const hitLogLine = (route: string) => {
  const tail = `"route":${JSON.stringify(route)},"status":200,"durationMs":`
  return (
    time: string,
    requestId: string,
    clientRequestId: string | undefined,
    pathJson: string,
    durationMs: number,
  ): string =>
    `{"time":"${time}","level":"info","msg":"request","requestId":"${requestId}"${
      clientRequestId === undefined ? "" : `,"clientRequestId":"${clientRequestId}"`
    },"method":"GET","path":${pathJson},${tail}${durationMs}}`
}

/** {@link hitLogLine} of a cached group read. @internal */
export const groupHitLogLine = hitLogLine(groupRoute)

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
  const table = options.routes ?? routeTable(config)
  const guards = guardsOf(config)
  const hosts = hostCheckOf(config)
  const app = new Hono<AppEnv>({ getPath: (request) => imdsPath(getPath(request)) })

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
      if (!hosts.accepts(authorityOf(c.req.url), localAddressOf(c.env))) {
        c.res = misdirected(c)
      } else if (c.req.url.length > maxUrlLength) {
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

  // No route reads a body, so the limit is applied here, to every request whatever its method:
  // a declared length is compared, and a body of unknown length (chunked) is counted before
  // anything answers. Over the limit, the connection is closed rather than read to its end.
  const tooLarge = (c: HonoContext<AppEnv>) =>
    c.json(
      errorBody("PayloadTooLarge", `The request body is larger than ${config.maxBodyBytes} bytes.`),
      413,
      {
        Connection: "close",
      },
    )
  app.use(async (c, next) => {
    const length = requestHeader(c, "content-length")
    if (length !== undefined) {
      const bytes = parseWholeNumber(length)
      if (bytes === undefined)
        return c.json(errorBody("BadRequest", "Content-Length must be a whole number of bytes."), 400)
      return bytes > config.maxBodyBytes ? tooLarge(c) : next()
    }
    if (requestHeader(c, "transfer-encoding") === undefined) return next()
    return (await bodyFits(c, config.maxBodyBytes)) ? next() : tooLarge(c)
  })

  registerRoutes(
    app,
    table,
    {
      ...options,
      isDraining,
      openApi: () => openApiDocument(table, { title: "azmi-http", version }),
    },
    guards,
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
  // The health listener serves no group reads and no tokens: no hot path there.
  const imdsHot = table.includes(getImdsToken) ? tokenHotPath() : undefined
  if (!table.includes(getResourceGroup)) return app
  const routed = app.fetch
  const recordToken = requestRecorder(getImdsToken.path, "GET", 200)
  const tokenHitLogLine = hitLogLine(getImdsToken.path)
  const tokenPathJson = JSON.stringify(getImdsToken.path)
  let broker: typeof TokenBroker.Service | undefined
  const hot = getResourceGroup
  const hotParams = plainParams(hot.path)
  const hotGuard = hot.security === undefined ? undefined : guards[hot.security]
  const recordHit = requestRecorder(hot.path, "GET", 200)
  // Neighbours mostly read the same few groups: the escaped path of the last hit is kept.
  let lastPath = ""
  let lastPathJson = '""'
  let reads: typeof GroupReads.Service | undefined
  /**
   * What both hot paths check first: the request's header reader, or `undefined` when hono must
   * decide — a body (declared or chunked) is for the limit to judge, and a Host that names another
   * server (DNS rebinding) for the edge middleware to refuse.
   */
  const plainHeaders = (
    request: Request,
    env: unknown,
  ): ((name: string) => string | undefined) | undefined => {
    const headers = nodeHeaders(env)
    const header = (name: string) => {
      if (headers === undefined) return request.headers.get(name) ?? undefined
      const value = headers[name]
      return Array.isArray(value) ? value.join(", ") : value
    }
    if (header("content-length") !== undefined || header("transfer-encoding") !== undefined) return undefined
    const authority = headers === undefined ? authorityOf(request.url) : header("host")
    return hosts.accepts(authority, localAddressOf(env)) ? header : undefined
  }

  // IMDS's token route, a plain cache hit of the default identity (see `tokenHotPath`); else hono.
  const imdsToken = (
    request: Request,
    env: unknown,
    executionCtx: Parameters<typeof routed>[2],
    started: number,
    target: string,
    query: number,
  ) => {
    if (imdsHot === undefined || target.length > maxUrlLength) return routed(request, env, executionCtx)
    const header = plainHeaders(request, env)
    if (header === undefined) return routed(request, env, executionCtx)
    if (broker === undefined) {
      const runtime = builtRuntime(options.runtime)
      if (runtime === undefined) return routed(request, env, executionCtx)
      broker = Context.get(runtime.context, TokenBroker)
    }
    const body = imdsHot.answer(
      broker,
      header,
      remoteAddressOf(env),
      query < 0 ? "" : target.slice(query + 1),
    )
    if (body === undefined) return routed(request, env, executionCtx)
    const id = nextRequestId()
    const clientRequestId = clientRequestIdOf(header("x-ms-client-request-id"))
    const out: Record<string, string> = {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      "x-request-id": id,
    }
    if (clientRequestId !== undefined) out["x-ms-client-request-id"] = clientRequestId
    const response = new Response(body, { status: 200, headers: out })
    const seconds = (performance.now() - started) / 1000
    recordToken(seconds)
    log(
      tokenHitLogLine(isoAt(Date.now()), id, clientRequestId, tokenPathJson, Math.round(seconds * 1e6) / 1e3),
    )
    return response
  }

  app.fetch = (request, env, executionCtx) => {
    if (request.method !== "GET" || isDraining()) return routed(request, env, executionCtx)
    const started = performance.now()
    const headers = nodeHeaders(env)
    const target = headers === undefined ? request.url.slice(request.url.indexOf("/", 8)) : nodeUrl(env)
    const query = target.indexOf("?")
    const path = query < 0 ? target : target.slice(0, query)
    if (imdsHot !== undefined && path === imdsHot.path)
      return imdsToken(request, env, executionCtx, started, target, query)
    const names = target.length > 2_048 ? undefined : hotParams(path)
    if (names === undefined) return routed(request, env, executionCtx)
    if (reads === undefined) {
      // The services exist once the runtime is built (by the first routed request at the latest).
      const runtime = builtRuntime(options.runtime)
      if (runtime === undefined) return routed(request, env, executionCtx)
      reads = Context.get(runtime.context, GroupReads)
    }
    const header = plainHeaders(request, env)
    if (header === undefined) return routed(request, env, executionCtx)
    // A refused credential is for the route to answer.
    if (hotGuard !== undefined && !hotGuard.accepts(header)) return routed(request, env, executionCtx)
    // Last, as an answer counts as a cache hit.
    const read = reads.peek(names[0] as string, names[1] as string)
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

/**
 * IMDS answers its paths with a trailing slash too, and MSAL (so @azure/identity) sends one
 * (`…/oauth2/token/`): under `/metadata/` only, the routing path drops it. Other routes keep their
 * strict paths.
 */
export const imdsPath = (path: string): string =>
  path.length > 10 && path.charCodeAt(path.length - 1) === 47 && path.startsWith("/metadata/")
    ? path.replace(/\/+$/, "")
    : path

interface NodeEnv {
  readonly incoming?: {
    readonly url?: string
    readonly headers?: Record<string, string | Array<string> | undefined>
    readonly socket?: { readonly localAddress?: string; readonly remoteAddress?: string }
  }
}

// The address the client connected to, and the client's (under @hono/node-server); in tests none.
const localAddressOf = (env: unknown) => (env as NodeEnv | undefined)?.incoming?.socket?.localAddress
const remoteAddressOf = (env: unknown) => (env as NodeEnv | undefined)?.incoming?.socket?.remoteAddress

/**
 * `421 Misdirected Request` for a `Host` that names another server: in IMDS's error shape on IMDS's
 * paths (its clients parse that), azmi's ARM-style body elsewhere.
 */
const misdirected = (c: HonoContext<AppEnv>): Response => {
  const message =
    "This request names another host; azmi-http answers only requests addressed to itself (its listen address, localhost, or AZMI_HTTP_ALLOWED_HOSTS)."
  c.header("Cache-Control", "no-store")
  return c.req.path.startsWith("/metadata/")
    ? c.json({ error: "invalid_request", error_description: message }, 421)
    : c.json(errorBody("MisdirectedRequest", message), 421)
}

// Under @hono/node-server the Node request's own header object (see `requestHeader`); in tests none.
const nodeHeaders = (env: unknown) => (env as NodeEnv | undefined)?.incoming?.headers

// The Node request's target (path and query) as sent, when it is origin-form; otherwise a
// placeholder that matches no route, so hono decides.
const nodeUrl = (env: unknown) => {
  const url = (env as NodeEnv).incoming?.url
  return url?.startsWith("/") === true ? url : "*"
}

/**
 * Whether a request body of unknown length (chunked) is at most `max` bytes: reads it, and stops as
 * soon as it passes `max`. Under @hono/node-server the Node request is read (hono exposes no body for
 * GET and HEAD); otherwise (tests) the WHATWG body.
 */
const bodyFits = async (c: HonoContext<AppEnv>, max: number): Promise<boolean> => {
  const incoming = (c.env as { incoming?: Readable } | undefined)?.incoming
  if (incoming !== undefined && typeof incoming.on === "function") {
    if (incoming.readableEnded) return true
    return new Promise<boolean>((resolve) => {
      let seen = 0
      const settle = (fits: boolean) => {
        incoming.off("data", onData)
        incoming.off("end", onEnd)
        incoming.off("error", onFail)
        incoming.off("close", onFail)
        if (!fits) incoming.pause()
        resolve(fits)
      }
      const onData = (chunk: Buffer | string) => {
        seen += chunk.length
        if (seen > max) settle(false)
      }
      const onEnd = () => settle(true)
      const onFail = () => settle(false)
      incoming.on("data", onData)
      incoming.on("end", onEnd)
      incoming.on("error", onFail)
      incoming.on("close", onFail)
    })
  }
  const body = c.req.raw.body
  if (body === null) return true
  const reader = body.getReader()
  let seen = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return true
    seen += value.byteLength
    if (seen > max) {
      await reader.cancel()
      return false
    }
  }
}
