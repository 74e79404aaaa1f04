import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Option, Stream } from "effect"
import { ArmApiVersions } from "../src/ArmClient.js"
import { BuiltInRoles, RoleAssignments } from "../src/RoleAssignments.js"
import * as RoleAssignmentsLive from "../src/RoleAssignmentsLive.js"
import {
  armError,
  armLayer,
  decodedSegments,
  fakeArm,
  fakeTokens,
  type Recorded,
  type Reply,
  SUB,
} from "./arm-fixtures.js"

const PRINCIPAL = "5a1e6f0c-1111-4222-8333-444455556666"
const RG_SCOPE = `/subscriptions/${SUB}/resourceGroups/DevTest`
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

const withRa = <A, E>(
  replies: ReadonlyArray<Reply> | ((req: Recorded, i: number) => Reply),
  f: (ra: RoleAssignments["Type"]) => Effect.Effect<A, E>,
) => {
  const http = fakeArm(replies)
  const layer = RoleAssignmentsLive.layer.pipe(Layer.provide(armLayer(http, fakeTokens())))
  return { http, run: Effect.flatMap(RoleAssignments, f).pipe(Effect.provide(layer)) }
}

const assignment = (name: string, scope: string, roleGuid: string, principalId = PRINCIPAL) => ({
  id: `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}`,
  name,
  type: "Microsoft.Authorization/roleAssignments",
  properties: {
    roleDefinitionId: `/providers/Microsoft.Authorization/roleDefinitions/${roleGuid}`,
    principalId,
    principalType: "ServicePrincipal",
    scope,
  },
})

/** Echo a PUT as ARM does (201 with the assignment). */
const echoPut = (req: Recorded): Reply => {
  const segs = decodedSegments(req.url)
  const name = segs[segs.length - 1] as string
  const props = (req.body as { properties: { roleDefinitionId: string } }).properties
  return {
    status: 201,
    body: assignment(name, RG_SCOPE, props.roleDefinitionId.split("/").pop() as string),
    headers: { "x-ms-request-id": "put-1" },
  }
}

