/**
 * Property tests: whatever path or query a client sends, the core is asked for exactly the group the
 * client named (or nothing at all), and nothing a client sends produces a 500.
 */
import {
  ArmThrottled,
  AuthorizationFailed,
  IdentityNotFound,
  ImdsUnavailable,
  InvalidInput,
  ResourceGroupNotFound,
  Timeout,
} from "@azmi/core"
import { Effect, Redacted, Stream } from "effect"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { type GroupCall, makeTestApp, sub } from "./fixtures.js"

// Unicode text including everything that is special in a URL.
const segment = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.string({
    unit: fc.constantFrom(
      "/",
      "?",
      "#",
      "%",
      ".",
      "..",
      " ",
      "\\",
      "&",
      "=",
      "+",
      ";",
      "a",
      "é",
      "%2F",
      "%00",
    ),
    maxLength: 12,
  }),
  fc.constantFrom(".", "..", "", "%", "%2e%2e", "DevTest", sub, "resourceGroups", "..%2F.."),
)

const apps: Array<ReturnType<typeof makeTestApp>> = []
const make = (options?: Parameters<typeof makeTestApp>[0]) => {
  const t = makeTestApp({ ...options, config: { cacheTtlMs: 0, ...options?.config } })
  apps.push(t)
  return t
}
afterAll(async () => {
  await Promise.all(apps.map((a) => a.dispose()))
})

