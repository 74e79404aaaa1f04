/**
 * The VM's own compute metadata from IMDS (`/metadata/instance/compute`), so the shells can default
 * the subscription and resource group to the VM's own.
 * @module
 */
import { Context, Effect, Layer, Schema } from "effect"
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
>() {
  /**
   * Instance metadata for tests, with no IMDS: `compute` is these metadata, or what this effect gives
   * each time it is read (a failure such as `ImdsUnavailable`, a count of reads, a delay…).
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { ComputeMetadata, ImdsUnavailable, InstanceMetadata } from "@azmi/core"
   *
   * const onAVm = InstanceMetadata.layerTest(
   *   new ComputeMetadata({ subscriptionId: "98f51385-2edc-4b79-bed9-7718de4cb861", resourceGroupName: "DevTest", name: "myVM", location: "westus", vmId: "vm-1" }),
   * )
   * const offAzure = InstanceMetadata.layerTest(Effect.fail(new ImdsUnavailable({ endpoint: "http://169.254.169.254", reason: "ConnectTimeout" })))
   * ```
   */
  static readonly layerTest = (
    compute: ComputeMetadata | Effect.Effect<ComputeMetadata, TokenError>,
  ): Layer.Layer<InstanceMetadata> =>
    Layer.succeed(
      InstanceMetadata,
      InstanceMetadata.of({ compute: Effect.isEffect(compute) ? compute : Effect.succeed(compute) }),
    )
}