describe("RoleAssignments.create", () => {
  it.effect("PUTs a new GUID-named assignment with a built-in role, ServicePrincipal by default", () =>
    Effect.gen(function* () {
      const { http, run } = withRa(echoPut, (ra) =>
        ra.create({ scope: RG_SCOPE, principalId: PRINCIPAL, role: "reader" }),
      )
      const res = yield* run
      const req = http.requests[0]!
      expect(req.method).toBe("PUT")
      const segs = decodedSegments(req.url)
      expect(segs.slice(0, -1)).toEqual([
        "subscriptions",
        SUB,
        "resourceGroups",
        "DevTest",
        "providers",
        "Microsoft.Authorization",
        "roleAssignments",
      ])
      expect(segs.at(-1)).toMatch(GUID)
      expect(req.url.searchParams.get("api-version")).toBe("2022-04-01")
      expect(req.body).toEqual({
        properties: {
          roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${BuiltInRoles.Reader}`,
          principalId: PRINCIPAL,
          principalType: "ServicePrincipal",
        },
      })
      expect(res.value.name).toBe(segs.at(-1))
      expect(res.metadata.requestId).toBe("put-1")
    }),
  )

  it.effect("two creates use two different names", () =>
    Effect.gen(function* () {
      const { http, run } = withRa(echoPut, (ra) =>
        Effect.zip(
          ra.create({ scope: RG_SCOPE, principalId: PRINCIPAL, role: "Reader" }),
          ra.create({ scope: RG_SCOPE, principalId: PRINCIPAL, role: "Owner" }),
        ),
      )
      yield* run
      expect(decodedSegments(http.requests[0]!.url).at(-1)).not.toBe(
        decodedSegments(http.requests[1]!.url).at(-1),
      )
    }),
  )

  it.effect("accepts a role definition GUID or full id, and principalType/description", () =>
    Effect.gen(function* () {
      const custom = "11111111-2222-4333-8444-555555555555"
      for (const role of [
        custom,
        `/providers/Microsoft.Authorization/roleDefinitions/${custom}`,
        `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${custom.toUpperCase()}`,
      ]) {
        const { http, run } = withRa(echoPut, (ra) =>
          ra.create({
            scope: RG_SCOPE,
            principalId: PRINCIPAL,
            role,
            principalType: "User",
            description: "why",
          }),
        )
        yield* run
        expect(http.requests.length).toBe(1)
        expect(http.requests[0]?.body).toMatchObject({
          properties: {
            roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${custom}`,
            principalType: "User",
            description: "why",
          },
        })
      }
    }),
  )

  it.effect("looks other role names up through roleDefinitions at the scope", () =>
    Effect.gen(function* () {
      const custom = "99999999-8888-4777-8666-555555555555"
      const { http, run } = withRa(
        (req) =>
          req.method === "GET"
            ? {
                status: 200,
                body: {
                  value: [
                    {
                      id: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${custom}`,
                      name: custom,
                      properties: { roleName: "Storage Blob Data Reader" },
                    },
                  ],
                },
              }
            : echoPut(req),
        (ra) => ra.create({ scope: RG_SCOPE, principalId: PRINCIPAL, role: "Storage Blob Data Reader" }),
      )
      yield* run
      const lookup = http.requests[0]!
      expect(decodedSegments(lookup.url)).toEqual([
        "subscriptions",
        SUB,
        "resourceGroups",
        "DevTest",
        "providers",
        "Microsoft.Authorization",
        "roleDefinitions",
      ])
      expect(lookup.url.searchParams.get("$filter")).toBe("roleName eq 'Storage Blob Data Reader'")
      expect(lookup.url.searchParams.get("api-version")).toBe(ArmApiVersions.roleDefinitions)
      expect(http.requests[1]?.body).toMatchObject({
        properties: {
          roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${custom}`,
        },
      })
    }),
  )

  it.effect("an unknown role name is RoleNotFound, and nothing is PUT", () =>
    Effect.gen(function* () {
      const { http, run } = withRa([{ status: 200, body: { value: [] } }], (ra) =>
        ra.create({ scope: RG_SCOPE, principalId: PRINCIPAL, role: "Readr" }),
      )
      expect(yield* Effect.flip(run)).toMatchObject({ _tag: "RoleNotFound", role: "Readr", scope: RG_SCOPE })
      expect(http.requests.every((r) => r.method === "GET")).toBe(true)
    }),
  )

  it.effect("an identical existing assignment (409 RoleAssignmentExists) is success, returning it", () =>
    Effect.gen(function* () {
      const existing = "0f0f0f0f-0000-4000-8000-000000000abc"
      const { http, run } = withRa(
        (req) =>
          req.method === "PUT"
            ? { status: 409, body: armError("RoleAssignmentExists", "The role assignment already exists.") }
            : {
                status: 200,
                body: {
                  value: [
                    // same principal, other role / other scope: not it
                    assignment("aaaaaaaa-0000-4000-8000-000000000001", RG_SCOPE, BuiltInRoles.Owner),
                    assignment(
                      "aaaaaaaa-0000-4000-8000-000000000002",
                      `/subscriptions/${SUB}`,
                      BuiltInRoles.Reader,
                    ),
                    // ARM may lowercase the scope
                    assignment(existing, RG_SCOPE.toLowerCase(), BuiltInRoles.Reader),
                  ],
                },
              },
        (ra) => ra.create({ scope: RG_SCOPE, principalId: PRINCIPAL, role: "Reader" }),
      )
      const res = yield* run
      expect(res.value.name).toBe(existing)
      const list = http.requests[1]!
      expect(list.method).toBe("GET")
      expect(list.url.searchParams.get("$filter")).toBe(`principalId eq '${PRINCIPAL}'`)
    }),
  )

  it.effect("a 409 with no matching assignment stays an error", () =>
    Effect.gen(function* () {
      const { run } = withRa(
        (req) =>
          req.method === "PUT"
            ? { status: 409, body: armError("RoleAssignmentExists", "The role assignment already exists.") }
            : { status: 200, body: { value: [] } },
        (ra) => ra.create({ scope: RG_SCOPE, principalId: PRINCIPAL, role: "Reader" }),
      )
      expect(yield* Effect.flip(run)).toMatchObject({
        _tag: "ArmRequestFailed",
        status: 409,
        code: "RoleAssignmentExists",
      })
    }),
  )

  it.effect("invalid scope, principal, role or principalType never reach the network", () =>
    Effect.gen(function* () {
      const cases = [
        [{ scope: "subscriptions/x", principalId: PRINCIPAL, role: "Reader" }, "scope"],
        [{ scope: `${RG_SCOPE}/../../other`, principalId: PRINCIPAL, role: "Reader" }, "scope"],
        [{ scope: RG_SCOPE, principalId: "me", role: "Reader" }, "principalId"],
        [
          {
            scope: RG_SCOPE,
            principalId: PRINCIPAL,
            role: "/providers/Microsoft.Authorization/roleDefinitions/../x",
          },
          "role",
        ],
        [{ scope: RG_SCOPE, principalId: PRINCIPAL, role: "" }, "role"],
        [
          { scope: RG_SCOPE, principalId: PRINCIPAL, role: "Reader", principalType: "Robot" as "User" },
          "principalType",
        ],
      ] as const
      for (const [input, field] of cases) {
        const { http, run } = withRa(echoPut, (ra) => ra.create(input))
        expect(yield* Effect.flip(run)).toMatchObject({ _tag: "InvalidInput", field })
        expect(http.requests.length).toBe(0)
      }
    }),
  )
})

describe("RoleAssignments.list", () => {
  const collect = (stream: Stream.Stream<unknown, unknown>) =>
    Effect.map(Stream.runCollect(stream), Chunk.size)

  it.effect("lists at the scope, with atScope() and principalId filters", () =>
    Effect.gen(function* () {
      const page = {
        status: 200,
        body: { value: [assignment("aaaaaaaa-0000-4000-8000-000000000001", RG_SCOPE, BuiltInRoles.Reader)] },
      }
      const plain = withRa([page], (ra) => collect(ra.list({ scope: RG_SCOPE })))
      expect(yield* plain.run).toBe(1)
      expect(plain.http.requests[0]?.url.searchParams.get("$filter")).toBeNull()
      expect(decodedSegments(plain.http.requests[0]!.url).slice(-3)).toEqual([
        "providers",
        "Microsoft.Authorization",
        "roleAssignments",
      ])

      const at = withRa([page], (ra) => collect(ra.list({ scope: RG_SCOPE, atScope: true })))
      yield* at.run
      expect(at.http.requests[0]?.url.searchParams.get("$filter")).toBe("atScope()")

      const byPrincipal = withRa([page], (ra) =>
        collect(ra.list({ scope: `/subscriptions/${SUB}`, principalId: PRINCIPAL })),
      )
      yield* byPrincipal.run
      expect(byPrincipal.http.requests[0]?.url.searchParams.get("$filter")).toBe(
        `principalId eq '${PRINCIPAL}'`,
      )
      expect(decodedSegments(byPrincipal.http.requests[0]!.url).slice(0, 3)).toEqual([
        "subscriptions",
        SUB,
        "providers",
      ])
    }),
  )

  it.effect("role (any case, GUID or id) and exactScope filter the listed assignments", () =>
    Effect.gen(function* () {
      const ids = (list: ReadonlyArray<{ readonly name: string }>) => list.map((a) => a.name).sort()
      const page = {
        status: 200,
        body: {
          value: [
            assignment("aaaaaaaa-0000-4000-8000-000000000001", RG_SCOPE, BuiltInRoles.Reader),
            assignment(
              "aaaaaaaa-0000-4000-8000-000000000002",
              `${RG_SCOPE.toLowerCase()}/`,
              BuiltInRoles.Reader,
            ),
            assignment("aaaaaaaa-0000-4000-8000-000000000003", `/subscriptions/${SUB}`, BuiltInRoles.Reader),
            assignment("aaaaaaaa-0000-4000-8000-000000000004", RG_SCOPE, BuiltInRoles.Owner),
          ],
        },
      }
      const all = (input: Omit<Parameters<RoleAssignments["Type"]["list"]>[0], "scope">) =>
        withRa([page], (ra) =>
          Stream.runCollect(ra.list({ scope: RG_SCOPE, ...input })).pipe(Effect.map(Chunk.toArray)),
        ).run
      expect(ids(yield* all({ role: "reader" }))).toEqual([
        "aaaaaaaa-0000-4000-8000-000000000001",
        "aaaaaaaa-0000-4000-8000-000000000002",
        "aaaaaaaa-0000-4000-8000-000000000003",
      ])
      expect(ids(yield* all({ role: BuiltInRoles.Owner.toUpperCase() }))).toEqual([
        "aaaaaaaa-0000-4000-8000-000000000004",
      ])
      // At exactly the scope: case and a trailing slash do not matter, the subscription's is inherited.
      expect(ids(yield* all({ exactScope: true, role: "Reader" }))).toEqual([
        "aaaaaaaa-0000-4000-8000-000000000001",
        "aaaaaaaa-0000-4000-8000-000000000002",
      ])
    }),
  )

  it.effect("pages through nextLink", () =>
    Effect.gen(function* () {
      const { http, run } = withRa(
        (_req, i) => ({
          status: 200,
          body: {
            value:
              i === 1
                ? []
                : [assignment(`aaaaaaaa-0000-4000-8000-00000000000${i}`, RG_SCOPE, BuiltInRoles.Reader)],
            ...(i < 2
              ? {
                  nextLink: `https://arm.test/subscriptions/${SUB}/providers/Microsoft.Authorization/roleAssignments?$skipToken=${i}`,
                }
              : {}),
          },
        }),
        (ra) => collect(ra.list({ scope: RG_SCOPE })),
      )
      expect(yield* run).toBe(2)
      expect(http.requests.length).toBe(3)
    }),
  )
})

describe("RoleAssignments.delete", () => {
  const name = "aaaaaaaa-0000-4000-8000-000000000001"

  it.effect("by id: 200 returns the deleted assignment", () =>
    Effect.gen(function* () {
      const { http, run } = withRa(
        [{ status: 200, body: assignment(name, RG_SCOPE, BuiltInRoles.Reader) }],
        (ra) => ra.delete({ id: `${RG_SCOPE}/providers/Microsoft.Authorization/roleAssignments/${name}` }),
      )
      const res = yield* run
      expect(Option.map(res, (a) => a.name)).toEqual(Option.some(name))
      expect(http.requests[0]?.method).toBe("DELETE")
      expect(decodedSegments(http.requests[0]!.url)).toEqual([
        "subscriptions",
        SUB,
        "resourceGroups",
        "DevTest",
        "providers",
        "Microsoft.Authorization",
        "roleAssignments",
        name,
      ])
    }),
  )

  it.effect("by scope and name: 204 (already gone) is None", () =>
    Effect.gen(function* () {
      const { run } = withRa([{ status: 204 }], (ra) => ra.delete({ scope: RG_SCOPE, name }))
      expect(Option.isNone(yield* run)).toBe(true)
    }),
  )

  it.effect("a malformed id is InvalidInput without a request", () =>
    Effect.gen(function* () {
      for (const id of [
        "/subscriptions/x",
        `${RG_SCOPE}/providers/Microsoft.Authorization/roleAssignments/not-a-guid`,
        `${RG_SCOPE}/providers/Microsoft.Authorization/roleAssignments/${name}/../..`,
      ]) {
        const { http, run } = withRa([{ status: 204 }], (ra) => ra.delete({ id }))
        expect(yield* Effect.flip(run)).toMatchObject({ _tag: "InvalidInput", field: "id" })
        expect(http.requests.length).toBe(0)
      }
    }),
  )
})
