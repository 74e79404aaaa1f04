import {
  ArmClient,
  ArmThrottled,
  AuthorizationFailed,
  ImdsUnavailable,
  ResourceGroupNotFound,
  Timeout,
} from "@azmi/core"
import { Deferred, Effect, FiberRef, Option, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { groupHeaders } from "../src/routes/resourceGroups.js"
import { compute, groupOf, sub, useTestApp } from "./fixtures.js"

const setup = useTestApp()

describe("groupHeaders", () => {
  const read = {
    group: groupOf(sub, "DevTest"),
    body: "{}",
    metadata: { requestId: "arm-1" },
    fetchedAt: 10_000,
    expiresOn: 15_000,
    refreshOn: 14_000,
  }
  it("says how old a cached read is, in whole seconds, next to max-age", () => {
    expect(groupHeaders(read, 5, 10_000)).toEqual({
      "content-type": "application/json; charset=utf-8",
      "cache-control": "private, max-age=5",
      age: "0",
      "x-ms-request-id": "arm-1",
    })
    expect(groupHeaders(read, 5, 13_999).age).toBe("3")
    // A wall clock stepped back never yields a negative age.
    expect(groupHeaders(read, 5, 9_000).age).toBe("0")
  })
  it("an uncached read is no-store and has no Age", () => {
    expect(groupHeaders(read, 0, 12_000)).toEqual({
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      "x-ms-request-id": "arm-1",
    })
  })
})

describe("GET /v1/subscriptions/{sub}/resourceGroups/{rg}", () => {
  it("returns the group with Cache-Control and ARM's request id", async () => {
    const { app, calls } = setup()
    const res = await app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest`)
    expect(res.status).toBe(200)
    expect(res.headers.get("cache-control")).toBe("private, max-age=5")
    expect(res.headers.get("age")).toBe("0")
    expect(res.headers.get("x-ms-request-id")).toBe("arm-request-1")
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/)
    expect(await res.json()).toMatchObject({
      name: "DevTest",
      location: "westus",
      id: `/subscriptions/${sub}/resourceGroups/DevTest`,
    })
    expect(calls).toEqual([{ op: "get", subscriptionId: sub, resourceGroupName: "DevTest" }])
  })

  it("serves repeated reads from the cache: one ARM call", async () => {
    const { app, calls } = setup()
    for (let i = 0; i < 5; i++)
      expect((await app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest`)).status).toBe(200)
    expect(calls).toHaveLength(1)
  })

  it("single-flight: a burst of identical concurrent reads costs one ARM call", async () => {
    const gate = Effect.runSync(Deferred.make<void>())
    const { app, calls } = setup({
      get: (s, rg) => Effect.as(Deferred.await(gate), groupOf(s, rg)),
    })
    const pending = Array.from({ length: 50 }, () =>
      app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest`),
    )
    await new Promise((r) => setTimeout(r, 20))
    Effect.runSync(Deferred.succeed(gate, undefined))
    const responses = await Promise.all(pending)
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200))
    expect(calls).toHaveLength(1)
  })

  it("different groups are different cache entries", async () => {
    const { app, calls } = setup()
    await app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest`)
    await app.request(`/v1/subscriptions/${sub}/resourceGroups/devtest`)
    expect(calls.map((c) => c.op === "get" && c.resourceGroupName)).toEqual(["DevTest", "devtest"])
  })

  it("with TTL 0 every read goes to ARM and says no-store", async () => {
    const { app, calls } = setup({ config: { cacheTtlMs: 0 } })
    const res = await app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest`)
    await app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest`)
    expect(res.headers.get("cache-control")).toBe("no-store")
    expect(calls).toHaveLength(2)
  })

  it("does not cache failures", async () => {
    let fail = true
    const { app, calls } = setup({
      get: (s, rg) =>
        Effect.suspend(() =>
          fail
            ? Effect.fail(new ResourceGroupNotFound({ subscriptionId: s, resourceGroupName: rg }))
            : Effect.succeed(groupOf(s, rg)),
        ),
    })
    expect((await app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest`)).status).toBe(404)
    fail = false
    expect((await app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest`)).status).toBe(200)
    expect(calls).toHaveLength(2)
  })

  it("hands the caller's x-ms-client-request-id to the core's ARM client", async () => {
    const seen: Array<string> = []
    const { app } = setup({
      config: { cacheTtlMs: 0 },
      get: (s, rg) =>
        Effect.map(FiberRef.get(ArmClient.currentClientRequestId), (id) => {
          seen.push(Option.getOrElse(id, () => "none"))
          return groupOf(s, rg)
        }),
    })
    await app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest`, {
      headers: { "x-ms-client-request-id": "caller-id-1" },
    })
    await app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest`)
    expect(seen).toEqual(["caller-id-1", "none"])
  })

  it("decodes percent-encoded names before handing them to the core", async () => {
    const { app, calls } = setup()
    await app.request(`/v1/subscriptions/${sub}/resourceGroups/${encodeURIComponent("a/b?c#d")}`)
    expect(calls).toEqual([{ op: "get", subscriptionId: sub, resourceGroupName: "a/b?c#d" }])
  })

  it("404 with the core's message and hint for a missing group", async () => {
    const { app } = setup({
      get: (s, rg) =>
        Effect.fail(
          new ResourceGroupNotFound({ subscriptionId: s, resourceGroupName: rg, requestId: "arm-404" }),
        ),
    })
    const res = await app.request(`/v1/subscriptions/${sub}/resourceGroups/Nope`)
    expect(res.status).toBe(404)
    expect(res.headers.get("x-ms-request-id")).toBe("arm-404")
    const body = (await res.json()) as { error: { code: string; message: string; hint: string } }
    expect(body.error.code).toBe("ResourceGroupNotFound")
    expect(body.error.message).toContain("'Nope' could not be found")
    expect(body.error.hint).toContain("case-insensitive")
  })

  it("403 with the role assignment that would fix it", async () => {
    const scope = `/subscriptions/${sub}/resourceGroups/DevTest`
    const { app } = setup({
      get: () =>
        Effect.fail(
          new AuthorizationFailed({
            action: "Microsoft.Resources/subscriptions/resourceGroups/read",
            scope,
            principalId: "11111111-2222-3333-4444-555555555555",
            armMessage: "The client … does not have authorization …",
          }),
        ),
    })
    const res = await app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest`)
    expect(res.status).toBe(403)
    const body = (await res.json()) as { error: { code: string; hint: string } }
    expect(body.error.code).toBe("AuthorizationFailed")
    expect(body.error.hint).toBe(
      `An Owner or User Access Administrator of the scope must run: azmi role assignment create --assignee-object-id 11111111-2222-3333-4444-555555555555 --role Reader --scope ${scope}`,
    )
  })

  it("429 with Retry-After when ARM throttles", async () => {
    const { app } = setup({ get: () => Effect.fail(new ArmThrottled({ retryAfterSeconds: 7 })) })
    const res = await app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest`)
    expect(res.status).toBe(429)
    expect(res.headers.get("retry-after")).toBe("7")
  })

  it("503 when there is no IMDS, 504 on a timeout", async () => {
    const a = setup({
      get: () =>
        Effect.fail(new ImdsUnavailable({ endpoint: "http://127.0.0.1:1", reason: "ConnectionRefused" })),
    })
    expect((await a.app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest`)).status).toBe(503)
    await a.dispose()
    const b = setup({ get: () => Effect.fail(new Timeout({ operation: "ARM GET", millis: 100 })) })
    expect((await b.app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest`)).status).toBe(504)
  })

  it("a defect is a 500 with a request id and no stack trace", async () => {
    const { app, logs } = setup({ get: () => Effect.die(new Error("boom at internal/secret/place.ts:12")) })
    const res = await app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest`)
    expect(res.status).toBe(500)
    const text = await res.text()
    expect(text).toContain("InternalError")
    expect(text).not.toContain("boom")
    expect(text).toContain(res.headers.get("x-request-id") ?? "missing")
    expect(JSON.parse(logs.at(-1) ?? "{}")).toMatchObject({ status: 500, level: "error" })
  })

  it("with the access log off, the defect is still logged (and only it)", async () => {
    const { app, logs } = setup({
      config: { accessLog: false },
      get: () => Effect.die(new Error("boom")),
    })
    const res = await app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest`)
    expect(res.status).toBe(500)
    expect(logs.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({ level: "error", msg: "defect", requestId: res.headers.get("x-request-id") }),
    ])
  })
})

