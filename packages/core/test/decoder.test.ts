/**
 * The compiled Schema decoders of ARM's hot path (internal/decoder) give exactly what Effect's
 * `Schema.decodeUnknownEither` gives — the same values, classes and key order, the same failures — on
 * valid inputs, on mutated ones and on arbitrary JSON; the oracle is Effect's own decoder.
 * Valid inputs come from Effect's `Arbitrary`, so this file uses Effect's own fast-check (`FastCheck`);
 * FC_SEED replays a run as in the other suites.
 */
import { Arbitrary, Either, FastCheck as fc, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { ComputeMetadata } from "../src/InstanceMetadata.js"
import { compiledOutcome, decoderOf } from "../src/internal/decoder.js"
import { ResourceGroup } from "../src/ResourceGroups.js"
import { RoleAssignment } from "../src/RoleAssignments.js"

const page = <A, I>(item: Schema.Schema<A, I>) =>
  Schema.Struct({
    value: Schema.optionalWith(Schema.Array(item), { default: () => [] }),
    nextLink: Schema.optional(Schema.NullOr(Schema.String)),
  })

/** Every kind of node the compiler handles, and a few it leaves to Effect. */
const Kitchen = Schema.Struct({
  n: Schema.Number,
  b: Schema.optional(Schema.Boolean),
  letter: Schema.Literal("a", "b", null),
  either: Schema.Union(Schema.String, Schema.Number),
  nested: Schema.Struct({ x: Schema.NullOr(Schema.String) }),
  counts: Schema.Record({ key: Schema.String, value: Schema.Number }),
  named: Schema.Struct({ a: Schema.Trim }, Schema.Record({ key: Schema.String, value: Schema.String })),
  positive: Schema.Number.pipe(Schema.positive()),
  trimmed: Schema.Trim,
  anything: Schema.Array(Schema.Unknown),
  defaulted: Schema.optionalWith(Schema.String, { default: () => "d" }),
  exact: Schema.optionalWith(Schema.String, { exact: true }),
  nullable: Schema.optionalWith(Schema.String, { nullable: true }),
  empty: Schema.Struct({}),
  renamed: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("original_name")),
})

class Wrapped extends Schema.Class<Wrapped>("Wrapped")({
  group: ResourceGroup,
  tags: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
}) {}

/** A transformation that fails on most strings (Effect's arbitrary strings rarely parse). */
const Parsed = Schema.Struct({ parsed: Schema.NumberFromString })
const parsedInputs = fc.record({
  parsed: fc.oneof(fc.constantFrom("1", "-2.5", "1e3", "NaN", "Infinity", "x", "", " 3"), fc.string()),
})

const TaggedUnion = Schema.Union(
  Schema.Struct({ kind: Schema.Literal("a"), a: Schema.String }),
  Schema.Struct({ kind: Schema.Literal("b"), b: Schema.Number }),
)

const schemas = {
  ResourceGroup,
  RoleAssignment,
  ComputeMetadata,
  "page of ResourceGroup": page(ResourceGroup),
  "page of RoleAssignment": page(RoleAssignment),
  Kitchen,
  Wrapped,
  Parsed,
  TaggedUnion,
} as const

const seed =
  process.env.FC_SEED === undefined || process.env.FC_SEED === "" ? {} : { seed: Number(process.env.FC_SEED) }

const json = fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown)

/** Replaces, deletes or adds (when `key` is new) a value somewhere in `input`, chosen by `path`. */
const mutate = (input: unknown, path: ReadonlyArray<number>, key: string, junk: unknown, remove: boolean) => {
  const root = structuredClone(input)
  let node: unknown = root
  for (const step of path) {
    if (typeof node !== "object" || node === null) break
    const keys = Object.keys(node)
    if (keys.length === 0) break
    const k = keys[step % keys.length] as string
    const child = (node as Record<string, unknown>)[k]
    if (typeof child !== "object" || child === null || step % 3 === 0) {
      if (remove) delete (node as Record<string, unknown>)[k]
      else (node as Record<string, unknown>)[k] = junk
      return root
    }
    node = child
  }
  if (typeof node === "object" && node !== null && !Array.isArray(node)) {
    ;(node as Record<string, unknown>)[key] = junk
  }
  return root
}

