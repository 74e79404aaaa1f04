/**
 * The core's test layers (`layerTest` on each service): what the shells' tests stand on, so they must
 * answer as the live services would — the same validation, filters and typed errors — and report every
 * call.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Option, Redacted, Stream } from "effect"
import { ImdsUnavailable } from "../src/Errors.js"
import { ComputeMetadata, InstanceMetadata } from "../src/InstanceMetadata.js"
import { ResourceGroup, ResourceGroups, type ResourceGroupsCall } from "../src/ResourceGroups.js"
import {
  BuiltInRoles,
  RoleAssignment,
  RoleAssignments,
  type RoleAssignmentsCall,
} from "../src/RoleAssignments.js"
import { type GetTokenCall, TokenProvider, testToken } from "../src/TokenProvider.js"

const sub = "98f51385-2edc-4b79-bed9-7718de4cb861"
const otherSub = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
const oid = "11111111-2222-3333-4444-555555555555"
const otherOid = "66666666-7777-8888-9999-000000000000"

const group = (subscriptionId: string, name: string, tags: Record<string, string> = {}) =>
  new ResourceGroup({
    id: `/subscriptions/${subscriptionId}/resourceGroups/${name}`,
    name,
    location: "westus",
    tags,
  })

const tagOf = (error: unknown) => (error as { _tag?: string })._tag

describe("TokenProvider.layerTest", () => {
  it.effect("answers testToken(resource) by default and tells onCall of every call", () => {
    const calls: Array<GetTokenCall> = []
    return Effect.gen(function* () {
      const tp = yield* TokenProvider
      const token = yield* tp.getToken("https://vault.azure.net")
      yield* tp.getToken("https://vault.azure.net", { forceRefresh: true })
      expect(token).toEqual(testToken("https://vault.azure.net"))
      expect(Redacted.value(token.token)).toBe("test-token-for-https://vault.azure.net")
      expect(tp.description).toBe("test token provider")
      expect(calls).toEqual([
        { resource: "https://vault.azure.net", forceRefresh: false },
        { resource: "https://vault.azure.net", forceRefresh: true },
      ])
    }).pipe(Effect.provide(TokenProvider.layerTest({ onCall: (call) => calls.push(call) })))
  })

  it.effect("answers with getToken when given (a failure here)", () =>
    Effect.gen(function* () {
      const tp = yield* TokenProvider
      const failed = yield* Effect.either(tp.getToken("https://management.azure.com/"))
      expect(Either.isLeft(failed) && failed.left._tag).toBe("ImdsUnavailable")
      expect(tp.description).toBe("broken")
    }).pipe(
      Effect.provide(
        TokenProvider.layerTest({
          description: "broken",
          getToken: () => Effect.fail(new ImdsUnavailable({ endpoint: "x", reason: "ConnectTimeout" })),
        }),
      ),
    ),
  )
})

describe("InstanceMetadata.layerTest", () => {
  const vm = new ComputeMetadata({
    subscriptionId: sub,
    resourceGroupName: "DevTest",
    name: "myVM",
    location: "westus",
    vmId: "vm-1",
  })

  it.effect("answers the metadata given, or runs the effect given on every read", () =>
    Effect.gen(function* () {
      const fixed = yield* Effect.provide(
        Effect.flatMap(InstanceMetadata, (m) => m.compute),
        InstanceMetadata.layerTest(vm),
      )
      expect(fixed).toBe(vm)
      let reads = 0
      const counted = InstanceMetadata.layerTest(Effect.sync(() => ++reads).pipe(Effect.as(vm)))
      yield* Effect.provide(
        Effect.flatMap(InstanceMetadata, (m) => Effect.zipRight(m.compute, m.compute)),
        counted,
      )
      expect(reads).toBe(2)
      const off = yield* Effect.provide(
        Effect.either(Effect.flatMap(InstanceMetadata, (m) => m.compute)),
        InstanceMetadata.layerTest(
          Effect.fail(new ImdsUnavailable({ endpoint: "x", reason: "ConnectTimeout" })),
        ),
      )
      expect(Either.isLeft(off) && off.left._tag).toBe("ImdsUnavailable")
    }),
  )
})

describe("ResourceGroups.layerTest", () => {
  const devTest = group(sub, "DevTest", { env: "dev", Owner: "ops" })
  const prod = group(sub, "Prod", { env: "prod" })
  const elsewhere = group(otherSub, "DevTest")
  const setup = (extra: Parameters<typeof ResourceGroups.layerTest>[0] = {}) => {
    const calls: Array<ResourceGroupsCall> = []
    const layer = ResourceGroups.layerTest({
      groups: [devTest, prod, elsewhere],
      metadata: { requestId: "req-1" },
      onCall: (call) => calls.push(call),
      ...extra,
    })
    const run = <A, E>(f: (rg: ResourceGroups["Type"]) => Effect.Effect<A, E>) =>
      Effect.either(Effect.provide(Effect.flatMap(ResourceGroups, f), layer))
    return { calls, run }
  }

  it.effect("get finds a group by subscription and name (any case); another is ResourceGroupNotFound", () =>
    Effect.gen(function* () {
      const { calls, run } = setup()
      const found = yield* run((rg) => rg.get(sub, "devtest"))
      expect(found).toEqual(Either.right({ value: devTest, metadata: { requestId: "req-1" } }))
      const other = yield* run((rg) => rg.get(otherSub, "DevTest"))
      expect(Either.isRight(other) && other.right.value).toBe(elsewhere)
      const missing = yield* run((rg) => rg.get(otherSub, "Prod"))
      expect(Either.isLeft(missing) && missing.left).toMatchObject({
        _tag: "ResourceGroupNotFound",
        subscriptionId: otherSub,
        resourceGroupName: "Prod",
      })
      expect(calls).toEqual([
        { op: "get", subscriptionId: sub, resourceGroupName: "devtest" },
        { op: "get", subscriptionId: otherSub, resourceGroupName: "DevTest" },
        { op: "get", subscriptionId: otherSub, resourceGroupName: "Prod" },
      ])
    }),
  )

  it.effect(
    "validates like the live service: a bad subscription or name is InvalidInput, still reported",
    () =>
      Effect.gen(function* () {
        const { calls, run } = setup()
        const badSub = yield* run((rg) => rg.get("not-a-guid", "DevTest"))
        expect(Either.isLeft(badSub) && badSub.left).toMatchObject({
          _tag: "InvalidInput",
          field: "subscriptionId",
        })
        const badName = yield* run((rg) => rg.exists(sub, "a/b"))
        expect(Either.isLeft(badName) && badName.left).toMatchObject({
          _tag: "InvalidInput",
          field: "resourceGroupName",
        })
        const badTop = yield* run((rg) => Stream.runCollect(rg.list(sub, { top: 0 })))
        expect(Either.isLeft(badTop) && badTop.left).toMatchObject({ _tag: "InvalidInput", field: "top" })
        expect(calls.map((c) => c.op)).toEqual(["get", "exists", "list"])
      }),
  )

  it.effect("exists is true for a group of the subscription (any case), false otherwise", () =>
    Effect.gen(function* () {
      const { run } = setup()
      expect(yield* run((rg) => rg.exists(sub, "PROD"))).toEqual(Either.right(true))
      expect(yield* run((rg) => rg.exists(otherSub, "Prod"))).toEqual(Either.right(false))
    }),
  )

  it.effect(
    "list gives the subscription's groups in order, by tag (name any case, value exact), cut at top",
    () =>
      Effect.gen(function* () {
        const { calls, run } = setup()
        const names = (options?: Parameters<ResourceGroups["Type"]["list"]>[1]) =>
          run((rg) => Stream.runCollect(rg.list(sub, options))).pipe(
            Effect.map(Either.map((groups) => [...groups].map((g) => g.name))),
          )
        expect(yield* names()).toEqual(Either.right(["DevTest", "Prod"]))
        expect(yield* names({ tag: { name: "ENV" } })).toEqual(Either.right(["DevTest", "Prod"]))
        expect(yield* names({ tag: { name: "env", value: "prod" } })).toEqual(Either.right(["Prod"]))
        expect(yield* names({ tag: { name: "env", value: "PROD" } })).toEqual(Either.right([]))
        expect(yield* names({ tag: { name: "owner" } })).toEqual(Either.right(["DevTest"]))
        expect(yield* names({ top: 1 })).toEqual(Either.right(["DevTest"]))
        expect(calls[1]).toEqual({ op: "list", subscriptionId: sub, options: { tag: { name: "ENV" } } })
      }),
  )

  it.effect("get, exists and list given answer instead of the groups; onCall is still told", () =>
    Effect.gen(function* () {
      const { calls, run } = setup({
        get: () => Effect.die("boom"),
        exists: () => Effect.succeed(false),
        list: () => Stream.make(prod),
      })
      expect(yield* run((rg) => rg.exists(sub, "DevTest"))).toEqual(Either.right(false))
      expect(yield* run((rg) => Stream.runCollect(rg.list(sub)).pipe(Effect.map((c) => [...c])))).toEqual(
        Either.right([prod]),
      )
      const died = yield* Effect.exit(run((rg) => rg.get(sub, "DevTest")))
      expect(Exit.isFailure(died)).toBe(true)
      expect(calls.map((c) => c.op)).toEqual(["exists", "list", "get"])
    }),
  )
})

describe("RoleAssignments.layerTest", () => {
  const rgScope = `/subscriptions/${sub}/resourceGroups/DevTest`
  const subScope = `/subscriptions/${sub}`
  const vmScope = `${rgScope}/providers/Microsoft.Compute/virtualMachines/myVM`
  const assignment = (name: string, scope: string, role: string, principalId = oid) =>
    new RoleAssignment({
      id: `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}`,
      name,
      type: "Microsoft.Authorization/roleAssignments",
      properties: {
        roleDefinitionId: `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/${role}`,
        principalId,
        principalType: "ServicePrincipal",
        scope,
      },
    })
  const atSub = assignment("00000000-0000-4000-8000-000000000001", subScope, BuiltInRoles.Reader)
  const atRg = assignment("00000000-0000-4000-8000-000000000002", rgScope, BuiltInRoles.Contributor)
  const atVm = assignment("00000000-0000-4000-8000-000000000003", vmScope, BuiltInRoles.Reader, otherOid)
  const layer = (calls: Array<RoleAssignmentsCall> = []) =>
    RoleAssignments.layerTest({ assignments: [atSub, atRg, atVm], onCall: (call) => calls.push(call) })
  const names = (input: Parameters<RoleAssignments["Type"]["list"]>[0]) =>
    Effect.flatMap(RoleAssignments, (ra) => Stream.runCollect(ra.list(input))).pipe(
      Effect.map((found) => [...found].map((a) => a.name.slice(-1))),
      Effect.either,
    )

  it.effect(
    "list: at, above and below the scope; atScope at or above; by principal, role and exact scope",
    () =>
      Effect.gen(function* () {
        expect(yield* names({ scope: rgScope })).toEqual(Either.right(["1", "2", "3"]))
        expect(yield* names({ scope: rgScope, atScope: true })).toEqual(Either.right(["1", "2"]))
        expect(yield* names({ scope: vmScope, atScope: true })).toEqual(Either.right(["1", "2", "3"]))
        expect(yield* names({ scope: subScope, principalId: otherOid })).toEqual(Either.right(["3"]))
        expect(yield* names({ scope: subScope, role: "reader" })).toEqual(Either.right(["1", "3"]))
        expect(yield* names({ scope: subScope, role: BuiltInRoles.Contributor.toUpperCase() })).toEqual(
          Either.right(["2"]),
        )
        expect(
          yield* names({
            scope: subScope,
            role: `/providers/Microsoft.Authorization/roleDefinitions/${BuiltInRoles.Reader}`,
            exactScope: true,
          }),
        ).toEqual(Either.right(["1"]))
      }).pipe(Effect.provide(layer())),
  )

  it.effect("list: bad input is InvalidInput; a role name it does not know is RoleNotFound", () =>
    Effect.gen(function* () {
      const badScope = yield* names({ scope: "/nope" })
      expect(Either.isLeft(badScope) && tagOf(badScope.left)).toBe("InvalidInput")
      const badPrincipal = yield* names({ scope: subScope, principalId: "me" })
      expect(Either.isLeft(badPrincipal) && badPrincipal.left).toMatchObject({ field: "principalId" })
      const custom = yield* names({ scope: subScope, role: "Storage Blob Data Reader" })
      expect(Either.isLeft(custom) && custom.left).toMatchObject({
        _tag: "RoleNotFound",
        role: "Storage Blob Data Reader",
      })
    }).pipe(Effect.provide(layer())),
  )

  it.effect("create adds an assignment once (an identical one is returned); delete removes it", () => {
    const calls: Array<RoleAssignmentsCall> = []
    return Effect.gen(function* () {
      const ra = yield* RoleAssignments
      const input = { scope: rgScope, principalId: otherOid, role: "Owner", description: "ops" }
      const created = yield* ra.create(input)
      expect(created.value.properties).toMatchObject({
        principalId: otherOid,
        principalType: "ServicePrincipal",
        scope: rgScope,
        description: "ops",
      })
      expect(created.value.properties.roleDefinitionId.endsWith(`/${BuiltInRoles.Owner}`)).toBe(true)
      const again = yield* ra.create({ ...input, scope: rgScope.toLowerCase(), role: BuiltInRoles.Owner })
      expect(again.value).toBe(created.value)
      expect(yield* names({ scope: rgScope, principalId: otherOid, exactScope: true })).toEqual(
        Either.right([created.value.name.slice(-1)]),
      )
      expect(yield* ra.delete({ id: created.value.id.toUpperCase() })).toEqual(Option.some(created.value))
      expect(yield* ra.delete({ scope: rgScope, name: created.value.name })).toEqual(Option.none())
      const bad = yield* Effect.either(ra.delete({ id: "garbage" }))
      expect(Either.isLeft(bad) && tagOf(bad.left)).toBe("InvalidInput")
      const badType = yield* Effect.either(ra.create({ ...input, principalType: "Robot" as never }))
      expect(Either.isLeft(badType) && badType.left).toMatchObject({ field: "principalType" })
      expect(calls.map((c) => c.op)).toEqual([
        "create",
        "create",
        "list",
        "delete",
        "delete",
        "delete",
        "create",
      ])
    }).pipe(Effect.provide(layer(calls)))
  })

  it.effect("each build of the layer starts from the assignments given", () =>
    Effect.gen(function* () {
      const shared = layer()
      const removed = yield* Effect.provide(
        Effect.flatMap(RoleAssignments, (ra) => ra.delete({ id: atRg.id })),
        shared,
      )
      expect(removed).toEqual(Option.some(atRg))
      expect(yield* Effect.provide(names({ scope: rgScope }), shared)).toEqual(Either.right(["1", "2", "3"]))
    }),
  )

  it.effect("create, list and delete given answer instead of memory; onCall is still told", () => {
    const calls: Array<RoleAssignmentsCall> = []
    return Effect.gen(function* () {
      const ra = yield* RoleAssignments
      expect(yield* ra.delete({ id: atSub.id })).toEqual(Option.none())
      expect([...(yield* Stream.runCollect(ra.list({ scope: "anything" })))]).toEqual([atVm])
      expect(calls).toEqual([
        { op: "delete", input: { id: atSub.id } },
        { op: "list", input: { scope: "anything" } },
      ])
    }).pipe(
      Effect.provide(
        RoleAssignments.layerTest({
          assignments: [atSub],
          onCall: (call) => calls.push(call),
          list: () => Stream.make(atVm),
          delete: () => Effect.succeed(Option.none()),
        }),
      ),
    )
  })
})
