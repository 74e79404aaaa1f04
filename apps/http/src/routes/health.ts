/**
 * Operations routes: `/healthz` (the process is alive), `/readyz` (a token can be obtained now),
 * `/metrics` (Prometheus text) and `/openapi.json`.
 * @module
 */
import { isAzmiError, TokenProvider } from "@azmi/core"
import { Cause, Effect, Exit, Option, Schema } from "effect"
import { ErrorBody, errorBody, renderError } from "../errors.js"
import { prometheusContentType, renderPrometheus } from "../metrics.js"
import { defineRoute, runToExit } from "./route.js"

/** Body of `/healthz` and `/readyz`. */
export const HealthBody = Schema.Struct({
  status: Schema.Literal("ok", "ready"),
}).annotations({ identifier: "Health" })

/** `GET /healthz`: the process is alive (touches nothing upstream). */
export const healthz = defineRoute({
  method: "GET",
  path: "/healthz",
  operationId: "healthz",
  summary: "The process is alive",
  tag: "operations",
  responses: { 200: { description: "Alive", schema: HealthBody } },
  handler: () => (c) => {
    c.header("Cache-Control", "no-store")
    return c.json({ status: "ok" } satisfies typeof HealthBody.Type, 200)
  },
})

/** `GET /readyz`: a token for ARM can be obtained now. */
export const readyz = defineRoute({
  method: "GET",
  path: "/readyz",
  operationId: "readyz",
  summary: "A token for ARM can be obtained now (from cache or IMDS)",
  tag: "operations",
  responses: {
    200: { description: "Ready", schema: HealthBody },
    503: { description: "Not ready (no identity, IMDS down, shutting down)", schema: ErrorBody },
  },
  handler:
    (deps) =>
    async (c): Promise<Response> => {
      c.header("Cache-Control", "no-store")
      if (deps.isDraining())
        return c.json({ error: { code: "ShuttingDown", message: "azmi-http is shutting down." } }, 503)
      const exit = await runToExit(
        deps,
        Effect.flatMap(TokenProvider, (tp) => tp.getToken(deps.config.armAudience)),
      )
      if (Exit.isSuccess(exit)) return c.json({ status: "ready" } satisfies typeof HealthBody.Type, 200)
      // Whatever the reason (no identity, IMDS down, a misconfigured audience), this process is not
      // ready: 503 with the reason, never a 4xx that would blame the prober.
      const failure = Cause.failureOption(exit.cause)
      const { body } =
        Option.isSome(failure) && isAzmiError(failure.value)
          ? renderError(failure.value)
          : { body: errorBody("NotReady", "No token could be obtained.") }
      c.header("Retry-After", "1")
      return c.json(body, 503)
    },
})

/** `GET /metrics`: Prometheus text. */
export const metrics = defineRoute({
  method: "GET",
  path: "/metrics",
  operationId: "metrics",
  summary: "Prometheus metrics (text format 0.0.4)",
  tag: "operations",
  responses: { 200: { description: "Metrics" } },
  handler: () => (c) => {
    c.header("Cache-Control", "no-store")
    return c.body(renderPrometheus(), 200, { "Content-Type": prometheusContentType })
  },
})

/** `GET /openapi.json`: the document of the routes being served, built on first request. */
export const openApi = defineRoute({
  method: "GET",
  path: "/openapi.json",
  operationId: "openapi",
  summary: "This document",
  tag: "operations",
  responses: { 200: { description: "OpenAPI 3.1 document" } },
  handler: (deps) => {
    let document: object | undefined
    return (c) => {
      document ??= deps.openApi()
      return c.json(document, 200)
    }
  },
})

/** The routes of this module. */
export const healthRoutes = [healthz, readyz, metrics, openApi]
