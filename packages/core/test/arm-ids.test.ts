import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Layer, Stream } from "effect"
import fc from "fast-check"
import {
  parseResourceGroupName,
  parseScope,
  parseSubscriptionId,
  Scope,
  scopeSegments,
  scopeToString,
} from "../src/ArmIds.js"
import { ResourceGroups } from "../src/ResourceGroups.js"
import * as ResourceGroupsLive from "../src/ResourceGroupsLive.js"
import { RoleAssignments } from "../src/RoleAssignments.js"
import * as RoleAssignmentsLive from "../src/RoleAssignmentsLive.js"
import { armLayer, decodedSegments, fakeArm, fakeTokens, SUB } from "./arm-fixtures.js"

describe("parseSubscriptionId", () => {
  it("accepts GUIDs only", () => {
    expect(Either.isRight(parseSubscriptionId(SUB))).toBe(true)
    expect(Either.isRight(parseSubscriptionId(SUB.toUpperCase()))).toBe(true)
    for (const bad of ["", "x", `${SUB}/`, `{${SUB}}`, `${SUB} `, "98f51385-2edc-4b79-bed9-7718de4cb86g"]) {
      const r = parseSubscriptionId(bad)
      expect(Either.isLeft(r) && r.left.field === "subscriptionId" && r.left.rule.includes("GUID")).toBe(true)
    }
  })
})

describe("parseResourceGroupName", () => {
  it("follows ARM's naming rules", () => {
    for (const ok of ["DevTest", "a", "a.b", "(x)", "_-.()", "名前", "Übung", "x".repeat(90), "٣٤"]) {
      expect(Either.isRight(parseResourceGroupName(ok))).toBe(true)
    }
    const rules: Array<[string, string]> = [
      ["", "1 to 90"],
      ["x".repeat(91), "1 to 90"],
      ["a.", "must not end with a period"],
      ["..", "must not end with a period"],
      ["a b", "only letters"],
      ["a/b", "only letters"],
      ["a%2Fb", "only letters"],
      ["a\u0000", "only letters"],
      ["😀", "only letters"],
    ]
    for (const [bad, rule] of rules) {
      const r = parseResourceGroupName(bad, "group")
      expect(Either.isLeft(r) && r.left.field === "group" && r.left.rule.includes(rule)).toBe(true)
    }
  })
})

describe("parseScope", () => {
  it("parses the three scope forms, keywords case-insensitively", () => {
    expect(parseScope(`/subscriptions/${SUB}`)).toEqual(
      Either.right(Scope.Subscription({ subscriptionId: SUB as never })),
    )
    const rg = parseScope(`/SUBSCRIPTIONS/${SUB}/resourcegroups/DevTest/`)
    expect(Either.map(rg, scopeToString)).toEqual(
      Either.right(`/subscriptions/${SUB}/resourceGroups/DevTest`),
    )
    const vm = parseScope(
      `/subscriptions/${SUB}/resourceGroups/DevTest/providers/Microsoft.Compute/virtualMachines/myVM/extensions/ext 1`,
    )
    expect(Either.isRight(vm) && vm.right._tag === "Resource" ? vm.right.resources : undefined).toEqual([
      { type: "virtualMachines", name: "myVM" },
      { type: "extensions", name: "ext 1" },
    ])
  })

  it("rejects everything else with InvalidInput naming the field", () => {
    const bad = [
      "",
      "/",
      "subscriptions/x",
      `/subscriptions/${SUB}//resourceGroups/x`,
      `/subscriptions/not-a-guid`,
      `/subscriptions/${SUB}/resourceGroups`,
      `/subscriptions/${SUB}/resourceGroups/bad.`,
      `/subscriptions/${SUB}/locations/westus`,
      `/subscriptions/${SUB}/resourceGroups/x/providers`,
      `/subscriptions/${SUB}/resourceGroups/x/providers/Microsoft.Compute/virtualMachines`,
      `/subscriptions/${SUB}/resourceGroups/x/providers/Microsoft.Compute/virtualMachines/..`,
      `/subscriptions/${SUB}/resourceGroups/x/providers/Microsoft.Compute/virtualMachines/.`,
      `/subscriptions/${SUB}/resourceGroups/x/providers/Microsoft.Compute/virtualMachines/a\u0001`,
      `/subscriptions/${SUB}/resourceGroups/x/providers/compute/virtualMachines/a`,
      `/subscriptions/${SUB}/resourceGroups/x/providers/Microsoft.Compute/virtual-machines/a`,
      `/subscriptions/${SUB}/resourceGroups/x/providers/Microsoft.Compute/vm/a/providers/Microsoft.Authorization`,
      `/providers/Microsoft.Management/managementGroups/mg`,
    ]
    for (const value of bad) {
      const r = parseScope(value, "scope")
      expect(Either.isLeft(r) && r.left._tag === "InvalidInput" && r.left.field === "scope", value).toBe(true)
    }
  })
})

// -------------------------------------------------------------------------------------------------
// Properties: no input builds a request path other than the intended one.
// -------------------------------------------------------------------------------------------------

