/**
 * `GET /v1/instance`: the VM's compute metadata from IMDS.
 * @module
 */
import { ComputeMetadata, InstanceMetadata } from "@azmi/core"
import { Effect } from "effect"
import { Hono } from "hono"
import { ErrorBody } from "../errors.js"
import { type AppEnv, type RouteDeps, type RouteSpec, runRoute } from "./route.js"

/** The routes this module serves. */
export const instanceSpecs: ReadonlyArray<RouteSpec> = [
  {
    method: "get",
    path: "/v1/instance",
    operationId: "getInstance",
    summary: "The VM's compute metadata (subscription, resource group, name, location, …)",
    tag: "instance",
    security: "apiKey",
    responses: {
      200: { description: "Compute metadata", schema: ComputeMetadata },
      401: { description: "Missing or wrong API key", schema: ErrorBody },
      502: { description: "IMDS failed", schema: ErrorBody },
      503: { description: "No IMDS here", schema: ErrorBody },
      504: { description: "IMDS timeout", schema: ErrorBody },
    },
  },
]

/**
 * The instance router, mounted at `/v1`.
 *
 * @example
 * ```ts
 * app.route("/v1", instanceRouter({ runtime, config }))
 * ```
 */
export const instanceRouter = (deps: RouteDeps): Hono<AppEnv> =>
  new Hono<AppEnv>().get("/instance", (c) =>
    runRoute(
      c,
      deps,
      Effect.flatMap(InstanceMetadata, (m) => m.compute),
      (compute) => {
        c.header("Cache-Control", "no-store")
        return c.json(compute, 200)
      },
    ),
  )
