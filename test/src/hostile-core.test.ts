/**
 * Hostile input through the core's public services (real layers over a recording HttpClient): for every
 * string a user can hand the core — subscription ids, group names, tag filters, scopes, role names,
 * principal ids, assignment names, resource URIs and identity selector values — the result is either
 * the typed error `InvalidInput` (and no request at all), or requests to exactly the configured hosts
 * whose decoded path and query carry the input verbatim: no traversal, no extra segment, no injected
 * parameter or OData clause. Never a defect.
 */
import { type Azmi, IdentitySelector, ResourceGroups, RoleAssignments, TokenProvider } from "@azmi/core"
import { Cause, Effect, Exit, Layer, Logger, LogLevel, ManagedRuntime, Option, Stream } from "effect"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { FAKE_ARM, FAKE_IMDS, fakeCore, onlyIntendedHosts, type Recorded } from "./fake-upstream.js"
import { groupName, hostileString, resource, scope, subscriptionId } from "./hostile-arbitraries.js"

const log: Array<Recorded> = []
const runtime = ManagedRuntime.make(
  Layer.merge(fakeCore(log), Logger.minimumLogLevel(LogLevel.None)) as Layer.Layer<Azmi.AzmiServices>,
)
afterAll(() => runtime.dispose())

/** Property-case counts of this file, printed at the end (the issue note quotes them). */
const cases: Record<string, number> = {}
afterAll(() => {
  const total = Object.values(cases).reduce((a, b) => a + b, 0)
  console.log(`hostile-core: ${total} cases ${JSON.stringify(cases)}; accepted ${JSON.stringify(accepted)}`)
})
/** How many cases per property got through validation (so a property cannot pass by rejecting everything). */
const accepted: Record<string, number> = {}
const accept = (name: string) => {
  accepted[name] = (accepted[name] ?? 0) + 1
}
const runs = (name: string, n: number) => {
  cases[name] = n
  return { numRuns: n }
}

/** The typed failure, or a test failure if the exit is a defect or an untyped failure. */
const typedFailure = (exit: Exit.Exit<unknown, unknown>): { _tag: string; field?: string } => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) throw new Error(`defect: ${Cause.pretty(exit.cause)}`)
  return failure.value as { _tag: string; field?: string }
}

const segments = (r: Recorded) => r.url.pathname.split("/").slice(1).map(decodeURIComponent)
const arm = () => log.filter((r) => r.url.origin === FAKE_ARM)
const imds = () => log.filter((r) => r.url.origin === FAKE_IMDS)

