/**
 * ResourceGroups opens its spans whenever a tracer is installed (with Effect's built-in tracer, which
 * keeps spans nowhere, the hot read skips them).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Tracer } from "effect"
import { ResourceGroups } from "../src/ResourceGroups.js"
import * as ResourceGroupsLive from "../src/ResourceGroupsLive.js"
import { armLayer, fakeArm, fakeTokens, rg, SUB } from "./arm-fixtures.js"

/** A tracer that records every span it starts (name, parent name) and otherwise does what the built-in one does. */
const recordingTracer = Effect.map(Effect.tracer, (builtIn) => {
  const started: Array<{ name: string; parent: string | undefined }> = []
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      started.push({
        name,
        parent: Option.match(parent, {
          onNone: () => undefined,
          onSome: (p) => (p._tag === "Span" ? p.name : p.spanId),
        }),
      })
      return builtIn.span(name, parent, context, links, startTime, kind, options)
    },
    context: (f, fiber) => builtIn.context(f, fiber),
  })
  return { tracer, started }
})

const groups = () =>
  ResourceGroupsLive.layer.pipe(
    Layer.provide(
      armLayer(
        fakeArm([
          { status: 200, body: rg("DevTest") },
          { status: 204, body: undefined },
        ]),
        fakeTokens(),
      ),
    ),
  )

describe("ResourceGroups tracing", () => {
  it.effect("get and exists open their spans, children of the caller's, under an installed tracer", () =>
    Effect.gen(function* () {
      const { tracer, started } = yield* recordingTracer
      const program = Effect.flatMap(ResourceGroups, (g) =>
        Effect.zip(g.get(SUB, "DevTest"), g.exists(SUB, "DevTest")),
      ).pipe(Effect.withSpan("caller"), Effect.provide(groups()), Effect.withTracer(tracer))
      const [got, exists] = yield* program
      expect(got.value.name).toBe("DevTest")
      expect(exists).toBe(true)
      expect(started).toEqual(
        expect.arrayContaining([
          { name: "ResourceGroups.get", parent: "caller" },
          { name: "ResourceGroups.exists", parent: "caller" },
        ]),
      )
    }),
  )

  it.effect("with the built-in tracer the reads answer the same", () =>
    Effect.gen(function* () {
      const [got, exists] = yield* Effect.flatMap(ResourceGroups, (g) =>
        Effect.zip(g.get(SUB, "DevTest"), g.exists(SUB, "DevTest")),
      ).pipe(Effect.provide(groups()))
      expect(got.value.name).toBe("DevTest")
      expect(exists).toBe(true)
    }),
  )
})
