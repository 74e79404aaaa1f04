/**
 * The VM's own compute metadata from IMDS (`/metadata/instance/compute`), so the shells can default
 * the subscription and resource group to the VM's own.
 * @module
 */
import { Context, type Effect, Schema } from "effect"
import type { TokenError } from "./Errors.js"

/** The subset of IMDS `compute` metadata azmi uses; IMDS sends every primitive as a string. */
export class ComputeMetadata extends Schema.Class<ComputeMetadata>("ComputeMetadata")({
  subscriptionId: Schema.String,
  resourceGroupName: Schema.String,
  name: Schema.String,
  location: Schema.String,
  vmId: Schema.String,
  resourceId: Schema.optionalWith(Schema.String, { default: () => "" }),
  vmSize: Schema.optionalWith(Schema.String, { default: () => "" }),
  osType: Schema.optionalWith(Schema.String, { default: () => "" }),
  azEnvironment: Schema.optionalWith(Schema.String, { default: () => "" }),
  tags: Schema.optionalWith(Schema.String, { default: () => "" }),
}) {}

/**
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { InstanceMetadata } from "@azmi/core"
 * const rg = Effect.map(Effect.flatMap(InstanceMetadata, (m) => m.compute), (c) => c.resourceGroupName)
 * ```
 */
export class InstanceMetadata extends Context.Tag("@azmi/core/InstanceMetadata")<
  InstanceMetadata,
  {
    /** The VM's compute metadata (retried like token requests; `ImdsUnavailable` fast off Azure). */
    readonly compute: Effect.Effect<ComputeMetadata, TokenError>
  }
>() {}
