import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Stream } from "effect"
import { ArmApiVersions } from "../src/ArmClient.js"
import { AuthorizationFailed, errorCategory } from "../src/Errors.js"
import type { ListResourceGroupsOptions } from "../src/ResourceGroups.js"
import { ResourceGroups } from "../src/ResourceGroups.js"
import * as ResourceGroupsLive from "../src/ResourceGroupsLive.js"
import {
  armError,
  armLayer,
  decodedSegments,
  ENDPOINT,
  fakeArm,
  fakeTokens,
  type Recorded,
  type Reply,
  rg,
  SUB,
} from "./arm-fixtures.js"

const withGroups = <A, E>(
  replies: ReadonlyArray<Reply> | ((req: Recorded, i: number) => Reply),
  f: (groups: ResourceGroups["Type"]) => Effect.Effect<A, E>,
  tokens = fakeTokens(),
) => {
  const http = fakeArm(replies)
  const layer = ResourceGroupsLive.layer.pipe(Layer.provide(armLayer(http, tokens)))
  return { http, run: Effect.flatMap(ResourceGroups, f).pipe(Effect.provide(layer)) }
}

const listAll = (options?: ListResourceGroupsOptions) => (groups: ResourceGroups["Type"]) =>
  Stream.runCollect(groups.list(SUB, options)).pipe(Effect.map(Chunk.toReadonlyArray))

describe("ResourceGroups.get", () => {
  it.effect("GETs the group with the pinned api-version and decodes it", () =>
    Effect.gen(function* () {
      const { http, run } = withGroups(
        [
          {
            status: 200,
            body: rg("DevTest", { tags: { env: "dev" }, managedBy: "x" }),
            headers: { "x-ms-request-id": "r" },
          },
        ],
        (g) => g.get(SUB, "DevTest"),
      )
      const res = yield* run
      expect(res.value.name).toBe("DevTest")
      expect(res.value.tags).toEqual({ env: "dev" })
      expect(res.value.managedBy).toBe("x")
      expect(res.value.properties.provisioningState).toBe("Succeeded")
      expect(res.metadata.requestId).toBe("r")
      expect(http.requests[0]?.method).toBe("GET")
      expect(decodedSegments(http.requests[0]!.url)).toEqual([
        "subscriptions",
        SUB,
        "resourcegroups",
        "DevTest",
      ])
      expect(http.requests[0]?.url.searchParams.get("api-version")).toBe(ArmApiVersions.resourceGroups)
    }),
  )

  it.effect("percent-encodes a Unicode name with parentheses as one segment", () =>
    Effect.gen(function* () {
      const name = "Über(test).grüppe_1-ä"
      const { http, run } = withGroups([{ status: 200, body: rg(name) }], (g) => g.get(SUB, name))
      yield* run
      expect(decodedSegments(http.requests[0]!.url)).toEqual(["subscriptions", SUB, "resourcegroups", name])
    }),
  )

  it.effect("ResourceGroupNotFound carries subscription and name", () =>
    Effect.gen(function* () {
      const { run } = withGroups(
        [
          {
            status: 404,
            body: armError("ResourceGroupNotFound", "Resource group 'Missing' could not be found."),
          },
        ],
        (g) => g.get(SUB, "Missing"),
      )
      expect(yield* Effect.flip(run)).toMatchObject({
        _tag: "ResourceGroupNotFound",
        subscriptionId: SUB,
        resourceGroupName: "Missing",
      })
    }),
  )

  it.effect("invalid inputs fail with InvalidInput and make no request", () =>
    Effect.gen(function* () {
      const cases: Array<[string, string, string, string]> = [
        ["not-a-guid", "DevTest", "subscriptionId", "must be a GUID"],
        [SUB, "", "resourceGroupName", "1 to 90"],
        [SUB, "a".repeat(91), "resourceGroupName", "1 to 90"],
        [SUB, "dev.", "resourceGroupName", "period"],
        [SUB, "../x", "resourceGroupName", "only letters"],
        [SUB, "a/b", "resourceGroupName", "only letters"],
        [SUB, "a b", "resourceGroupName", "only letters"],
        [SUB, "a?api-version=1", "resourceGroupName", "only letters"],
      ]
      for (const [sub, name, field, rule] of cases) {
        const { http, run } = withGroups([{ status: 200, body: rg("x") }], (g) => g.get(sub, name))
        const e = yield* Effect.flip(run)
        expect(e).toMatchObject({ _tag: "InvalidInput", field })
        expect(e.message).toContain(rule)
        expect(http.requests.length).toBe(0)
      }
    }),
  )
})

