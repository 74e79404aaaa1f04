/**
 * Operations routes: `/healthz` (the process is alive), `/readyz` (a token can be obtained now),
 * `/metrics` (Prometheus text) and `/openapi.json`.
 * @module
 */
import { TokenProvider } from "@azmi/core"
import { Effect, Schema } from "effect"
import { Hono } from "hono"
import { ErrorBody } from "../errors.js"
import { prometheusContentType, renderPrometheus } from "../metrics.js"
import { type AppEnv, type RouteDeps, type RouteSpec, runRoute } from "./route.js"

/** Body of `/healthz` and `/readyz`. */
export const HealthBody = Schema.Struct({
  status: Schema.Literal("ok", "ready"),
}).annotations({ identifier: "Health" })

/** The routes this module serves. */
export const healthSpecs: ReadonlyArray<RouteSpec> = [
  {
    method: "get",
    path: "/healthz",
    operationId: "healthz",
    summary: "The process is alive",
    tag: "operations",
    responses: { 200: { description: "Alive", schema: HealthBody } },
  },
  {
    method: "get",
    path: "/readyz",
    operationId: "readyz",
    summary: "A token for ARM can be obtained now (from cache or IMDS)",
    tag: "operations",
    responses: {
      200: { description: "Ready", schema: HealthBody },
      503: { description: "Not ready (no identity, IMDS down, shutting down)", schema: ErrorBody },
      502: { description: "IMDS failed", schema: ErrorBody },
    },
  },
  {
    method: "get",
    path: "/metrics",
    operationId: "metrics",
    summary: "Prometheus metrics (text format 0.0.4)",
    tag: "operations",
    responses: { 200: { description: "Metrics" } },
  },
  {
    method: "get",
    path: "/openapi.json",
    operationId: "openapi",
    summary: "This document",
    tag: "operations",
    responses: { 200: { description: "OpenAPI 3.1 document" } },
  },
]

/**
 * The operations router, mounted at `/`.
 *
 * @example
 * ```ts
 * app.route("/", healthRouter({ runtime, config }, () => openApiDocument(specs, info), () => shuttingDown))
 * ```
 */
export const healthRouter = (
  deps: RouteDeps,
  openApi: () => unknown,
  isDraining: () => boolean,
): Hono<AppEnv> => {
  let document: unknown
  return new Hono<AppEnv>()
    .get("/healthz", (c) => {
      c.header("Cache-Control", "no-store")
      return c.json({ status: "ok" } satisfies typeof HealthBody.Type, 200)
    })
    .get("/readyz", (c) => {
      c.header("Cache-Control", "no-store")
      if (isDraining())
        return c.json({ error: { code: "ShuttingDown", message: "azmi-http is shutting down." } }, 503)
      return runRoute(
        c,
        deps,
        Effect.flatMap(TokenProvider, (tp) => tp.getToken(deps.config.armAudience)),
        () => c.json({ status: "ready" } satisfies typeof HealthBody.Type, 200),
        // Readiness is about this process: a missing identity means "not ready", not "bad request".
        { callerChoseIdentity: false },
      )
    })
    .get("/metrics", (c) => {
      c.header("Cache-Control", "no-store")
      return c.body(renderPrometheus(), 200, { "Content-Type": prometheusContentType })
    })
    .get("/openapi.json", (c) => {
      document ??= openApi()
      return c.json(document as object, 200)
    })
}
