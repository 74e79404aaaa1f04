import { describe, expect, it } from "@effect/vitest"
import {
  Cause,
  Chunk,
  Effect,
  Either,
  Exit,
  Fiber,
  Logger,
  LogLevel,
  Metric,
  Option,
  Schema,
  Stream,
  TestClock,
} from "effect"
import * as ArmClient from "../src/ArmClient.js"
import { errorCategory } from "../src/Errors.js"
import * as Metrics from "../src/Metrics.js"
import { armError, armLayer, ENDPOINT, fakeArm, fakeTokens, type Reply, SUB } from "./arm-fixtures.js"

const GET_SUB = { method: "GET" as const, path: ["subscriptions", SUB], apiVersion: "2022-12-01" }

/** Runs `f(arm)` against the scripted replies; returns the fakes for assertions. */
const withArm = <A, E>(
  replies: ReadonlyArray<Reply>,
  f: (arm: ArmClient.ArmClient["Type"]) => Effect.Effect<A, E>,
  options: ArmClient.ArmClientOptions = {},
) => {
  const http = fakeArm(replies)
  const tokens = fakeTokens()
  const run = Effect.flatMap(ArmClient.ArmClient, f).pipe(Effect.provide(armLayer(http, tokens, options)))
  return { http, tokens, run }
}

const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ message, annotations }) => {
    lines.push(`${JSON.stringify(message)} ${JSON.stringify([...annotations])}`)
  })
  const provide = <A, E, R>(self: Effect.Effect<A, E, R>) =>
    self.pipe(
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Logger.withMinimumLogLevel(LogLevel.All),
    )
  return { lines, provide }
}

describe("ArmClient requests", () => {
  it.effect("sends bearer token, api-version, client request id and no tracing headers", () =>
    Effect.gen(function* () {
      const { http, tokens, run } = withArm([{ status: 200, body: { ok: true } }], (arm) =>
        arm.json(GET_SUB, Schema.Struct({ ok: Schema.Boolean })),
      )
      const res = yield* run
      expect(res.value).toEqual({ ok: true })
      const [req] = http.requests
      expect(req?.url.origin).toBe(ENDPOINT)
      expect(req?.url.pathname).toBe(`/subscriptions/${SUB}`)
      expect(req?.url.searchParams.get("api-version")).toBe("2022-12-01")
      expect(req?.headers.authorization).toBe("Bearer token-1")
      expect(req?.headers["x-ms-client-request-id"]).toMatch(/^[0-9a-f-]{36}$/)
      expect(res.metadata.clientRequestId).toBe(req?.headers["x-ms-client-request-id"])
      expect(req?.headers.traceparent).toBeUndefined()
      expect(req?.headers.b3).toBeUndefined()
      expect(tokens.calls).toEqual([{ resource: "https://management.azure.com/", forceRefresh: false }])
    }),
  )

  it.effect("asks for the management audience whatever the endpoint, unless configured", () =>
    Effect.gen(function* () {
      const a = withArm([{ status: 200, body: {} }], (arm) => arm.send(GET_SUB), {
        endpoint: "https://127.0.0.1:9",
      })
      yield* a.run
      expect(a.tokens.calls[0]?.resource).toBe("https://management.azure.com/")
      const b = withArm([{ status: 200, body: {} }], (arm) => arm.send(GET_SUB), {
        audience: "https://management.usgovcloudapi.net/",
      })
      yield* b.run
      expect(b.tokens.calls[0]?.resource).toBe("https://management.usgovcloudapi.net/")
    }),
  )

  it.effect("surfaces request ids and the remaining-reads header in metadata and logs", () =>
    Effect.gen(function* () {
      const logs = captureLogs()
      const { run } = withArm(
        [
          {
            status: 200,
            body: {},
            headers: {
              "x-ms-request-id": "req-1",
              "x-ms-correlation-request-id": "corr-1",
              "x-ms-ratelimit-remaining-subscription-reads": "11999",
            },
          },
        ],
        (arm) => arm.send(GET_SUB),
      )
      const res = yield* logs.provide(run)
      expect(res.metadata).toMatchObject({
        requestId: "req-1",
        correlationId: "corr-1",
        remainingReads: 11999,
      })
      expect(logs.lines.some((l) => l.includes("11999") && l.includes("req-1"))).toBe(true)
    }),
  )

  it.effect("warns when the read budget is nearly spent", () =>
    Effect.gen(function* () {
      const logs = captureLogs()
      const { run } = withArm(
        [{ status: 200, body: {}, headers: { "x-ms-ratelimit-remaining-subscription-reads": "3" } }],
        (arm) => arm.send(GET_SUB),
      )
      yield* logs.provide(run)
      expect(logs.lines.some((l) => l.includes("3 reads remaining"))).toBe(true)
    }),
  )

  it.effect("rejects a non-JSON success body as MalformedResponse, and a body of the wrong shape", () =>
    Effect.gen(function* () {
      const a = withArm([{ status: 200, body: "<html>" }], (arm) => arm.send(GET_SUB))
      const e1 = yield* Effect.flip(a.run)
      expect(e1).toMatchObject({ _tag: "ArmRequestFailed", code: "MalformedResponse" })
      const b = withArm([{ status: 200, body: { ok: "yes" } }], (arm) =>
        arm.json(GET_SUB, Schema.Struct({ ok: Schema.Boolean })),
      )
      const e2 = yield* Effect.flip(b.run)
      expect(e2).toMatchObject({ _tag: "ArmRequestFailed", code: "MalformedResponse" })
    }),
  )
})

