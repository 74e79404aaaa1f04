/**
 * The hono application: request id, access log and metrics, size limits, the route table (which
 * registers every route with its credential check and 405s), ARM-style errors, and the hot path of
 * cached reads (`hotPath.ts`) in front of it. No listening here (`server.ts` does that), so tests drive
 * it with `app.request()`.
 * @module
 */
import type { Readable } from "node:stream"
import { parseWholeNumber } from "@azmi/core"
import { Hono, type Context as HonoContext } from "hono"
import { HTTPException } from "hono/http-exception"
import { routePath } from "hono/route"
import { getPath } from "hono/utils/url"
import { accessLogLine, clientRequestIdOf, durationMsOf, isoAt, logPath } from "./accessLog.js"
import { guardsOf } from "./auth.js"
import { errorBody } from "./errors.js"
import { authorityOf, hostCheckOf } from "./hostCheck.js"
import { type HotPath, type HotRequest, hotPathOf, responseOf } from "./hotPath.js"
import { batchedSink } from "./logSink.js"
import { recordRequest, trackInFlight } from "./metrics.js"
import { openApiDocument } from "./openapi.js"
import { nextRequestId } from "./requestId.js"
import { type AnyRoute, type AppEnv, type RouteDeps, requestHeader } from "./routes/route.js"
import { registerRoutes, routeTable } from "./routes/table.js"

/** The package version, shown in `/openapi.json`. */
export const version = "0.1.0"

/** Longest request URL accepted (path and query). */
export const maxUrlLength = 8_192

/** Options of {@link createApp}. */
export interface AppOptions extends RouteDeps {
  /** The routes to serve (default: `routeTable(config)`; the health listener serves a few of them). */
  readonly routes?: ReadonlyArray<AnyRoute> | undefined
  /** Where access-log lines (one JSON object each) go. Default: stdout, batched per event-loop turn. */
  readonly log?: ((line: string) => void) | undefined
  /** True once shutdown began: responses then carry `Connection: close` and `/readyz` answers 503. */
  readonly isDraining?: (() => boolean) | undefined
}

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
  // Per-request lines, unless the access log is off (defects are logged either way).
  const accessLog = config.accessLog !== false ? log : undefined
  const isDraining = options.isDraining ?? (() => false)
  const table = options.routes ?? routeTable(config)
  const guards = guardsOf(config)
  const hosts = hostCheckOf(config)
  const app = new Hono<AppEnv>({ getPath: (request) => imdsPath(getPath(request)) })

  // Metrics and the access-log line of one routed request (the hot paths write their own).
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
    accessLog?.(
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
        durationMs: durationMsOf(seconds),
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

  // Cached reads (and IMDS's cached tokens) are answered before hono routes them (`hotPath.ts`):
  // here for a WHATWG request (`app.request()`, or this app served as a fetch handler), and by
  // `startServer`'s listener on Node's own request, before any `Request` exists.
  const hot = hotPathOf({
    runtime: options.runtime,
    routes: table,
    guards,
    hosts,
    log: accessLog,
    isDraining,
  })
  if (hot === undefined) return app
  const routed = app.fetch
  hotPaths.set(app, { hot, routed })
  app.fetch = (request, env, executionCtx) => {
    const incoming = (env as { incoming?: Partial<HotRequest> } | undefined)?.incoming
    const answer = hot(
      incoming?.headers !== undefined ? (incoming as HotRequest) : hotRequestOf(request, incoming?.socket),
    )
    return answer === undefined ? routed(request, env, executionCtx) : responseOf(answer)
  }
  return app
}

const hotPaths = new WeakMap<
  Hono<AppEnv>,
  { readonly hot: HotPath; readonly routed: Hono<AppEnv>["fetch"] }
>()

/**
 * The hot path of an app made by {@link createApp}, and its `fetch` without it: for a listener that
 * tries the hot path on Node's own request and hands the rest to @hono/node-server (`server.ts`).
 * `undefined` for an app with no hot path (the health listener).
 */
export const hotPathOfApp = (
  app: Hono<AppEnv>,
): { readonly hot: HotPath; readonly routed: Hono<AppEnv>["fetch"] } | undefined => hotPaths.get(app)

// A WHATWG request read as the hot path reads Node's: the authority is the URL's, as
// @hono/node-server builds the URL from `Host`.
const hotRequestOf = (request: Request, socket: HotRequest["socket"]): HotRequest => {
  const headers: Record<string, string> = Object.fromEntries(request.headers)
  const authority = authorityOf(request.url)
  if (authority === undefined) delete headers.host
  else headers.host = authority
  return { method: request.method, url: request.url.slice(request.url.indexOf("/", 8)), headers, socket }
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

// The address the client connected to (under @hono/node-server); in tests none.
const localAddressOf = (env: unknown) =>
  (env as { incoming?: HotRequest } | undefined)?.incoming?.socket?.localAddress

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
