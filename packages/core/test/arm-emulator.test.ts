/**
 * The seed flow and ARM behaviour against the emulator (a real HTTPS server on 127.0.0.1).
 */
import { defaultWorld, type Emulator, startEmulator } from "@azmi/emulator"
import { Chunk, Effect, Either, Layer, Option, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ResourceGroups } from "../src/ResourceGroups.js"
import { BuiltInRoles, RoleAssignments } from "../src/RoleAssignments.js"
import { adminLayer, vmLayer } from "./arm-emulator-fixtures.js"

let emu: Emulator

beforeAll(async () => {
  emu = await startEmulator()
})
afterAll(async () => {
  await emu?.close()
})

const run = <A, E, R, LE>(layer: Layer.Layer<R, LE>, effect: Effect.Effect<A, E, R>) =>
  Effect.runPromise(Effect.either(Effect.provide(effect, Layer.orDie(layer))))

const vmPrincipal = () => emu.vm.systemAssigned?.principalId as string
const rgScope = () => `/subscriptions/${emu.subscriptionId}/resourceGroups/DevTest`

const getDevTest = Effect.flatMap(ResourceGroups, (g) => g.get(emu.subscriptionId, "DevTest"))

const grant = (scope: string, role = "Reader") =>
  Effect.flatMap(RoleAssignments, (ra) => ra.create({ scope, principalId: vmPrincipal(), role }))

const revoke = (id: string) => Effect.flatMap(RoleAssignments, (ra) => ra.delete({ id }))