describe("ArmClient paging", () => {
  it.effect("a pages stream can be run twice (each run follows nextLink afresh)", () =>
    Effect.gen(function* () {
      const first = {
        status: 200,
        body: { value: [1, 2], nextLink: `${ENDPOINT}/subscriptions/${SUB}/resourcegroups?$skiptoken=2` },
      }
      const last = { status: 200, body: { value: [3] } }
      const { http, run } = withArm([first, last, first, last], (arm) => {
        const stream = arm.pages(
          { ...GET_SUB, path: ["subscriptions", SUB, "resourcegroups"] },
          Schema.Number,
        )
        return Effect.zip(Stream.runCollect(stream), Stream.runCollect(stream))
      })
      const [a, b] = yield* run
      expect([Chunk.toArray(a), Chunk.toArray(b)]).toEqual([
        [1, 2, 3],
        [1, 2, 3],
      ])
      expect(http.requests).toHaveLength(4)
    }),
  )
})

describe("ArmClient configuration", () => {
  it("accepts https and loopback http endpoints only", () => {
    expect(ArmClient.parseEndpoint("https://management.azure.com/")).toEqual(
      Either.right("https://management.azure.com"),
    )
    expect(ArmClient.parseEndpoint("http://127.0.0.1:8080")).toEqual(Either.right("http://127.0.0.1:8080"))
    for (const bad of [
      "http://management.azure.com",
      "ftp://x",
      "not a url",
      "https://u:p@host",
      "https://h/?a=1",
    ]) {
      const r = ArmClient.parseEndpoint(bad)
      expect(
        Either.isLeft(r) && r.left._tag === "InvalidConfiguration" && r.left.variable === "AZMI_ARM_ENDPOINT",
      ).toBe(true)
    }
  })

  it.effect("an invalid endpoint fails the layer with InvalidConfiguration", () =>
    Effect.gen(function* () {
      const { run } = withArm([{ status: 200 }], (arm) => arm.send(GET_SUB), {
        endpoint: "http://arm.example.com",
      })
      const e = yield* Effect.flip(run)
      expect(e._tag).toBe("InvalidConfiguration")
    }),
  )
})

