/**
 * {@link ResourceGroups} over {@link ArmClient}: every input validated before a request is built.
 * @module
 */
import { Effect, Either, Layer, Stream } from "effect"
import { ArmApiVersions, ArmClient } from "./ArmClient.js"
import { parseResourceGroupName, parseSubscriptionId } from "./ArmIds.js"
import {
  type ListResourceGroupsOptions,
  parseListOptions,
  ResourceGroup,
  ResourceGroups,
} from "./ResourceGroups.js"

/** An OData string literal: single quotes doubled. */
const odataString = (s: string) => `'${s.replaceAll("'", "''")}'`

/** `$filter` for a tag, as ARM documents it (`tagName eq 'x' and tagValue eq 'y'`). */
export const tagFilter = (tag: { readonly name: string; readonly value?: string | undefined }): string =>
  tag.value === undefined
    ? `tagName eq ${odataString(tag.name)}`
    : `tagName eq ${odataString(tag.name)} and tagValue eq ${odataString(tag.value)}`

// Effect's built-in tracer (what runs unless a tracer layer is installed) keeps spans nowhere, so
// opening one per hot read there only costs CPU (a span, a context copy and two fiber-ref writes).
const builtInTracer = Effect.runSync(Effect.tracer)

/** The effect `make` builds, in a span named `name` unless the fiber traces with the built-in tracer. */
const traced = <A, E, R>(name: string, make: () => Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber) =>
    fiber.currentTracer === builtInTracer
      ? make()
      : Effect.withSpan(Effect.suspend(make), name, { captureStackTrace: false }),
  )

/** Builds the service from an {@link ArmClient}. */
export const make = Effect.gen(function* () {
  const arm = yield* ArmClient

  // Validation is plain code (no generator): `get` is the hot read of every caller.
  const get = (subscriptionId: string, resourceGroupName: string) =>
    traced("ResourceGroups.get", () => {
      const sub = parseSubscriptionId(subscriptionId)
      if (Either.isLeft(sub)) return Effect.fail(sub.left)
      const rg = parseResourceGroupName(resourceGroupName)
      if (Either.isLeft(rg)) return Effect.fail(rg.left)
      return arm.json(
        {
          method: "GET",
          path: ["subscriptions", sub.right, "resourcegroups", rg.right],
          apiVersion: ArmApiVersions.resourceGroups,
          context: { subscriptionId: sub.right, resourceGroupName: rg.right },
        },
        ResourceGroup,
      )
    })

  const exists = (subscriptionId: string, resourceGroupName: string) =>
    Effect.gen(function* () {
      const sub = yield* parseSubscriptionId(subscriptionId)
      const rg = yield* parseResourceGroupName(resourceGroupName)
      const res = yield* arm.send({
        method: "HEAD",
        path: ["subscriptions", sub, "resourcegroups", rg],
        apiVersion: ArmApiVersions.resourceGroups,
        accept: [404],
        context: {
          subscriptionId: sub,
          resourceGroupName: rg,
          // The answer to a HEAD has no body: a 403 is known to be about reading this group.
          authorization: {
            action: "Microsoft.Resources/subscriptions/resourceGroups/read",
            scope: `/subscriptions/${sub}/resourceGroups/${rg}`,
          },
        },
      })
      return res.status !== 404
    }).pipe((effect) => traced("ResourceGroups.exists", () => effect))

  const list = (subscriptionId: string, options: ListResourceGroupsOptions = {}) =>
    Effect.gen(function* () {
      const sub = yield* parseSubscriptionId(subscriptionId)
      yield* parseListOptions(options)
      const stream = arm.pages(
        {
          method: "GET",
          path: ["subscriptions", sub, "resourcegroups"],
          apiVersion: ArmApiVersions.resourceGroups,
          query: {
            $filter: options.tag === undefined ? undefined : tagFilter(options.tag),
            $top: (options.pageSize ?? options.top)?.toString(),
          },
          context: { subscriptionId: sub },
        },
        ResourceGroup,
      )
      // ARM treats $top as a page size hint in places; the contract here is "at most `top` in all".
      return options.top === undefined ? stream : Stream.take(stream, options.top)
    }).pipe(Stream.unwrap)

  return ResourceGroups.of({ get, exists, list })
})

/**
 * The live layer.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { ArmClient, ResourceGroupsLive } from "@azmi/core"
 * const live = ResourceGroupsLive.layer.pipe(Layer.provide(ArmClient.layer({ endpoint })))
 * ```
 */
export const layer: Layer.Layer<ResourceGroups, never, ArmClient> = Layer.effect(ResourceGroups, make)
