import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Redacted } from "effect"
import { IdentitySelector } from "../src/IdentitySelector.js"
import * as Imds from "../src/Imds.js"
import { imdsPolicy, type RetryPolicy } from "../src/Retry.js"
import { type Step, token } from "./fixtures/fakeHttp.js"
import { ARM, failureOf, runSource } from "./fixtures/runSource.js"

const ENDPOINT = "http://127.0.0.1:1"
const noJitter: RetryPolicy = { ...imdsPolicy, jitter: 0 }

const run = (
  respond: (n: number, at: number) => Step,
  options: { policy?: RetryPolicy; selector?: IdentitySelector } = {},
) =>
  runSource(
    Imds.make({ endpoint: ENDPOINT, policy: options.policy ?? noJitter }),
    (n, r) => respond(n, r.at),
    options.selector ?? IdentitySelector.SystemAssigned(),
  )

const ok = (_n: number, at: number): Step => ({ status: 200, body: token(at) })

describe("IMDS request", () => {
  it.effect(
    "sends GET /metadata/identity/oauth2/token with api-version, the exact resource and Metadata: true",
    () =>
      Effect.gen(function* () {
        const { exit, requests } = yield* run(ok)
        expect(Exit.isSuccess(exit)).toBe(true)
        const r = requests[0]!
        expect(r.method).toBe("GET")
        expect(r.url.origin + r.url.pathname).toBe(`${ENDPOINT}/metadata/identity/oauth2/token`)
        expect(r.url.searchParams.get("api-version")).toBe("2018-02-01")
        expect(r.url.searchParams.get("resource")).toBe(ARM)
        expect(r.headers.metadata).toBe("true")
        expect([...r.url.searchParams.keys()].sort()).toEqual(["api-version", "resource"])
        if (Exit.isSuccess(exit)) {
          expect(Redacted.value(exit.value.token)).toBe("eyJ.fake-secret-token.sig")
          expect(String(exit.value.token)).not.toContain("fake-secret")
        }
      }),
  )

  it.effect("names user-assigned identities with client_id, object_id or msi_res_id", () =>
    Effect.gen(function* () {
      const cases = [
        [IdentitySelector.ClientId({ clientId: "c-1" }), "client_id", "c-1"],
        [IdentitySelector.ObjectId({ objectId: "o-1" }), "object_id", "o-1"],
        [
          IdentitySelector.ResourceId({ resourceId: "/subscriptions/s/x" }),
          "msi_res_id",
          "/subscriptions/s/x",
        ],
      ] as const
      for (const [selector, param, value] of cases) {
        const { requests } = yield* run(ok, { selector })
        expect(requests[0]!.url.searchParams.get(param)).toBe(value)
      }
    }),
  )

  it.effect("backs off exponentially on 500: attempts at 0, 1, 3, 7 s", () =>
    Effect.gen(function* () {
      const { exit, times } = yield* run((n, at) =>
        n < 4 ? { status: 500, body: { error: "server_error" } } : ok(n, at),
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(times).toEqual([0, 1_000, 3_000, 7_000])
    }),
  )

  it.effect("caps the backoff and gives up after maxRetries with TokenRequestFailed", () =>
    Effect.gen(function* () {
      const { exit, times } = yield* run(() => ({
        status: 503,
        body: { error: "service_unavailable", error_description: "busy" },
      }))
      expect(times).toEqual([0, 1_000, 3_000, 7_000, 15_000, 31_000])
      const error = failureOf(exit)
      expect(error).toMatchObject({
        _tag: "TokenRequestFailed",
        status: 503,
        attempts: 6,
        errorDescription: "busy",
      })
    }),
  )

  it.effect("jitter keeps each delay within ±20 % and under the cap", () =>
    Effect.gen(function* () {
      const { times } = yield* run(() => ({ status: 500 }), { policy: imdsPolicy })
      const delays = times.slice(1).map((t, i) => t - times[i]!)
      const nominal = [1_000, 2_000, 4_000, 8_000, 16_000]
      expect(delays).toHaveLength(5)
      delays.forEach((d, i) => {
        expect(d).toBeGreaterThanOrEqual(Math.floor(nominal[i]! * 0.8) - 1_000)
        expect(d).toBeLessThanOrEqual(Math.min(16_000, nominal[i]! * 1.2) + 1_000)
      })
    }),
  )

  it.effect("retries 404, 408, 429 and every 5xx", () =>
    Effect.gen(function* () {
      for (const status of [404, 408, 429, 500, 502, 503, 504, 599]) {
        const { exit, requests } = yield* run((n, at) => (n === 1 ? { status } : ok(n, at)))
        expect(Exit.isSuccess(exit)).toBe(true)
        expect(requests).toHaveLength(2)
      }
    }),
  )

  it.effect("keeps retrying 410 every 10 s for a deterministic 70 s window (jitter on)", () =>
    Effect.gen(function* () {
      const { exit, times } = yield* run(() => ({ status: 410, body: { error: "gone" } }), {
        policy: imdsPolicy,
      })
      expect(times).toEqual([0, 10_000, 20_000, 30_000, 40_000, 50_000, 60_000, 70_000])
      expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(70_000)
      expect(failureOf(exit)).toMatchObject({ _tag: "TokenRequestFailed", status: 410, attempts: 8 })
    }),
  )

  it.effect("410 answers that take 300 ms each: latency lengthens the 70 s window, never shortens it", () =>
    Effect.gen(function* () {
      const { exit, times } = yield* run(() => ({ status: 410, delayMs: 300 }), { policy: imdsPolicy })
      // Each attempt starts 10 s after the previous 410 arrived; the last 410 arrives 72.1 s after the first.
      expect(times).toEqual([0, 10_300, 20_600, 30_900, 41_200, 51_500, 61_800, 72_100])
      const arrivals = times.map((t) => t + 300)
      expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThanOrEqual(70_000)
      expect(failureOf(exit)).toMatchObject({ _tag: "TokenRequestFailed", status: 410, attempts: 8 })
    }),
  )

  it.effect("succeeds when IMDS comes back inside the 410 window", () =>
    Effect.gen(function* () {
      const { exit, times } = yield* run((n, at) => (n <= 4 ? { status: 410 } : ok(n, at)))
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(times).toEqual([0, 10_000, 20_000, 30_000, 40_000])
    }),
  )

  it.effect("honours Retry-After in seconds", () =>
    Effect.gen(function* () {
      const { exit, times } = yield* run((n, at) =>
        n === 1 ? { status: 429, headers: { "retry-after": "7" } } : ok(n, at),
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(times).toEqual([0, 7_000])
    }),
  )

  it.effect("honours Retry-After as an HTTP-date", () =>
    Effect.gen(function* () {
      // The TestClock starts at the epoch, so this date is 12 s after the first attempt.
      const { exit, times } = yield* run((n, at) =>
        n === 1 ? { status: 503, headers: { "retry-after": "Thu, 01 Jan 1970 00:00:12 GMT" } } : ok(n, at),
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(times).toEqual([0, 12_000])
    }),
  )

  it.effect("429 until retries run out is ImdsThrottled", () =>
    Effect.gen(function* () {
      const { exit, requests } = yield* run(() => ({ status: 429, headers: { "retry-after": "1" } }))
      expect(requests).toHaveLength(6)
      expect(failureOf(exit)).toMatchObject({ _tag: "ImdsThrottled", attempts: 6, retryAfterSeconds: 1 })
    }),
  )

  it.effect("never retries 400, 401 or 403", () =>
    Effect.gen(function* () {
      for (const status of [400, 401, 403]) {
        const { exit, requests } = yield* run(() => ({
          status,
          body: { error: "invalid_request", error_description: "nope" },
        }))
        expect(requests).toHaveLength(1)
        expect(failureOf(exit)).toMatchObject({
          _tag: "TokenRequestFailed",
          status,
          attempts: 1,
          error: "invalid_request",
        })
      }
    }),
  )

  it.effect("maps 'Identity not found' to IdentityNotFound naming the selector", () =>
    Effect.gen(function* () {
      const { exit, requests } = yield* run(
        () => ({ status: 400, body: { error: "invalid_request", error_description: "Identity not found" } }),
        { selector: IdentitySelector.ClientId({ clientId: "abc" }) },
      )
      expect(requests).toHaveLength(1)
      expect(failureOf(exit)).toMatchObject({ _tag: "IdentityNotFound", selector: "client_id=abc" })
    }),
  )

  it.effect("maps the multiple-identities text to MultipleIdentities", () =>
    Effect.gen(function* () {
      const description =
        "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request"
      const { exit } = yield* run(() => ({
        status: 400,
        body: { error: "invalid_request", error_description: description },
      }))
      expect(failureOf(exit)).toMatchObject({ _tag: "MultipleIdentities" })
    }),
  )

  it.effect("maps invalid_resource to InvalidResource", () =>
    Effect.gen(function* () {
      const { exit } = yield* run(() => ({
        status: 400,
        body: {
          error: "invalid_resource",
          error_description: "AADSTS500011: The resource principal named x was not found",
        },
      }))
      expect(failureOf(exit)).toMatchObject({ _tag: "InvalidResource", resource: ARM })
    }),
  )

  it.effect("connection refused is ImdsUnavailable at once, without retrying", () =>
    Effect.gen(function* () {
      const { exit, times } = yield* run(() => ({ transport: "ECONNREFUSED" }))
      expect(times).toEqual([0])
      expect(failureOf(exit)).toMatchObject({ _tag: "ImdsUnavailable", reason: "ConnectionRefused" })
    }),
  )

  it.effect("no TCP connection within the connect timeout is ImdsUnavailable (ConnectTimeout)", () =>
    Effect.gen(function* () {
      const { exit, times } = yield* run(() => ({ transport: "UND_ERR_CONNECT_TIMEOUT", delayMs: 1_000 }))
      expect(times).toEqual([0])
      expect(failureOf(exit)).toMatchObject({ _tag: "ImdsUnavailable", reason: "ConnectTimeout" })
    }),
  )

  it.effect("unreachable networks are ImdsUnavailable (Unreachable)", () =>
    Effect.gen(function* () {
      for (const code of ["EHOSTUNREACH", "ENETUNREACH"]) {
        const { exit } = yield* run(() => ({ transport: code }))
        expect(failureOf(exit)).toMatchObject({ _tag: "ImdsUnavailable", reason: "Unreachable" })
      }
    }),
  )

  it.effect("a connection reset is retried", () =>
    Effect.gen(function* () {
      const { exit, times } = yield* run((n, at) => (n === 1 ? { transport: "ECONNRESET" } : ok(n, at)))
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(times).toEqual([0, 1_000])
    }),
  )

  it.effect("a slow response after connecting is waited for within the attempt timeout", () =>
    Effect.gen(function* () {
      const { exit, requests } = yield* run((n, at) => ({ ...ok(n, at), delayMs: 8_000 }))
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(requests).toHaveLength(1)
    }),
  )

  it.effect("an attempt that exceeds the attempt timeout is cut off and retried", () =>
    Effect.gen(function* () {
      const { exit, times } = yield* run((n, at) => (n === 1 ? { ...ok(n, at), delayMs: 60_000 } : ok(n, at)))
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(times).toEqual([0, 11_000])
    }),
  )

  it.effect("the whole call stops at the deadline", () =>
    Effect.gen(function* () {
      const { exit, times } = yield* run(() => ({ status: 410 }), {
        policy: { ...noJitter, deadlineMs: 25_000 },
      })
      expect(times).toEqual([0, 10_000, 20_000])
      expect(failureOf(exit)).toMatchObject({ _tag: "TokenRequestFailed", status: 410, attempts: 3 })
      const hang = yield* run(() => ({ status: 200, delayMs: 600_000 }), {
        policy: { ...noJitter, deadlineMs: 25_000 },
      })
      expect(failureOf(hang.exit)).toMatchObject({ _tag: "Timeout", millis: 25_000 })
      expect(hang.times).toEqual([0, 11_000, 23_000])
    }),
  )

  it.effect("a malformed body is MalformedTokenResponse naming the field, not retried", () =>
    Effect.gen(function* () {
      const missing = yield* run(() => ({ status: 200, body: { expires_on: "1700000000" } }))
      expect(missing.requests).toHaveLength(1)
      expect(failureOf(missing.exit)).toMatchObject({ _tag: "MalformedTokenResponse", field: "access_token" })
      const notJson = yield* run(() => ({ status: 200, body: '{"access_token": "eyJ' }))
      expect(failureOf(notJson.exit)).toMatchObject({ _tag: "MalformedTokenResponse", field: undefined })
      const noExpiry = yield* run(() => ({ status: 200, body: { access_token: "secret-abc" } }))
      const e = failureOf(noExpiry.exit) as Error
      expect(e).toMatchObject({ _tag: "MalformedTokenResponse", field: "expires_on" })
      expect(e.message).not.toContain("secret-abc")
    }),
  )
})

describe("IMDS request: local proxies", () => {
  it.effect("Docker Desktop's 403 'unreachable network' is ImdsUnavailable, not retried", () =>
    Effect.gen(function* () {
      const { exit, requests } = yield* run(() => ({
        status: 403,
        body: "connecting to 169.254.169.254:80: connecting to 169.254.169.254:80: dial tcp 169.254.169.254:80: connectex: A socket operation was attempted to an unreachable network.",
      }))
      expect(requests).toHaveLength(1)
      expect(failureOf(exit)).toMatchObject({ _tag: "ImdsUnavailable", reason: "Unreachable" })
    }),
  )
})