describe("ArmClient retries", () => {
  it.effect("429 waits exactly Retry-After seconds, then succeeds", () =>
    Effect.gen(function* () {
      const { http, run } = withArm(
        [
          {
            status: 429,
            body: armError("SubscriptionRequestsThrottled", "slow down"),
            headers: { "retry-after": "7" },
          },
          { status: 200, body: {} },
        ],
        (arm) => arm.send(GET_SUB),
      )
      const fiber = yield* Effect.fork(run)
      yield* TestClock.adjust("6999 millis")
      expect(http.requests.length).toBe(1)
      yield* TestClock.adjust("1 millis")
      const res = yield* Fiber.join(fiber)
      expect(res.status).toBe(200)
      expect(http.requests.length).toBe(2)
      // The same logical call keeps its client request id across retries.
      expect(http.requests[1]?.headers["x-ms-client-request-id"]).toBe(
        http.requests[0]?.headers["x-ms-client-request-id"],
      )
    }),
  )

  it.effect("429 with an HTTP-date Retry-After waits until that date", () =>
    Effect.gen(function* () {
      const { http, run } = withArm(
        [
          {
            status: 429,
            body: armError("SubscriptionRequestsThrottled", "x"),
            headers: { "retry-after": new Date(20_000).toUTCString() },
          },
          { status: 200, body: {} },
        ],
        (arm) => arm.send(GET_SUB),
      )
      yield* TestClock.setTime(10_000)
      const fiber = yield* Effect.fork(run)
      yield* TestClock.adjust("9 seconds")
      expect(http.requests.length).toBe(1)
      yield* TestClock.adjust("1 seconds")
      yield* Fiber.join(fiber)
      expect(http.requests.length).toBe(2)
    }),
  )

  it.effect("a Retry-After beyond the cap is not waited for: ArmThrottled at once", () =>
    Effect.gen(function* () {
      const { http, run } = withArm(
        [
          {
            status: 429,
            body: armError("SubscriptionRequestsThrottled", "Please try again after '300' seconds."),
            headers: { "retry-after": "300" },
          },
        ],
        (arm) => arm.send(GET_SUB),
      )
      const e = yield* Effect.flip(run)
      expect(e).toMatchObject({ _tag: "ArmThrottled", retryAfterSeconds: 300 })
      expect(http.requests.length).toBe(1)
      expect(errorCategory(e)).toBe("Throttled")
    }),
  )

  it.effect("429 forever gives ArmThrottled after 1 + maxThrottledRetries attempts", () =>
    Effect.gen(function* () {
      const { http, run } = withArm(
        [
          {
            status: 429,
            body: armError("SubscriptionRequestsThrottled", "x"),
            headers: { "retry-after": "1", "x-ms-request-id": "r" },
          },
        ],
        (arm) => arm.send(GET_SUB),
      )
      const fiber = yield* Effect.fork(run)
      yield* TestClock.adjust("10 seconds")
      const exit = yield* Fiber.await(fiber)
      expect(http.requests.length).toBe(5)
      expect(Exit.isFailure(exit) && JSON.stringify(exit.cause).includes("ArmThrottled")).toBe(true)
    }),
  )

  it.effect("429s and 5xx have separate retry budgets: a throttle after four 5xx is still waited out", () =>
    Effect.gen(function* () {
      const throttled = {
        status: 429,
        body: armError("SubscriptionRequestsThrottled", "x"),
        headers: { "retry-after": "2" },
      }
      const { http, run } = withArm(
        [
          { status: 503 },
          { status: 503 },
          throttled,
          { status: 500 },
          { status: 503 },
          throttled,
          { status: 200, body: {} },
        ],
        (arm) => arm.send(GET_SUB),
        { retry: { maxRetries: 4, maxThrottledRetries: 2, baseDelayMs: 100, maxDelayMs: 100 } },
      )
      const fiber = yield* Effect.fork(run)
      yield* TestClock.adjust("10 seconds")
      expect((yield* Fiber.join(fiber)).status).toBe(200)
      expect(http.requests.length).toBe(7)
      // Each budget on its own: a third 429 with throttles spent is ArmThrottled at once.
      const spent = withArm(
        [throttled, throttled, throttled, { status: 200, body: {} }],
        (arm) => arm.send(GET_SUB),
        {
          retry: { maxThrottledRetries: 2 },
        },
      )
      const second = yield* Effect.fork(spent.run)
      yield* TestClock.adjust("10 seconds")
      const exit = yield* Fiber.await(second)
      expect(spent.http.requests.length).toBe(3)
      expect(Exit.isFailure(exit) && JSON.stringify(exit.cause).includes("ArmThrottled")).toBe(true)
    }),
  )

  it.effect("5xx are retried with capped exponential backoff", () =>
    Effect.gen(function* () {
      const { http, run } = withArm(
        [
          { status: 503 },
          { status: 500, body: armError("InternalServerError", "x") },
          { status: 200, body: {} },
        ],
        (arm) => arm.send(GET_SUB),
        { retry: { baseDelayMs: 1000, maxDelayMs: 1500 } },
      )
      const fiber = yield* Effect.fork(run)
      yield* TestClock.adjust("499 millis")
      expect(http.requests.length).toBe(1) // first delay is at least half of 1000 ms
      yield* TestClock.adjust("501 millis")
      expect(http.requests.length).toBe(2)
      yield* TestClock.adjust("1500 millis") // second delay capped at 1500 ms
      const res = yield* Fiber.join(fiber)
      expect(res.status).toBe(200)
      expect(http.requests.length).toBe(3)
    }),
  )

  it.effect("every attempt counts in azmi_arm_requests_total, every retry in azmi_retries_total", () =>
    Effect.gen(function* () {
      const requests0 = (yield* Metric.value(Metrics.armRequests)).count
      const retries0 = (yield* Metric.value(Metrics.retries)).count
      const { http, run } = withArm(
        [
          { status: 503 },
          { status: 429, headers: { "retry-after": "1" } },
          { status: 401, body: armError("ExpiredAuthenticationToken", "expired") },
          { status: 200, body: {} },
        ],
        (arm) => arm.send(GET_SUB),
        { retry: { baseDelayMs: 100, maxDelayMs: 100 } },
      )
      const fiber = yield* Effect.fork(run)
      yield* TestClock.adjust("2 seconds")
      expect((yield* Fiber.join(fiber)).status).toBe(200)
      expect(http.requests.length).toBe(4)
      expect((yield* Metric.value(Metrics.armRequests)).count - requests0).toBe(4)
      // The 503 and the 429 were retried after a wait; the 401 is a token refresh, not a retry.
      expect((yield* Metric.value(Metrics.retries)).count - retries0).toBe(2)
    }),
  )

  it.effect("transport errors are retried, then ArmUnreachable with the attempt count", () =>
    Effect.gen(function* () {
      const { http, run } = withArm(["reset"], (arm) => arm.send(GET_SUB), { retry: { maxRetries: 2 } })
      const fiber = yield* Effect.fork(run)
      yield* TestClock.adjust("1 minute")
      const e = yield* Effect.flip(Fiber.join(fiber))
      expect(e).toMatchObject({ _tag: "ArmUnreachable", attempts: 3, endpoint: ENDPOINT })
      expect(http.requests.length).toBe(3)
    }),
  )

  it.effect("an attempt with no answer times out and is retried", () =>
    Effect.gen(function* () {
      const { http, run } = withArm(["hang", { status: 200, body: {} }], (arm) => arm.send(GET_SUB), {
        attemptTimeoutMs: 5_000,
        retry: { baseDelayMs: 100, maxDelayMs: 100 },
      })
      const fiber = yield* Effect.fork(run)
      yield* TestClock.adjust("4999 millis")
      expect(http.requests.length).toBe(1)
      yield* TestClock.adjust("101 millis")
      const res = yield* Fiber.join(fiber)
      expect(res.status).toBe(200)
      expect(http.requests.length).toBe(2)
    }),
  )

  it.effect("attempts that never answer end in Timeout", () =>
    Effect.gen(function* () {
      const { http, run } = withArm(["hang"], (arm) => arm.send(GET_SUB), {
        attemptTimeoutMs: 1_000,
        retry: { maxRetries: 2, baseDelayMs: 100, maxDelayMs: 100 },
      })
      const fiber = yield* Effect.fork(run)
      yield* TestClock.adjust("1 minute")
      expect(yield* Effect.flip(Fiber.join(fiber))).toMatchObject({ _tag: "Timeout", millis: 1000 })
      expect(http.requests.length).toBe(3)
    }),
  )

  it.effect("4xx other than 401/429 are never retried", () =>
    Effect.gen(function* () {
      for (const status of [400, 403, 404, 409]) {
        const { http, run } = withArm(
          [
            { status, body: armError("SomethingElse", "no"), headers: { "x-ms-request-id": "rid" } },
            { status: 200 },
          ],
          (arm) => arm.send(GET_SUB),
        )
        const e = yield* Effect.flip(run)
        expect(e).toMatchObject({
          _tag: "ArmRequestFailed",
          status,
          code: "SomethingElse",
          requestId: "rid",
          attempts: 1,
        })
        expect(http.requests.length).toBe(1)
      }
    }),
  )

  it.effect("401 expired token: refreshes the token (forced) and retries exactly once", () =>
    Effect.gen(function* () {
      const { http, tokens, run } = withArm(
        [
          {
            status: 401,
            body: armError(
              "ExpiredAuthenticationToken",
              "The access token expiry UTC time '8/17/2017 10:54:41 PM' is earlier than current UTC time '8/17/2017 10:55:43 PM'.",
            ),
          },
          { status: 200, body: {} },
        ],
        (arm) => arm.send(GET_SUB),
      )
      const res = yield* run
      expect(res.status).toBe(200)
      expect(http.requests.map((r) => r.headers.authorization)).toEqual(["Bearer token-1", "Bearer token-2"])
      expect(tokens.calls.map((c) => c.forceRefresh)).toEqual([false, true])
    }),
  )

  it.effect("401 again after the refresh: InvalidAuthenticationToken, two requests in all", () =>
    Effect.gen(function* () {
      const { http, tokens, run } = withArm(
        [
          {
            status: 401,
            body: armError("InvalidAuthenticationToken", "The received access token is not valid"),
          },
        ],
        (arm) => arm.send(GET_SUB),
      )
      const e = yield* Effect.flip(run)
      expect(e).toMatchObject({ _tag: "InvalidAuthenticationToken", reason: "Invalid" })
      expect(http.requests.length).toBe(2)
      expect(tokens.calls.filter((c) => c.forceRefresh).length).toBe(1)
    }),
  )

  it.effect("401 for the wrong audience or tenant is not retried (a new token would not help)", () =>
    Effect.gen(function* () {
      const cases = [
        [
          "InvalidAuthenticationTokenAudience",
          "The access token has been obtained for wrong audience or resource 'x'.",
          "Audience",
        ],
        [
          "InvalidAuthenticationTokenTenant",
          "The access token is from the wrong issuer 'https://sts.windows.net/a/'.",
          "WrongTenant",
        ],
      ] as const
      for (const [code, message, reason] of cases) {
        const { http, run } = withArm([{ status: 401, body: armError(code, message) }], (arm) =>
          arm.send(GET_SUB),
        )
        const e = yield* Effect.flip(run)
        expect(e).toMatchObject({ _tag: "InvalidAuthenticationToken", reason, code })
        expect(http.requests.length).toBe(1)
        expect(e.hint).toBeDefined()
      }
    }),
  )

  it.effect("401 without a body falls back to the WWW-Authenticate challenge", () =>
    Effect.gen(function* () {
      const { run } = withArm(
        [
          {
            status: 401,
            headers: {
              "www-authenticate":
                'Bearer authorization_uri="https://login.windows.net/t", error="invalid_token", error_description="The authentication failed because of missing \'Authorization\' header."',
            },
          },
        ],
        (arm) => arm.send(GET_SUB),
      )
      const e = yield* Effect.flip(run)
      expect(e).toMatchObject({ _tag: "InvalidAuthenticationToken", reason: "Missing" })
    }),
  )

  it.effect("the whole call is bounded by the deadline", () =>
    Effect.gen(function* () {
      const { run } = withArm([{ status: 503 }], (arm) => arm.send(GET_SUB), {
        deadlineMs: 2_000,
        retry: { maxRetries: 100, baseDelayMs: 500, maxDelayMs: 500 },
      })
      const fiber = yield* Effect.fork(run)
      yield* TestClock.adjust("3 seconds")
      const e = yield* Effect.flip(Fiber.join(fiber))
      expect(e).toMatchObject({ _tag: "Timeout", millis: 2000 })
    }),
  )
})