describe("HEAD /v1/subscriptions/{sub}/resourceGroups/{rg}", () => {
  it("204 when it exists, 404 when not, from ARM's HEAD (not a cached read)", async () => {
    const { app, calls } = setup({ exists: (_s, rg) => Effect.succeed(rg === "DevTest") })
    const yes = await app.request(`/v1/subscriptions/${sub}/resourceGroups/DevTest`, { method: "HEAD" })
    const no = await app.request(`/v1/subscriptions/${sub}/resourceGroups/Nope`, { method: "HEAD" })
    expect([yes.status, no.status]).toEqual([204, 404])
    expect(await no.text()).toBe("")
    expect(calls.map((c) => c.op)).toEqual(["exists", "exists"])
  })
})

describe("GET /v1/subscriptions/{sub}/resourceGroups", () => {
  it("collects every group and passes tag and top on", async () => {
    const { app, calls } = setup()
    const res = await app.request(`/v1/subscriptions/${sub}/resourceGroups?tag=env%3Ddev&top=5`)
    expect(res.status).toBe(200)
    const body = (await res.json()) as { value: Array<{ name: string }> }
    expect(body.value.map((g) => g.name)).toEqual(["DevTest", "Prod"])
    expect(calls).toEqual([
      { op: "list", subscriptionId: sub, options: { tag: { name: "env", value: "dev" }, top: 5 } },
    ])
  })

  it("a tag without a value filters by name only", async () => {
    const { app, calls } = setup()
    await app.request(`/v1/subscriptions/${sub}/resourceGroups?tag=env`)
    expect(calls).toEqual([{ op: "list", subscriptionId: sub, options: { tag: { name: "env" } } }])
  })

  it("top accepts digits only, within the core's bounds (1–1000); /openapi.json says so", async () => {
    const { app, calls } = setup()
    for (const top of ["1", "0007", "1000"])
      expect((await app.request(`/v1/subscriptions/${sub}/resourceGroups?top=${top}`)).status).toBe(200)
    expect(calls.map((c) => c.op === "list" && (c.options as { top: number }).top)).toEqual([1, 7, 1000])
    const doc = (await (await app.request("/openapi.json")).json()) as {
      paths: Record<string, { get: { parameters: Array<{ name: string; schema: unknown }> } }>
    }
    const top = doc.paths["/v1/subscriptions/{subscriptionId}/resourceGroups"]?.get.parameters.find(
      (p) => p.name === "top",
    )
    expect(top?.schema).toEqual({ type: "integer", minimum: 1, maximum: 1000 })
  })

  it("an empty subscription is an empty list", async () => {
    const { app } = setup({ list: () => Stream.empty })
    expect(await (await app.request(`/v1/subscriptions/${sub}/resourceGroups`)).json()).toEqual({ value: [] })
  })

  it.each([
    ["top=0", "top"],
    ["top=abc", "top"],
    ["top=1.5", "top"],
    ["top=10001", "top"],
    // Numbers to Number() (and Schema.NumberFromString), but not digits: the CLI's --top refuses them.
    ["top=1%20", "top"],
    ["top=%201", "top"],
    ["top=1e2", "top"],
    ["top=0x10", "top"],
    ["top=%2B5", "top"],
    ["top=1.0", "top"],
    ["top=1&top=2", "top"],
    // A parameter the list does not take would otherwise be ignored (an unfiltered list).
    ["Top=5", "Top"],
    ["filter=env", "filter"],
    ["%24top=5", "$top"],
    ["tag=", "tag"],
    ["tag==dev", "tag"],
  ])("rejects %s with 400 naming %s, before any call", async (query, field) => {
    const { app, calls } = setup()
    const res = await app.request(`/v1/subscriptions/${sub}/resourceGroups?${query}`)
    expect(res.status).toBe(400)
    const body = (await res.json()) as { error: { code: string; message: string } }
    expect(body.error.code).toBe("InvalidInput")
    expect(body.error.message).toContain(`Invalid ${field}`)
    expect(calls).toEqual([])
  })
})

describe("GET /v1/resourceGroup and /v1/instance", () => {
  it("reads the VM's own group from instance metadata", async () => {
    const { app, calls } = setup()
    const res = await app.request("/v1/resourceGroup")
    expect(res.status).toBe(200)
    expect(((await res.json()) as { name: string }).name).toBe("DevTest")
    expect(calls).toEqual([
      { op: "get", subscriptionId: compute.subscriptionId, resourceGroupName: "DevTest" },
    ])
  })

  it("returns the compute metadata", async () => {
    const { app } = setup()
    const res = await app.request("/v1/instance")
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({
      subscriptionId: sub,
      resourceGroupName: "DevTest",
      name: "myVM",
    })
  })

  it("503 when there is no IMDS", async () => {
    const { app } = setup({
      compute: Effect.fail(
        new ImdsUnavailable({ endpoint: "http://127.0.0.1:1", reason: "ConnectionRefused" }),
      ),
    })
    const res = await app.request("/v1/instance")
    expect(res.status).toBe(503)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("ImdsUnavailable")
  })
})
