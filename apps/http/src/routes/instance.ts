/**
 * `GET /v1/instance`: the VM's compute metadata from IMDS.
 * @module
 */
import { ComputeMetadata, InstanceMetadata } from "@azmi/core"
import { Effect } from "effect"
import { ErrorBody } from "../errors.js"
import { defineRoute, runRoute } from "./route.js"

/** `GET /v1/instance`. */
export const getInstance = defineRoute({
  method: "GET",
  path: "/v1/instance",
  operationId: "getInstance",
  summary: "The VM's compute metadata (subscription, resource group, name, location, …)",
  tag: "instance",
  security: "apiKey",
  responses: {
    200: { description: "Compute metadata", schema: ComputeMetadata },
    502: { description: "IMDS failed", schema: ErrorBody },
    503: { description: "No IMDS here", schema: ErrorBody },
    504: { description: "IMDS timeout", schema: ErrorBody },
  },
  handler: (deps) => (c) =>
    runRoute(
      c,
      deps,
      Effect.flatMap(InstanceMetadata, (m) => m.compute),
      (compute) => {
        c.header("Cache-Control", "no-store")
        return c.json(compute, 200)
      },
    ),
})

/** The routes of this module. */
export const instanceRoutes = [getInstance]