const tricky = fc.constantFrom(
  ".",
  "..",
  "%2e",
  "%2e%2e",
  "a/b",
  "a\\b",
  "a?b=c",
  "a#b",
  "a%2Fb",
  "a%00",
  "(x)",
  "名前",
  "Ünï(cødé)",
  " a",
  "a ",
  "a\nb",
  "a;b",
  "a&api-version=1",
)
const rgAlphabet = fc.constantFrom(
  ..."abcXYZ019_-.()ÄéßЖ名ǅʰ٣".split(""),
  "%",
  "/",
  "?",
  "#",
  " ",
  "\\",
  "😀",
)
const maybeGroupName = fc.oneof(
  fc.string({ unit: rgAlphabet, minLength: 0, maxLength: 95 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  tricky,
)
const maybeSubscription = fc.oneof(fc.uuid(), fc.string({ unit: "binary", maxLength: 40 }), tricky)

const runGroupsGet = (sub: string, name: string) => {
  const http = fakeArm([{ status: 200, body: { id: "x", name: "x", location: "l" } }])
  const layer = ResourceGroupsLive.layer.pipe(Layer.provide(armLayer(http, fakeTokens())))
  return Effect.flatMap(ResourceGroups, (g) => g.get(sub, name)).pipe(
    Effect.provide(layer),
    Effect.either,
    Effect.map((result) => ({ result, requests: http.requests })),
    Effect.runPromise,
  )
}

const runAssignmentsList = (scope: string) => {
  const http = fakeArm([{ status: 200, body: { value: [] } }])
  const layer = RoleAssignmentsLive.layer.pipe(Layer.provide(armLayer(http, fakeTokens())))
  return Effect.flatMap(RoleAssignments, (ra) =>
    Stream.runCollect(ra.list({ scope })).pipe(Effect.map(Chunk.size)),
  ).pipe(
    Effect.provide(layer),
    Effect.either,
    Effect.map((result) => ({ result, requests: http.requests })),
    Effect.runPromise,
  )
}

describe("request paths (property)", () => {
  it("a group get either is refused before the network or requests exactly /subscriptions/{sub}/resourcegroups/{name}", async () => {
    await fc.assert(
      fc.asyncProperty(maybeSubscription, maybeGroupName, async (sub, name) => {
        const valid = Either.isRight(parseSubscriptionId(sub)) && Either.isRight(parseResourceGroupName(name))
        const { result, requests } = await runGroupsGet(sub, name)
        if (!valid) {
          expect(Either.isLeft(result) && result.left._tag === "InvalidInput").toBe(true)
          expect(requests.length).toBe(0)
          return
        }
        expect(requests.length).toBe(1)
        const url = requests[0]!.url
        expect(decodedSegments(url)).toEqual(["subscriptions", sub, "resourcegroups", name])
        expect([...url.searchParams.keys()]).toEqual(["api-version"])
        expect(url.hash).toBe("")
      }),
      { numRuns: Number(process.env.ARM_PROP_RUNS ?? 400) },
    )
  })

  const segmentName = fc.oneof(fc.string({ unit: "binary", minLength: 1, maxLength: 20 }), tricky)
  const structuredScope = fc.record({
    sub: fc.uuid(),
    rg: fc.oneof(fc.string({ unit: rgAlphabet, minLength: 1, maxLength: 30 }), tricky),
    resources: fc.array(
      fc.tuple(fc.constantFrom("virtualMachines", "extensions", "disks", "x1"), segmentName),
      {
        maxLength: 3,
      },
    ),
    rgKeyword: fc.constantFrom("resourceGroups", "resourcegroups", "RESOURCEGROUPS"),
    trailingSlash: fc.boolean(),
  })

  it("a role assignment list at any scope string requests exactly {scope}/providers/Microsoft.Authorization/roleAssignments", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(structuredScope, fc.string({ unit: "binary", maxLength: 60 })),
        async (input) => {
          const scope =
            typeof input === "string"
              ? input
              : `/subscriptions/${input.sub}/${input.rgKeyword}/${input.rg}${
                  input.resources.length === 0
                    ? ""
                    : `/providers/Microsoft.Compute/${input.resources.map(([t, n]) => `${t}/${n}`).join("/")}`
                }${input.trailingSlash ? "/" : ""}`
          const parsed = parseScope(scope)
          const { result, requests } = await runAssignmentsList(scope)
          if (Either.isLeft(parsed)) {
            expect(Either.isLeft(result) && result.left._tag === "InvalidInput").toBe(true)
            expect(requests.length).toBe(0)
            return
          }
          expect(requests.length).toBe(1)
          const segments = decodedSegments(requests[0]!.url)
          expect(segments).toEqual([
            ...scopeSegments(parsed.right),
            "providers",
            "Microsoft.Authorization",
            "roleAssignments",
          ])
          // ... and those segments are the very ones the user typed (keywords compared case-insensitively).
          const typed = (scope.endsWith("/") && scope.length > 1 ? scope.slice(0, -1) : scope)
            .split("/")
            .slice(1)
          expect(segments.slice(0, -3).length).toBe(typed.length)
          segments.slice(0, -3).forEach((s, i) => {
            const isKeyword = i % 2 === 0 && i <= 4
            expect(isKeyword ? s.toLowerCase() : s).toBe(isKeyword ? typed[i]!.toLowerCase() : typed[i])
          })
          // (A "/" inside a generated name makes a different scope string: the check above covers it.)
          if (typeof input !== "string" && !input.rg.includes("/")) {
            expect(segments[1]).toBe(input.sub)
            expect(segments[3]).toBe(input.rg)
          }
        },
      ),
      { numRuns: Number(process.env.ARM_PROP_RUNS ?? 400) },
    )
  })
})