describe("ArmClient error decoding", () => {
  it.effect("AuthorizationFailed: action, scope and principal parsed, with a grant hint", () =>
    Effect.gen(function* () {
      const oid = "1b2c3d4e-0000-4000-8000-000000000001"
      const message = `The client '${oid}' with object id '${oid}' does not have authorization to perform action 'Microsoft.Resources/subscriptions/resourcegroups/read' over scope '/subscriptions/${SUB}/resourcegroups/DevTest' or the scope is invalid. If access was recently granted, please refresh your credentials.`
      const { run } = withArm(
        [
          {
            status: 403,
            body: armError("AuthorizationFailed", message),
            headers: { "x-ms-request-id": "r1", "x-ms-correlation-request-id": "c1" },
          },
        ],
        (arm) => arm.send(GET_SUB),
      )
      const e = yield* Effect.flip(run)
      expect(e).toMatchObject({
        _tag: "AuthorizationFailed",
        action: "Microsoft.Resources/subscriptions/resourcegroups/read",
        scope: `/subscriptions/${SUB}/resourcegroups/DevTest`,
        principalId: oid,
        clientId: undefined,
        requestId: "r1",
        correlationId: "c1",
      })
      expect(e.hint).toBe(
        `An Owner or User Access Administrator of the scope must run: azmi role assignment create --assignee-object-id ${oid} --role Reader --scope /subscriptions/${SUB}/resourcegroups/DevTest`,
      )
    }),
  )

  it.effect("ResourceGroupNotFound and SubscriptionNotFound", () =>
    Effect.gen(function* () {
      const a = withArm(
        [
          {
            status: 404,
            body: armError("ResourceGroupNotFound", "Resource group 'Nope' could not be found."),
            headers: { "x-ms-request-id": "q" },
          },
        ],
        (arm) => arm.send({ ...GET_SUB, context: { subscriptionId: SUB } }),
      )
      expect(yield* Effect.flip(a.run)).toMatchObject({
        _tag: "ResourceGroupNotFound",
        resourceGroupName: "Nope",
        subscriptionId: SUB,
        requestId: "q",
      })
      const other = "00000000-0000-0000-0000-000000000001"
      const b = withArm(
        [
          {
            status: 404,
            body: armError("SubscriptionNotFound", `The subscription '${other}' could not be found.`),
          },
        ],
        (arm) => arm.send(GET_SUB),
      )
      expect(yield* Effect.flip(b.run)).toMatchObject({ _tag: "SubscriptionNotFound", subscriptionId: other })
    }),
  )

  it.effect("ArmRequestFailed keeps a non-JSON error body readable", () =>
    Effect.gen(function* () {
      const { run } = withArm([{ status: 400, body: "Bad Request" }], (arm) => arm.send(GET_SUB))
      const e = yield* Effect.flip(run)
      expect(e).toMatchObject({
        _tag: "ArmRequestFailed",
        status: 400,
        code: "Http400",
        armMessage: "Bad Request",
      })
    }),
  )
})

