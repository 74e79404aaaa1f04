/**
 * The hono application: request id, access log and metrics, size limits, API-key auth on `/v1`,
 * one router per resource, ARM-style errors. No listening here (`main.ts` does that), so tests drive
 * it with `app.request()`.
 * @module
 */
import { randomUUID } from "node:crypto"
import { Hono } from "hono"
import { bodyLimit } from "hono/body-limit"
import { HTTPException } from "hono/http-exception"
import { requestId } from "hono/request-id"
import { routePath } from "hono/route"
import type { HttpConfig } from "./config.js"
import { errorBody } from "./errors.js"
import { recordRequest, trackInFlight } from "./metrics.js"
import { openApiDocument } from "./openapi.js"
import { healthRouter, healthSpecs } from "./routes/health.js"
import { instanceRouter, instanceSpecs } from "./routes/instance.js"
import { resourceGroupSpecs, resourceGroupsRouter } from "./routes/resourceGroups.js"
import type { AppEnv, RouteDeps, RouteSpec } from "./routes/route.js"
import { secretDigest, secretMatches, tokenBrokerRouter, tokenBrokerSpecs } from "./routes/tokenBroker.js"

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
  /** Where access-log lines (one JSON object each) go. Default: stdout. */
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

const writeStdout = (line: string) => {
  process.stdout.write(`${line}\n`)
}

// A client's id is echoed and logged, so only a short, plain token is taken; anything else is replaced.
const clientRequestIdOf = (header: string | undefined): string | undefined =>
  header !== undefined && /^[A-Za-z0-9._-]{1,128}$/.test(header) ? header : undefined

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
  const log = options.log ?? writeStdout
  const isDraining = options.isDraining ?? (() => false)
  const apiKeyDigest = config.apiKey === undefined ? undefined : secretDigest(config.apiKey)
  const app = new Hono<AppEnv>()

  app.use(async (c, next) => {
    const started = performance.now()
    trackInFlight(1)
    try {
      await next()
    } finally {
      trackInFlight(-1)
    }
    const seconds = (performance.now() - started) / 1000
    const status = c.res.status
    const matched = routePath(c, -1)
    // Unmatched paths share one label, so a scanner cannot blow up the metric's cardinality.
    const route = matched === "/*" || matched === "*" ? "unmatched" : matched
    recordRequest(route, c.req.method, status, seconds)
    const record: AccessLogRecord = {
      time: new Date().toISOString(),
      level: status >= 500 ? "error" : "info",
      msg: "request",
      requestId: c.get("requestId"),
      clientRequestId: clientRequestIdOf(c.req.header("x-ms-client-request-id")),
      method: c.req.method,
      path: c.req.path.length > 512 ? `${c.req.path.slice(0, 512)}…` : c.req.path,
      route,
      status,
      durationMs: Math.round(seconds * 1e6) / 1e3,
    }
    log(JSON.stringify(record))
  })

  app.use(requestId({ generator: () => randomUUID() }))

  app.use(async (c, next) => {
    if (c.req.url.length > maxUrlLength)
      return c.json(
        errorBody("UriTooLong", `The request URL is longer than ${maxUrlLength} characters.`),
        414,
      )
    const clientRequestId = clientRequestIdOf(c.req.header("x-ms-client-request-id"))
    await next()
    if (clientRequestId !== undefined) c.header("x-ms-client-request-id", clientRequestId)
    if (isDraining()) c.header("Connection", "close")
  })

  app.use(
    bodyLimit({
      maxSize: config.maxBodyBytes,
      onError: (c) =>
        c.json(
          errorBody("PayloadTooLarge", `The request body is larger than ${config.maxBodyBytes} bytes.`),
          413,
        ),
    }),
  )

  if (apiKeyDigest !== undefined) {
    app.use("/v1/*", async (c, next) => {
      const header = c.req.header("authorization")
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

  return app
}
