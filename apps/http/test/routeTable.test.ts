// The route table is the one declaration of azmi-http's routes: what hono serves, what /openapi.json
// documents and what answers 405 all come from it.
import { Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { allowedMethods, openApiPath, plainParams, routeTable } from "../src/routes/table.js"
import { sub, useTestApp } from "./fixtures.js"

const apiKey = "api-key-0123456789abcdef-XYZ"
const broker = "broker-secret-0123456789abcdef"
const credentials = { Authorization: `Bearer ${apiKey}`, "X-IDENTITY-HEADER": broker }
const setup = useTestApp()

// A request path for a declared route: every parameter filled with a value the route accepts.
const concrete = (path: string) =>
  path
    .replace(":subscriptionId", sub)
    .replace(":resourceGroupName", "DevTest")
    .concat(
      path === "/msi/token" ? "?resource=https%3A%2F%2Fmanagement.azure.com%2F&api-version=2019-08-01" : "",
    )

const wrongMethods = ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const

describe.each([
  ["with the broker", { apiKey: Redacted.make(apiKey), identityHeader: Redacted.make(broker) }],
  ["without the broker", { apiKey: Redacted.make(apiKey) }],
  ["without an API key", {}],
])("the route table (%s)", (_name, config) => {
  it("the routes hono serves are exactly the declared ones", () => {
    const { app } = setup({ config })
    const table = routeTable({ identityHeader: undefined, ...config })
    const declared = new Set(table.map((r) => r.path))
    // hono's own list: the handler of each path (GET; HEAD goes to it), and its 405 (ALL).
    const served = (method: string) =>
      new Set(app.routes.filter((r) => r.method === method && r.path !== "/*").map((r) => r.path))
    expect(served("GET")).toEqual(declared)
    expect(new Set([...served("ALL")])).toEqual(declared)
    expect(app.routes.filter((r) => !["GET", "ALL"].includes(r.method))).toEqual([])
  })

  it("/openapi.json documents exactly the declared routes and methods", async () => {
    const { app } = setup({ config })
    const doc = (await (await app.request("/openapi.json")).json()) as {
      paths: Record<string, Record<string, unknown>>
    }
    const documented = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`),
    )
    const declared = routeTable({ identityHeader: undefined, ...config }).map(
      (r) => `${r.method} ${openApiPath(r.path)}`,
    )
    expect(documented.sort()).toEqual(declared.sort())
    // The credential a route declares is documented as its 401.
    for (const route of routeTable({ identityHeader: undefined, ...config })) {
      const operation = doc.paths[openApiPath(route.path)]?.[route.method.toLowerCase()] as
        | { responses: Record<string, unknown> }
        | undefined
      const responses = operation?.responses ?? {}
      expect([route.path, "401" in responses]).toEqual([route.path, route.security !== undefined])
    }
  })

  it("every declared route answers its method (never 404 or 405), with the route as its metrics label", async () => {
    const { app, logs } = setup({ config })
    for (const route of routeTable({ identityHeader: undefined, ...config })) {
      const res = await app.request(concrete(route.path), { method: route.method, headers: credentials })
      expect([route.method, route.path, [404, 405].includes(res.status)]).toEqual([
        route.method,
        route.path,
        false,
      ])
      expect(JSON.parse(logs.at(-1) ?? "{}")).toMatchObject({ route: route.path, method: route.method })
    }
  })

  it("every declared path answers 405 with Allow to any other method, labelled with its route", async () => {
    const { app, calls, tokenCalls, logs } = setup({ config })
    const table = routeTable({ identityHeader: undefined, ...config })
    for (const path of new Set(table.map((r) => r.path))) {
      const allow = allowedMethods(table.filter((r) => r.path === path))
      expect(allow).toEqual(["GET", "HEAD"])
      for (const method of wrongMethods) {
        const res = await app.request(concrete(path), { method, headers: credentials })
        expect([method, path, res.status]).toEqual([method, path, 405])
        expect(res.headers.get("allow")).toBe(allow.join(", "))
        const body = (await res.json()) as { error: { code: string; message: string } }
        expect(body.error.code).toBe("MethodNotAllowed")
        expect(body.error.message).toContain(method)
        expect(JSON.parse(logs.at(-1) ?? "{}")).toMatchObject({ route: path, status: 405 })
      }
    }
    expect(calls).toEqual([])
    expect(tokenCalls).toEqual([])
  })
})

describe("HEAD", () => {
  it("a GET route answers HEAD without a body; the group route's HEAD is its own (ARM's existence check)", async () => {
    const { app, calls } = setup()
    const health = await app.request("/healthz", { method: "HEAD" })
    expect(health.status).toBe(200)
    expect(await health.text()).toBe("")
    expect(
      (await app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest`, { method: "HEAD" })).status,
    ).toBe(204)
    expect(calls.map((c) => c.op)).toEqual(["exists"])
  })
})

describe("plainParams (the hot path's matcher, from the route's own path)", () => {
  const match = plainParams("/v1/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName")
  it("takes the parameters of a path hono would hand over unchanged", () => {
    expect(match(`/v1/subscriptions/${sub}/resourceGroups/DevTest`)).toEqual([sub, "DevTest"])
  })
  it.each([
    `/v1/subscriptions/${sub}/resourceGroups/Dev%54est`,
    `/v1/subscriptions/${sub}/resourceGroups/DevTest/`,
    `/v1/subscriptions/${sub}/resourceGroups/`,
    `/v1/subscriptions/${sub}/resourcegroups/DevTest`,
    `/v1/subscriptions/${sub}/resourceGroups/a/b`,
    `/v1/subscriptionsX${sub}/resourceGroups/DevTest`,
  ])("leaves %s to hono", (path) => {
    expect(match(path)).toBeUndefined()
  })
})