describe("seed flow against the emulator", () => {
  it("403 AuthorizationFailed → grant Reader on the group → 200 → revoke → 403", async () => {
    const before = await run(vmLayer(emu), getDevTest)
    expect(Either.isLeft(before)).toBe(true)
    const denied = Either.isLeft(before) ? before.left : undefined
    expect(denied).toMatchObject({ _tag: "AuthorizationFailed", principalId: vmPrincipal() })
    expect(denied?._tag === "AuthorizationFailed" && denied.action.toLowerCase()).toBe(
      "microsoft.resources/subscriptions/resourcegroups/read",
    )
    expect(denied?._tag === "AuthorizationFailed" && denied.scope.toLowerCase()).toBe(rgScope().toLowerCase())
    expect(denied?._tag === "AuthorizationFailed" && denied.hint).toContain(
      `--assignee-object-id ${vmPrincipal()} --role Reader`,
    )
    expect(denied?._tag === "AuthorizationFailed" && denied.requestId).toBeTruthy()

    const created = await run(adminLayer(emu), grant(rgScope()))
    if (Either.isLeft(created)) throw new Error(`grant failed: ${created.left.message}`)
    expect(created.right.value.properties.principalId).toBe(vmPrincipal())
    expect(created.right.value.properties.roleDefinitionId.toLowerCase()).toContain(BuiltInRoles.Reader)

    // Granting the same role again is success and returns the same assignment.
    const again = await run(adminLayer(emu), grant(rgScope()))
    expect(Either.isRight(again) && again.right.value.name).toBe(created.right.value.name)

    const after = await run(vmLayer(emu), getDevTest)
    if (Either.isLeft(after)) throw new Error(`read failed: ${after.left.message}`)
    expect(after.right.value.name).toBe("DevTest")
    expect(after.right.value.location).toBe("westus")
    expect(after.right.value.tags).toEqual({ env: "dev" })
    expect(after.right.metadata.requestId).toBeTruthy()
    expect(typeof after.right.metadata.remainingReads).toBe("number")

    const deleted = await run(adminLayer(emu), revoke(created.right.value.id))
    expect(Either.isRight(deleted) && Option.isSome(deleted.right)).toBe(true)
    const deletedAgain = await run(adminLayer(emu), revoke(created.right.value.id))
    expect(Either.isRight(deletedAgain) && Option.isNone(deletedAgain.right)).toBe(true)

    const revoked = await run(vmLayer(emu), getDevTest)
    expect(Either.isLeft(revoked) && revoked.left._tag).toBe("AuthorizationFailed")
  })

  it("a denied role assignment names a role that, once granted, lets it through (not Contributor)", async () => {
    // The VM's identity tries to grant itself Reader: that needs roleAssignments/write.
    const assign = grant(rgScope(), "Reader")
    const before = await run(vmLayer(emu), assign)
    const denied = Either.isLeft(before) ? before.left : undefined
    expect(denied?._tag).toBe("AuthorizationFailed")
    const hint = denied?._tag === "AuthorizationFailed" ? (denied.hint ?? "") : ""
    expect(hint).toMatch(
      /^An Owner or User Access Administrator of the scope must run: azmi role assignment create /,
    )
    // Follow the hint as the admin: grant the role it names, at the scope it names.
    const role = /--role '([^']+)'|--role (\S+)/.exec(hint)
    const named = role?.[1] ?? role?.[2] ?? ""
    const granted = await run(adminLayer(emu), grant(rgScope(), named))
    if (Either.isLeft(granted)) throw new Error(`grant failed: ${granted.left.message}`)
    try {
      const after = await run(vmLayer(emu), assign)
      if (Either.isLeft(after)) throw new Error(`still denied after granting ${named}: ${after.left.message}`)
      await run(adminLayer(emu), revoke(after.right.value.id))
    } finally {
      await run(adminLayer(emu), revoke(granted.right.value.id))
    }
  })

  it("a Reader assignment on the subscription is inherited by its groups", async () => {
    const created = await run(adminLayer(emu), grant(`/subscriptions/${emu.subscriptionId}`))
    if (Either.isLeft(created)) throw new Error(`grant failed: ${created.left.message}`)
    try {
      const read = await run(vmLayer(emu), getDevTest)
      expect(Either.isRight(read) && read.right.value.name).toBe("DevTest")

      const checks = await run(
        vmLayer(emu),
        Effect.flatMap(ResourceGroups, (g) =>
          Effect.all({
            yes: g.exists(emu.subscriptionId, "devtest"),
            no: g.exists(emu.subscriptionId, "NoSuchGroup"),
            missing: Effect.either(g.get(emu.subscriptionId, "NoSuchGroup")),
            listed: Stream.runCollect(g.list(emu.subscriptionId)).pipe(Effect.map(Chunk.toReadonlyArray)),
          }),
        ),
      )
      if (Either.isLeft(checks)) throw new Error(checks.left.message)
      expect(checks.right.yes).toBe(true)
      expect(checks.right.no).toBe(false)
      expect(Either.flip(checks.right.missing).pipe(Either.getOrUndefined)).toMatchObject({
        _tag: "ResourceGroupNotFound",
        subscriptionId: emu.subscriptionId,
        resourceGroupName: "NoSuchGroup",
      })
      expect(checks.right.listed.map((g) => g.name)).toContain("DevTest")

      // The VM's assignments, seen through its principal filter, include the inherited one.
      const mine = await run(
        adminLayer(emu),
        Effect.flatMap(RoleAssignments, (ra) =>
          Stream.runCollect(ra.list({ scope: rgScope(), principalId: vmPrincipal() })).pipe(
            Effect.map(Chunk.toReadonlyArray),
          ),
        ),
      )
      expect(Either.isRight(mine) && mine.right.map((a) => a.name)).toContain(created.right.value.name)
    } finally {
      await run(adminLayer(emu), revoke(created.right.value.id))
    }
  })

  it("looks a non-built-in role up by name, and an unknown name is RoleNotFound", async () => {
    const uaa = await run(adminLayer(emu), grant(rgScope(), "User Access Administrator"))
    if (Either.isLeft(uaa)) throw new Error(uaa.left.message)
    expect(uaa.right.value.properties.roleDefinitionId.toLowerCase()).toContain(
      "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    )
    await run(adminLayer(emu), revoke(uaa.right.value.id))
    const unknown = await run(adminLayer(emu), grant(rgScope(), "Readr"))
    expect(Either.isLeft(unknown) && unknown.left).toMatchObject({ _tag: "RoleNotFound", role: "Readr" })
  })

  it("an unknown subscription is SubscriptionNotFound (or a typed denial), never a crash", async () => {
    const other = "00000000-1111-4222-8333-444444444444"
    const res = await run(
      adminLayer(emu),
      Effect.flatMap(ResourceGroups, (g) => g.get(other, "DevTest")),
    )
    expect(Either.isLeft(res) && ["SubscriptionNotFound", "AuthorizationFailed"]).toContain(
      Either.isLeft(res) ? res.left._tag : "none",
    )
  })

  it("invalid input is refused before any request reaches the emulator", async () => {
    emu.requests.reset()
    const res = await run(
      vmLayer(emu),
      Effect.flatMap(ResourceGroups, (g) => g.get(emu.subscriptionId, "../../providers/x")),
    )
    expect(Either.isLeft(res) && res.left._tag).toBe("InvalidInput")
    expect(emu.requests.count({ target: "arm" })).toBe(0)
  })
})