describe("ResourceGroups.exists", () => {
  it.effect("HEAD: 204 is true, 404 is false", () =>
    Effect.gen(function* () {
      const yes = withGroups([{ status: 204 }], (g) => g.exists(SUB, "DevTest"))
      expect(yield* yes.run).toBe(true)
      expect(yes.http.requests[0]?.method).toBe("HEAD")
      const no = withGroups([{ status: 404 }], (g) => g.exists(SUB, "Nope"))
      expect(yield* no.run).toBe(false)
    }),
  )

  it.effect("a 403 (no body, as for any HEAD) is AuthorizationFailed for reading that group", () =>
    Effect.gen(function* () {
      const { run } = withGroups([{ status: 403 }], (g) => g.exists(SUB, "DevTest"))
      const e = yield* Effect.flip(run)
      expect(e).toMatchObject({
        _tag: "AuthorizationFailed",
        action: "Microsoft.Resources/subscriptions/resourceGroups/read",
        scope: `/subscriptions/${SUB}/resourceGroups/DevTest`,
      })
      expect(errorCategory(e)).toBe(
        errorCategory(new AuthorizationFailed({ action: "a", scope: "s", armMessage: "" })),
      )
    }),
  )

  it.effect("…naming the principal from the token's oid, so the hint is the exact grant command", () =>
    Effect.gen(function* () {
      const jwt = (claims: object) => `e30.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.sig`
      const oid = "5a8f3c2e-1b7d-4e9a-9c3f-2d6b8e4a1f07"
      const named = withGroups(
        [{ status: 403 }],
        (g) => g.exists(SUB, "DevTest"),
        fakeTokens(() => jwt({ oid })),
      )
      const e = yield* Effect.flip(named.run)
      expect(e).toMatchObject({ _tag: "AuthorizationFailed", principalId: oid })
      expect(e._tag === "AuthorizationFailed" && e.hint).toBe(
        `An Owner or User Access Administrator of the scope must run: azmi role assignment create --assignee-object-id ${oid} --role Reader --scope /subscriptions/${SUB}/resourceGroups/DevTest`,
      )
      // Anything but a GUID is not put into a command.
      for (const token of [jwt({ oid: "x; rm -rf /" }), jwt({}), "not-a-jwt", "a.%%%.b"]) {
        const odd = withGroups(
          [{ status: 403 }],
          (g) => g.exists(SUB, "DevTest"),
          fakeTokens(() => token),
        )
        const err = yield* Effect.flip(odd.run)
        expect(err).toMatchObject({ _tag: "AuthorizationFailed", principalId: undefined })
        expect(err._tag === "AuthorizationFailed" && err.hint).toBeUndefined()
      }
    }),
  )

  it.effect("other bodiless failures of a HEAD stay untyped ARM errors", () =>
    Effect.gen(function* () {
      const { run } = withGroups([{ status: 409 }], (g) => g.exists(SUB, "DevTest"))
      expect(yield* Effect.flip(run)).toMatchObject({ _tag: "ArmRequestFailed", status: 409 })
    }),
  )
})