describe("ArmClient secrets", () => {
  it.effect("no log line or error message ever contains the token", () =>
    Effect.gen(function* () {
      const logs = captureLogs()
      const scenarios: Array<ReadonlyArray<Reply>> = [
        [{ status: 401, body: armError("ExpiredAuthenticationToken", "expired") }],
        [{ status: 403, body: armError("AuthorizationFailed", "nope") }],
        [{ status: 503 }, { status: 200, body: {} }],
        ["reset"],
        [{ status: 200, body: {} }],
      ]
      const errors: Array<string> = []
      for (const replies of scenarios) {
        const { run } = withArm(replies, (arm) => arm.send(GET_SUB), { retry: { maxRetries: 1 } })
        const fiber = yield* Effect.fork(logs.provide(run))
        yield* TestClock.adjust("1 minute")
        const exit = yield* Fiber.await(fiber)
        if (Exit.isFailure(exit)) {
          errors.push(JSON.stringify(exit.cause), String(exit.cause))
          const e = Cause.failureOption(exit.cause)
          if (Option.isSome(e)) errors.push(e.value.message, String(e.value.hint ?? ""))
        }
      }
      expect(logs.lines.length).toBeGreaterThan(0)
      for (const text of [...logs.lines, ...errors]) expect(text).not.toMatch(/token-\d/)
    }),
  )
})