/**
 * Deep sameness as the oracle sees it: the same prototypes (classes), the same own keys in the same
 * order, the same primitives (`Object.is`). (vitest's `toStrictEqual` cannot serve: it takes an own
 * `constructor` key for the class.)
 */
const same = (a: unknown, b: unknown): boolean => {
  if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) return Object.is(a, b)
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  return (
    ka.length === kb.length &&
    ka.every(
      (k, i) => k === kb[i] && same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
    )
  )
}

const inputs = (schema: Schema.Schema.AnyNoContext) => {
  const valid = Arbitrary.make(Schema.encodedSchema(schema)).map(
    (v) => JSON.parse(JSON.stringify(v)) as unknown,
  )
  const mutated = fc
    .tuple(
      valid,
      fc.array(fc.nat(), { maxLength: 4 }),
      fc.constantFrom("extra", "__proto__", "constructor", "id", "value", "tags"),
      json,
      fc.boolean(),
    )
    .map(([v, path, key, junk, remove]) => mutate(v, path, key, junk, remove))
  return fc.oneof(schema === Parsed ? parsedInputs : valid, mutated, json)
}

describe("compiled decoders: exactly Effect's Schema.decodeUnknownEither, faster", () => {
  it.each(Object.keys(schemas) as Array<keyof typeof schemas>)(
    "%s: same value (class, key order) or same failure, for valid, mutated and arbitrary JSON input",
    (name) => {
      const schema = schemas[name] as Schema.Schema.AnyNoContext
      const effect = Schema.decodeUnknownEither(schema)
      const ours = decoderOf(schema)
      let compiledAnswers = 0
      fc.assert(
        fc.property(inputs(schema), (input) => {
          const expected = effect(structuredClone(input))
          const got = ours(structuredClone(input))
          const alone = compiledOutcome(schema, structuredClone(input))
          if (Either.isRight(expected)) {
            expect(Either.isRight(got) && same(got.right, expected.right)).toBe(true)
            // A schema the compiler takes decodes every valid input itself (Effect is not asked).
            if (alone !== "not compiled" && alone !== "unsure") {
              expect(alone).not.toBe("no")
              if (typeof alone === "object") {
                expect(same(alone.value, expected.right)).toBe(true)
                compiledAnswers++
              }
            }
          } else {
            expect(Either.isLeft(got) && got.left.message).toBe(expected.left.message)
            expect(typeof alone === "object").toBe(false)
          }
        }),
        { numRuns: 400, ...seed },
      )
      if (name !== "TaggedUnion") expect(compiledAnswers).toBeGreaterThan(0)
    },
  )

  it("compiles the ARM schemas (and leaves a literal-tagged union to Effect)", () => {
    const group = { id: "/subscriptions/s/resourceGroups/g", name: "g", location: "westus" }
    expect(compiledOutcome(ResourceGroup, group)).toEqual({ value: new ResourceGroup(group) })
    expect(compiledOutcome(page(ResourceGroup), { value: [group], nextLink: null })).toEqual({
      value: { value: [new ResourceGroup(group)], nextLink: null },
    })
    expect(compiledOutcome(TaggedUnion, { kind: "a", a: "x" })).toBe("not compiled")
    expect(decoderOf(TaggedUnion)({ kind: "a", a: "x" })).toEqual(Either.right({ kind: "a", a: "x" }))
  })

  it("fills defaults and drops keys the schema does not name, as Effect does", () => {
    const decoded = decoderOf(ResourceGroup)({
      id: "/subscriptions/s/resourceGroups/g",
      name: "g",
      location: "westus",
      unknownKey: 1,
      tags: { a: "1" },
    })
    expect(Either.isRight(decoded) && decoded.right).toBeInstanceOf(ResourceGroup)
    expect(Either.isRight(decoded) && "unknownKey" in decoded.right).toBe(false)
    expect(Either.isRight(decoded) && decoded.right.type).toBe("Microsoft.Resources/resourceGroups")
    expect(Either.isRight(decoded) && decoded.right.properties).toEqual({})
  })
})