describe("ResourceGroups.list", () => {
  /** Pages of the given sizes, chained by nextLink. */
  const paged = (sizes: ReadonlyArray<number>) => {
    let n = 0
    const pages = sizes.map((size, p) => ({
      value: Array.from({ length: size }, () => rg(`g${n++}`)),
      ...(p < sizes.length - 1
        ? {
            nextLink: `${ENDPOINT}/subscriptions/${SUB}/resourcegroups?api-version=${ArmApiVersions.resourceGroups}&%24skiptoken=p${p + 1}`,
          }
        : {}),
    }))
    return (req: Recorded): Reply => {
      const token = req.url.searchParams.get("$skiptoken")
      const index = token === null ? 0 : Number(token.slice(1))
      return { status: 200, body: pages[index] }
    }
  }

  it.effect("follows nextLink through short and empty pages to the end", () =>
    Effect.gen(function* () {
      const { http, run } = withGroups(paged([2, 0, 1, 0, 3]), listAll())
      const groups = yield* run
      expect(groups.map((g) => g.name)).toEqual(["g0", "g1", "g2", "g3", "g4", "g5"])
      expect(http.requests.length).toBe(5)
      // nextLink is followed verbatim
      expect(http.requests[1]?.url.search).toBe(
        `?api-version=${ArmApiVersions.resourceGroups}&%24skiptoken=p1`,
      )
    }),
  )

  it.effect("an empty first page without nextLink is an empty list", () =>
    Effect.gen(function* () {
      const { http, run } = withGroups([{ status: 200, body: { value: [] } }], listAll())
      expect(yield* run).toEqual([])
      expect(http.requests.length).toBe(1)
    }),
  )

  it.effect("nextLink: null ends the listing", () =>
    Effect.gen(function* () {
      const { run } = withGroups([{ status: 200, body: { value: [rg("a")], nextLink: null } }], listAll())
      expect((yield* run).length).toBe(1)
    }),
  )

  it.effect("sends the tag filter and $top, and yields at most top groups", () =>
    Effect.gen(function* () {
      const { http, run } = withGroups(
        paged([2, 2, 2]),
        listAll({ top: 3, tag: { name: "env", value: "dev's" } }),
      )
      const groups = yield* run
      expect(groups.length).toBe(3)
      expect(http.requests.length).toBe(2) // stops pulling once it has 3
      const q = http.requests[0]!.url.searchParams
      expect(q.get("$filter")).toBe("tagName eq 'env' and tagValue eq 'dev''s'")
      expect(q.get("$top")).toBe("3")
    }),
  )

  it.effect("pageSize sets $top per page without limiting the total", () =>
    Effect.gen(function* () {
      const { http, run } = withGroups(paged([2, 2, 1]), listAll({ pageSize: 2 }))
      expect((yield* run).length).toBe(5)
      expect(http.requests[0]?.url.searchParams.get("$top")).toBe("2")
    }),
  )

  it.effect("a tag name alone filters by tagName", () =>
    Effect.gen(function* () {
      const { http, run } = withGroups(
        [{ status: 200, body: { value: [] } }],
        listAll({ tag: { name: "env" } }),
      )
      yield* run
      expect(http.requests[0]?.url.searchParams.get("$filter")).toBe("tagName eq 'env'")
    }),
  )

  it.effect("never follows a nextLink to another host (the token would go with it)", () =>
    Effect.gen(function* () {
      const { http, run } = withGroups(
        [{ status: 200, body: { value: [rg("a")], nextLink: "https://evil.example/steal?x=1" } }],
        listAll(),
      )
      expect(yield* Effect.flip(run)).toMatchObject({ _tag: "ArmRequestFailed", code: "UntrustedNextLink" })
      expect(http.requests.length).toBe(1)
    }),
  )

  it.effect("a nextLink that repeats stops with an error instead of looping", () =>
    Effect.gen(function* () {
      const link = `${ENDPOINT}/subscriptions/${SUB}/resourcegroups?%24skiptoken=same`
      const { http, run } = withGroups([{ status: 200, body: { value: [], nextLink: link } }], listAll())
      expect(yield* Effect.flip(run)).toMatchObject({ _tag: "ArmRequestFailed", code: "NextLinkLoop" })
      expect(http.requests.length).toBe(2)
    }),
  )

  it.effect("errors on a later page surface typed", () =>
    Effect.gen(function* () {
      const { run } = withGroups(
        (_req, i) =>
          i === 0
            ? {
                status: 200,
                body: { value: [rg("a")], nextLink: `${ENDPOINT}/subscriptions/${SUB}/resourcegroups?p=2` },
              }
            : {
                status: 404,
                body: armError("SubscriptionNotFound", `The subscription '${SUB}' could not be found.`),
              },
        listAll(),
      )
      expect(yield* Effect.flip(run)).toMatchObject({ _tag: "SubscriptionNotFound", subscriptionId: SUB })
    }),
  )

  it.effect("invalid list options fail before any request", () =>
    Effect.gen(function* () {
      for (const options of [{ top: 0 }, { top: 1.5 }, { pageSize: 1001 }, { tag: { name: " " } }] as const) {
        const { http, run } = withGroups([{ status: 200, body: { value: [] } }], listAll(options))
        expect((yield* Effect.flip(run))._tag).toBe("InvalidInput")
        expect(http.requests.length).toBe(0)
      }
    }),
  )
})
