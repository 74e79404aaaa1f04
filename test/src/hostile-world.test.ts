/**
 * Hostile emulator world files: arbitrary JSON, the default world with one node replaced or removed,
 * hostile strings in every name, and unreadable files. `parseWorld` / `readWorldFile` either accept a
 * world (which then survives a JSON round trip unchanged) or throw `WorldValidationError` naming the
 * problem — never a TypeError, never a hang; the bin exits 2 on an invalid world file.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { defaultWorld, parseWorld, readWorldFile, WorldValidationError } from "@azmi/emulator"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { hostileString } from "./hostile-arbitraries.js"

const dir = mkdtempSync(join(tmpdir(), "azmi-worlds-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const cases: Record<string, number> = {}
const accepted: Record<string, number> = {}
const runs = (name: string, n: number) => {
  cases[name] = n
  return { numRuns: n }
}
afterAll(() => {
  const total = Object.values(cases).reduce((a, b) => a + b, 0)
  console.log(`hostile-world: ${total} cases ${JSON.stringify(cases)}; accepted ${JSON.stringify(accepted)}`)
})

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

/** Every path (list of keys / indexes) inside `value`, the root excluded. */
const pathsOf = (value: Json, prefix: Array<string | number> = []): Array<Array<string | number>> => {
  if (Array.isArray(value)) return value.flatMap((v, i) => [[...prefix, i], ...pathsOf(v, [...prefix, i])])
  if (value !== null && typeof value === "object")
    return Object.entries(value).flatMap(([k, v]) => [[...prefix, k], ...pathsOf(v, [...prefix, k])])
  return []
}

/** A copy of `root` with the node at `path` replaced by `replacement` (or removed when undefined). */
const mutate = (root: Json, path: ReadonlyArray<string | number>, replacement: unknown): Json => {
  const copy = structuredClone(root)
  let parent: Json = copy
  for (const key of path.slice(0, -1)) parent = (parent as Record<string | number, Json>)[key] as Json
  const last = path[path.length - 1] as string | number
  if (replacement === undefined) {
    if (Array.isArray(parent)) parent.splice(last as number, 1)
    else delete (parent as Record<string, Json>)[last as string]
  } else (parent as Record<string | number, unknown>)[last] = replacement
  return copy
}

/** parseWorld's contract for one input: a stable world, or a WorldValidationError. */
const check = (input: unknown, name: string) => {
  try {
    const world = parseWorld(input)
    accepted[name] = (accepted[name] ?? 0) + 1
    expect(parseWorld(JSON.parse(JSON.stringify(world)))).toEqual(world)
  } catch (error) {
    if (!(error instanceof WorldValidationError)) throw error
    expect(error.message.length).toBeGreaterThan(0)
  }
}

const base = defaultWorld() as unknown as Json
const paths = pathsOf(base)

describe("hostile input × emulator world files", () => {
  it("arbitrary JSON is a world or a WorldValidationError", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (json) => check(json, "arbitrary json")),
      runs("arbitrary json", 1500),
    )
  })

  it("the default world with one node replaced or removed is a world or a WorldValidationError", () => {
    fc.assert(
      fc.property(
        fc.nat({ max: paths.length - 1 }),
        fc.option(
          fc.oneof(
            fc.jsonValue({ maxDepth: 2 }),
            hostileString,
            fc.constantFrom(-1, 0, Number.POSITIVE_INFINITY, 2 ** 53, ""),
          ),
        ),
        (i, replacement) =>
          check(
            mutate(base, paths[i] as Array<string | number>, replacement === null ? undefined : replacement),
            "mutated",
          ),
      ),
      runs("one node mutated", 2000),
    )
  })

  it("hostile strings in every name-like field are a world or a WorldValidationError", () => {
    const named = paths.filter((p) => /name|id$|Id$|scope|location|tenant/i.test(String(p[p.length - 1])))
    expect(named.length).toBeGreaterThan(5)
    fc.assert(
      fc.property(fc.nat({ max: named.length - 1 }), hostileString, (i, s) =>
        check(mutate(base, named[i] as Array<string | number>, s), "hostile names"),
      ),
      runs("hostile names", 1500),
    )
  })

  it("unreadable or non-JSON files are a WorldValidationError", async () => {
    const bodies = [
      "",
      "{",
      "\uFEFF{}",
      "null",
      "[]",
      '"world"',
      '{"tenants": [}',
      "x".repeat(100_000),
      Buffer.from([0xff, 0xfe, 0x00, 0x01]).toString("latin1"),
      JSON.stringify({ ...defaultWorld(), __proto__: { polluted: true } }),
    ]
    let i = 0
    for (const body of bodies) {
      const path = join(dir, `world-${i++}.json`)
      writeFileSync(path, body)
      await readWorldFile(path).then(
        (world) => expect(parseWorld(JSON.parse(JSON.stringify(world)))).toEqual(world),
        (error: unknown) => expect(error).toBeInstanceOf(WorldValidationError),
      )
    }
    await expect(readWorldFile(join(dir, "missing.json"))).rejects.toBeInstanceOf(WorldValidationError)
    await expect(readWorldFile(dir)).rejects.toBeInstanceOf(WorldValidationError)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    cases.files = bodies.length + 2
  })
})