describe("retries against the emulator's faults", () => {
  const withReader = async (f: () => Promise<void>) => {
    const created = await run(adminLayer(emu), grant(rgScope()))
    if (Either.isLeft(created)) throw new Error(created.left.message)
    try {
      await f()
    } finally {
      emu.faults.clear()
      await run(adminLayer(emu), revoke(created.right.value.id))
    }
  }

  it("429 with Retry-After, then success", async () => {
    await withReader(async () => {
      emu.requests.reset()
      emu.faults.inject({ target: "arm", status: 429, retryAfter: 1, pathIncludes: "/DevTest", count: 1 })
      const res = await run(vmLayer(emu), getDevTest)
      expect(Either.isRight(res)).toBe(true)
      expect(emu.requests.count({ target: "arm", pathIncludes: "/DevTest" })).toBe(2)
    })
  })

  it("503 twice, then success", async () => {
    await withReader(async () => {
      emu.requests.reset()
      emu.faults.inject({ target: "arm", status: 503, pathIncludes: "/DevTest", count: 2 })
      const res = await run(vmLayer(emu), getDevTest)
      expect(Either.isRight(res)).toBe(true)
      expect(emu.requests.count({ target: "arm", pathIncludes: "/DevTest" })).toBe(3)
    })
  })

  it("a connection reset is retried", async () => {
    await withReader(async () => {
      emu.requests.reset()
      emu.faults.inject({ target: "arm", reset: true, pathIncludes: "/DevTest", count: 1 })
      const res = await run(vmLayer(emu), getDevTest)
      expect(Either.isRight(res)).toBe(true)
    })
  })

  it("401 expired token: one forced token refresh and one retry", async () => {
    await withReader(async () => {
      emu.requests.reset()
      emu.faults.inject({
        target: "arm",
        status: 401,
        pathIncludes: "/DevTest",
        count: 1,
        body: JSON.stringify({
          error: {
            code: "ExpiredAuthenticationToken",
            message:
              "The access token expiry UTC time '8/17/2017 10:54:41 PM' is earlier than current UTC time '8/17/2017 10:55:43 PM'.",
          },
        }),
      })
      const res = await run(vmLayer(emu), getDevTest)
      expect(Either.isRight(res)).toBe(true)
      expect(emu.requests.count({ target: "arm", pathIncludes: "/DevTest" })).toBe(2)
      expect(emu.requests.count({ target: "imds-token" })).toBe(2)
    })
  })

  it("a slow answer past the attempt timeout is abandoned and retried", async () => {
    await withReader(async () => {
      emu.requests.reset()
      // Without the attempt timeout this call would wait a minute (and the test time out).
      emu.faults.inject({ target: "arm", latencyMs: 60_000, pathIncludes: "/DevTest", count: 1 })
      const res = await run(vmLayer(emu, { attemptTimeoutMs: 500 }), getDevTest)
      expect(Either.isRight(res)).toBe(true)
    })
  })

  it("a 400 is not retried", async () => {
    await withReader(async () => {
      emu.requests.reset()
      emu.faults.inject({ target: "arm", status: 400, pathIncludes: "/DevTest", count: 1 })
      const res = await run(vmLayer(emu), getDevTest)
      expect(Either.isLeft(res) && res.left._tag).toBe("ArmRequestFailed")
      expect(emu.requests.count({ target: "arm", pathIncludes: "/DevTest" })).toBe(1)
    })
  })
})

describe("listing against the emulator", () => {
  let big: Emulator
  beforeAll(async () => {
    const world = defaultWorld()
    const sub = world.subscriptions[0]?.subscriptionId as string
    const extra = Array.from({ length: 23 }, (_, i) => ({
      subscriptionId: sub,
      name: `grp-${String(i).padStart(2, "0")}`,
      location: "westus",
      tags: { team: i % 3 === 0 ? "red" : "blue" },
    }))
    big = await startEmulator({ world: { ...world, resourceGroups: [...world.resourceGroups, ...extra] } })
  })
  afterAll(async () => {
    await big?.close()
  })

  const listAs = (options?: { top?: number; pageSize?: number; tag?: { name: string; value?: string } }) =>
    run(
      adminLayer(big),
      Stream.runCollect(
        Stream.unwrap(Effect.map(ResourceGroups, (g) => g.list(big.subscriptionId, options))),
      ).pipe(Effect.map(Chunk.toReadonlyArray)),
    )

  it("follows nextLink across pages to every group", async () => {
    big.requests.reset()
    const all = await listAs({ pageSize: 5 })
    if (Either.isLeft(all)) throw new Error(all.left.message)
    expect(all.right.length).toBe(24)
    expect(new Set(all.right.map((g) => g.name)).size).toBe(24)
    expect(big.requests.count({ target: "arm", pathIncludes: "/resourcegroups" })).toBe(5)
  })

  it("$top bounds the total", async () => {
    const some = await listAs({ top: 5 })
    expect(Either.isRight(some) && some.right.length).toBe(5)
  })

  it("filters by tag name and value", async () => {
    const red = await listAs({ tag: { name: "team", value: "red" }, pageSize: 3 })
    if (Either.isLeft(red)) throw new Error(red.left.message)
    expect(red.right.length).toBe(8)
    expect(red.right.every((g) => g.tags.team === "red")).toBe(true)
    const tagged = await listAs({ tag: { name: "env" } })
    expect(Either.isRight(tagged) && tagged.right.map((g) => g.name)).toEqual(["DevTest"])
  })
})
