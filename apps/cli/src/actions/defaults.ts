/**
 * Defaults that come from the VM itself: subscription and resource group from instance metadata,
 * fetched only when the user did not name them.
 * @module
 */
import { InstanceMetadata } from "@azmi/core"
import { Effect } from "effect"

/** `given`, else the VM's own subscription. */
export const subscriptionOr = (given: string | undefined) =>
  given !== undefined
    ? Effect.succeed(given)
    : Effect.flatMap(InstanceMetadata, (m) => Effect.map(m.compute, (c) => c.subscriptionId))

/** `given` names, else the VM's own subscription and resource group. */
export const groupOr = (subscription: string | undefined, group: string | undefined) =>
  subscription !== undefined && group !== undefined
    ? Effect.succeed({ subscriptionId: subscription, resourceGroupName: group })
    : Effect.flatMap(InstanceMetadata, (m) =>
        Effect.map(m.compute, (c) => ({
          subscriptionId: subscription ?? c.subscriptionId,
          resourceGroupName: group ?? c.resourceGroupName,
        })),
      )

/** ARM's scope string for a resource group. */
export const groupScope = (subscriptionId: string, resourceGroupName: string) =>
  `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroupName}`