/** Reads the OData string literals of `tagName eq '…'[ and tagValue eq '…']`, or undefined if it has another shape. */
const tagLiterals = (filter: string) => {
  const m = /^tagName eq '((?:[^']|'')*)'(?: and tagValue eq '((?:[^']|'')*)')?$/s.exec(filter)
  return m === null
    ? undefined
    : {
        name: m[1]?.replaceAll("''", "'"),
        value: m[2] === undefined ? undefined : m[2].replaceAll("''", "'"),
      }
}

/** GUIDs, user-assigned identity resource ids built from hostile parts, and arbitrary strings. */
const selectorValue = fc.oneof(
  fc.uuid(),
  fc.uuid().map((u) => u.toUpperCase()),
  fc
    .tuple(subscriptionId, groupName, hostileString)
    .map(
      ([s, g, n]) =>
        `/subscriptions/${s}/resourceGroups/${g}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${n}`,
    ),
  hostileString,
)

describe("hostile input × core", () => {
  it("resource groups: get(subscriptionId, name) → InvalidInput or exactly GET /subscriptions/{id}/resourcegroups/{name}", async () => {
    await fc.assert(
      fc.asyncProperty(subscriptionId, groupName, async (sub, rg) => {
        log.length = 0
        const exit = await runtime.runPromiseExit(Effect.flatMap(ResourceGroups, (g) => g.get(sub, rg)))
        expect(onlyIntendedHosts(log)).toBe(true)
        if (Exit.isSuccess(exit)) {
          const [request, ...more] = arm()
          expect(more).toHaveLength(0)
          expect(request?.method).toBe("GET")
          expect(segments(request as Recorded)).toEqual(["subscriptions", sub, "resourcegroups", rg])
          expect([...(request as Recorded).url.searchParams.keys()]).toEqual(["api-version"])
          expect(exit.value.value.name).toBe(rg)
          accept("group get")
        } else {
          const e = typedFailure(exit)
          expect(e._tag).toBe("InvalidInput")
          expect(["subscriptionId", "resourceGroupName"]).toContain(e.field)
          expect(arm()).toHaveLength(0)
        }
      }),
      runs("group get", 1500),
    )
  })

  it("resource groups: exists and list with a tag filter → InvalidInput or one exact request, the filter's literals intact", async () => {
    await fc.assert(
      fc.asyncProperty(
        subscriptionId,
        groupName,
        hostileString,
        fc.option(hostileString),
        async (sub, rg, tagName, tagValue) => {
          log.length = 0
          const exists = await runtime.runPromiseExit(
            Effect.flatMap(ResourceGroups, (g) => g.exists(sub, rg)),
          )
          if (Exit.isSuccess(exists)) {
            expect(arm().map((r) => [r.method, ...segments(r)])).toEqual([
              ["HEAD", "subscriptions", sub, "resourcegroups", rg],
            ])
          } else expect(typedFailure(exists)._tag).toBe("InvalidInput")

          log.length = 0
          const tag = tagValue === null ? { name: tagName } : { name: tagName, value: tagValue }
          const list = await runtime.runPromiseExit(
            Effect.flatMap(ResourceGroups, (g) => Stream.runCollect(g.list(sub, { tag }))),
          )
          expect(onlyIntendedHosts(log)).toBe(true)
          if (Exit.isSuccess(list)) {
            const [request, ...more] = arm()
            expect(more).toHaveLength(0)
            expect(segments(request as Recorded)).toEqual(["subscriptions", sub, "resourcegroups"])
            const filters = (request as Recorded).url.searchParams.getAll("$filter")
            expect(filters).toHaveLength(1)
            accept("group list")
            expect(tagLiterals(filters[0] as string)).toEqual({
              name: tagName,
              value: tagValue === null ? undefined : tagValue,
            })
          } else {
            expect(typedFailure(list)._tag).toBe("InvalidInput")
            expect(arm()).toHaveLength(0)
          }
        },
      ),
      runs("group exists + list", 600),
    )
  })

  it("role assignments: list/delete/create at any scope → InvalidInput, a typed ARM error, or requests under the scope only", async () => {
    await fc.assert(
      fc.asyncProperty(
        scope,
        hostileString,
        fc.oneof(fc.uuid(), hostileString),
        fc.oneof(
          fc.constantFrom("Reader", "Contributor", "acdd72a7-3385-48ef-bd42-f606fba81ae7"),
          hostileString,
        ),
        async (sc, name, principalId, role) => {
          log.length = 0
          const list = await runtime.runPromiseExit(
            Effect.flatMap(RoleAssignments, (ra) => Stream.runCollect(ra.list({ scope: sc, principalId }))),
          )
          const normalized = sc.replace(/\/$/, "").split("/").slice(1)
          if (Exit.isSuccess(list)) {
            const [request, ...more] = arm()
            expect(more).toHaveLength(0)
            const segs = segments(request as Recorded)
            expect(segs.map((s) => s.toLowerCase())).toEqual(
              [...normalized, "providers", "Microsoft.Authorization", "roleAssignments"].map((s) =>
                s.toLowerCase(),
              ),
            )
            accept("role list")
            const filter = (request as Recorded).url.searchParams.get("$filter")
            expect(filter).toBe(`principalId eq '${principalId.replaceAll("'", "''")}'`)
          } else {
            expect(typedFailure(list)._tag).toBe("InvalidInput")
            expect(arm()).toHaveLength(0)
          }

          log.length = 0
          const del = await runtime.runPromiseExit(
            Effect.flatMap(RoleAssignments, (ra) => ra.delete({ scope: sc, name })),
          )
          if (Exit.isFailure(del)) expect(typedFailure(del)._tag).toMatch(/^(InvalidInput|ArmRequestFailed)$/)
          for (const r of arm()) {
            expect(r.method).toBe("DELETE")
            expect(segments(r).slice(-4)).toEqual([
              "providers",
              "Microsoft.Authorization",
              "roleAssignments",
              name,
            ])
          }

          log.length = 0
          const create = await runtime.runPromiseExit(
            Effect.flatMap(RoleAssignments, (ra) => ra.create({ scope: sc, principalId, role })),
          )
          if (Exit.isFailure(create)) typedFailure(create)
          expect(onlyIntendedHosts(log)).toBe(true)
          for (const r of arm()) {
            const segs = segments(r)
            expect(segs).not.toContain("..")
            expect(segs).not.toContain(".")
            expect(segs.map((s) => s.toLowerCase()).slice(0, normalized.length)).toEqual(
              normalized.map((s) => s.toLowerCase()),
            )
            const f = r.url.searchParams.get("$filter")
            if (f !== null) expect(f).toBe(`roleName eq '${role.replaceAll("'", "''")}'`)
          }
        },
      ),
      runs("role assignments", 600),
    )
  })

  it("tokens: any resource or scope → InvalidInput, or one IMDS request carrying exactly that resource", async () => {
    await fc.assert(
      fc.asyncProperty(resource, async (res) => {
        log.length = 0
        const exit = await runtime.runPromiseExit(
          Effect.flatMap(TokenProvider, (tp) => tp.getToken(res, { forceRefresh: true })),
        )
        expect(onlyIntendedHosts(log)).toBe(true)
        if (Exit.isSuccess(exit)) {
          const [request, ...more] = imds()
          expect(more).toHaveLength(0)
          expect((request as Recorded).url.pathname).toBe("/metadata/identity/oauth2/token")
          const q = (request as Recorded).url.searchParams
          expect([...q.keys()].sort()).toEqual(["api-version", "resource"])
          accept("token")
          expect(q.get("resource")).toBe(res.endsWith("/.default") ? res.slice(0, -"/.default".length) : res)
        } else {
          expect(typedFailure(exit)._tag).toBe("InvalidInput")
          expect(imds()).toHaveLength(0)
        }
      }),
      runs("token resource", 1200),
    )
  })

  it("identity selectors: any client_id / object_id / msi_res_id value is sent as that one parameter, verbatim", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("ClientId", "ObjectId", "ResourceId"),
        selectorValue,
        async (kind, value) => {
          const local: Array<Recorded> = []
          const identity =
            kind === "ClientId"
              ? IdentitySelector.ClientId({ clientId: value })
              : kind === "ObjectId"
                ? IdentitySelector.ObjectId({ objectId: value })
                : IdentitySelector.ResourceId({ resourceId: value })
          const exit = await Effect.runPromiseExit(
            Effect.flatMap(TokenProvider, (tp) => tp.getToken("https://management.azure.com/")).pipe(
              Effect.provide(fakeCore(local, { identity }) as Layer.Layer<Azmi.AzmiServices>),
              Logger.withMinimumLogLevel(LogLevel.None),
            ),
          )
          expect(onlyIntendedHosts(local)).toBe(true)
          const param = kind === "ClientId" ? "client_id" : kind === "ObjectId" ? "object_id" : "msi_res_id"
          if (Exit.isSuccess(exit)) {
            expect(local).toHaveLength(1)
            const q = (local[0] as Recorded).url.searchParams
            expect([...q.keys()].sort()).toEqual(["api-version", param, "resource"].sort())
            expect(q.get(param)).toBe(value)
            accept("selector")
          } else {
            expect(typedFailure(exit)._tag).toMatch(/^(InvalidInput|InvalidConfiguration)$/)
            expect(local).toHaveLength(0)
          }
        },
      ),
      runs("identity selector", 400),
    )
  })
})