describe("paths reach the core unchanged", () => {
  const t = make()

  it("GET and HEAD of one group: the core is asked for exactly that group, or nothing", async () => {
    await fc.assert(
      fc.asyncProperty(segment, segment, fc.constantFrom("GET", "HEAD"), async (s, rg, method) => {
        t.calls.length = 0
        const path = `/v1/subscriptions/${encodeURIComponent(s)}/resourceGroups/${encodeURIComponent(rg)}`
        const res = await t.app.request(path, { method })
        expect(res.status).not.toBe(500)
        // "." and ".." segments are resolved by URL rules (RFC 3986) before any server sees the
        // request, exactly as ARM's own URLs are: such a request is a different request.
        if (new URL(path, "http://localhost").pathname !== path) return
        if (s === "" || rg === "") {
          expect(t.calls).toEqual([])
          expect(res.status).toBe(404)
          return
        }
        expect(t.calls).toEqual([
          {
            op: method === "GET" ? "get" : "exists",
            subscriptionId: s,
            resourceGroupName: rg,
          } satisfies GroupCall,
        ])
      }),
      { numRuns: 400 },
    )
  })

  it("the group list: the subscription, tag and top reach the core exactly as sent, or nothing does", async () => {
    await fc.assert(
      fc.asyncProperty(
        segment,
        fc.option(fc.string({ unit: "grapheme", maxLength: 30 }), { nil: undefined }),
        fc.option(fc.oneof(fc.integer({ min: -5, max: 20_000 }).map(String), fc.string({ maxLength: 6 })), {
          nil: undefined,
        }),
        async (s, tag, top) => {
          t.calls.length = 0
          const query = new URLSearchParams()
          if (tag !== undefined) query.set("tag", tag)
          if (top !== undefined) query.set("top", top)
          const path = `/v1/subscriptions/${encodeURIComponent(s)}/resourceGroups`
          const res = await t.app.request(`${path}?${query}`)
          expect(res.status).not.toBe(500)
          if (new URL(path, "http://localhost").pathname !== path) return
          const topOk = top === undefined || (/^\d+$/.test(top) && Number(top) >= 1 && Number(top) <= 1_000)
          const tagOk = tag === undefined || (tag.length >= 1 && !tag.startsWith("="))
          if (t.calls.length === 0) {
            expect(res.status).toBeGreaterThanOrEqual(400)
            expect(res.status).toBeLessThan(500)
            expect(topOk && tagOk && s !== "").toBe(false)
            return
          }
          expect(topOk && tagOk).toBe(true)
          const eq = tag?.indexOf("=") ?? -1
          expect(t.calls).toEqual([
            {
              op: "list",
              subscriptionId: s,
              options: {
                ...(tag === undefined
                  ? {}
                  : { tag: eq < 0 ? { name: tag } : { name: tag.slice(0, eq), value: tag.slice(eq + 1) } }),
                ...(top === undefined ? {} : { top: Number(top) }),
              },
            },
          ])
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe("no input yields a 500", () => {
  const failures = [
    undefined,
    new InvalidInput({ field: "resourceGroupName", rule: "bad" }),
    new ResourceGroupNotFound({ subscriptionId: "s", resourceGroupName: "g" }),
    new AuthorizationFailed({ action: "x/read", scope: "/", armMessage: "m" }),
    new ArmThrottled({}),
    new ImdsUnavailable({ endpoint: "http://127.0.0.1:1", reason: "ConnectionRefused" }),
    new IdentityNotFound({ selector: "client_id=x" }),
    new Timeout({ operation: "x", millis: 1 }),
  ] as const
  const broker = "broker-secret-0123456789abcdef"
  const apiKey = "api-key-0123456789abcdef"

  const rawPath = fc.oneof(
    fc.string({ unit: "binary", maxLength: 80 }),
    fc
      .tuple(
        fc.constantFrom(
          "/v1/subscriptions/",
          "/msi/token",
          "/v1/resourceGroup",
          "/v1/instance",
          "/readyz",
          "/metrics",
          "/",
        ),
        fc.string({
          unit: fc.constantFrom(
            "%",
            "E",
            "0",
            "/",
            "?",
            "&",
            "=",
            "resource",
            "api-version",
            "2019-08-01",
            "client_id",
            "top",
            "tag",
            "é",
            "..",
            "#",
          ),
          maxLength: 20,
        }),
      )
      .map(([a, b]) => a + b),
  )

  it("for any method, path, query and headers, whatever the core answers", async () => {
    const config = { apiKey: Redacted.make(apiKey), identityHeader: Redacted.make(broker), maxBodyBytes: 64 }
    // One app per core behaviour: all succeed, or every core call fails with that error.
    const variants = failures.map((failure) => {
      if (failure === undefined) return make({ config })
      const fail = Effect.fail(failure)
      return make({
        config,
        get: () => fail,
        exists: () => fail,
        list: () => Stream.fail(failure),
        // Token and metadata calls can only fail with token errors.
        ...(failure._tag === "ImdsUnavailable" ||
        failure._tag === "IdentityNotFound" ||
        failure._tag === "Timeout" ||
        failure._tag === "InvalidInput"
          ? { compute: Effect.fail(failure), token: () => Effect.fail(failure) }
          : {}),
      })
    })
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: failures.length - 1 }),
        fc.constantFrom("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"),
        rawPath,
        fc.record(
          {
            authorization: fc.oneof(fc.constant(`Bearer ${apiKey}`), fc.string({ maxLength: 40 })),
            "x-identity-header": fc.oneof(fc.constant(broker), fc.string({ maxLength: 40 })),
            "x-forwarded-for": fc.string({ maxLength: 20 }),
            "x-ms-client-request-id": fc.string({ maxLength: 200 }),
            "x-request-id": fc.string({ maxLength: 300 }),
          },
          { requiredKeys: [] },
        ),
        fc.option(fc.string({ maxLength: 100 }), { nil: undefined }),
        async (which, method, path, headers, body) => {
          let url: string
          try {
            url = new URL(path.startsWith("/") ? path : `/${path}`, "http://localhost").href
          } catch {
            return
          }
          const clean = Object.fromEntries(
            Object.entries(headers).filter(([, v]) => /^[\t\x20-\x7e]*$/.test(v)),
          )
          const t = variants[which]
          if (t === undefined) throw new Error("no variant")
          const res = await t.app.request(url, {
            method,
            headers: clean,
            ...(body === undefined || method === "GET" || method === "HEAD" ? {} : { body }),
          })
          expect(res.status).not.toBe(500)
          if (failures[which] === undefined) expect(res.status).toBeLessThan(500)
        },
      ),
      { numRuns: 500 },
    )
  })
})
