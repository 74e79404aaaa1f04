/**
 * Azure ML (GET, `secret` header, api-version 2017-09-01, `clientid` — and DEFAULT_IDENTITY_CLIENT_ID for
 * the system-assigned identity; user-assigned by client id only) and Cloud Shell (POST form `resource=`,
 * system-assigned only): request shapes, the identity rules refused before any request, every expires_on
 * format, and the retry timeline on the TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Redacted } from "effect"
import * as AzureMl from "../src/AzureMl.js"
import * as CloudShell from "../src/CloudShell.js"
import { errorKind } from "../src/Errors.js"
import { IdentitySelector } from "../src/IdentitySelector.js"
import { hostPolicy, type RetryPolicy } from "../src/Retry.js"
import type { Step } from "./fixtures/fakeHttp.js"
import { token } from "./fixtures/fakeHttp.js"
import { ARM, failureOf, runSource } from "./fixtures/runSource.js"

const noJitter: RetryPolicy = { ...hostPolicy, jitter: 0 }
const ML = "http://127.0.0.1:46808/msi/token"
const SHELL = "http://localhost:50342/oauth2/token"
const CLIENT = "0d7e6c5b-4a39-4827-9615-0f1e2d3c4b5a"
const DEFAULT_CLIENT = "c2af1d3b-5e6a-4b7c-8d9e-0f1a2b3c4dfa"
const ok = (_n: number, at: number): Step => ({ status: 200, body: token(at) })

const ml = (
  respond: (n: number, at: number) => Step,
  selector: IdentitySelector = IdentitySelector.SystemAssigned(),
  defaultClientId: string | null = DEFAULT_CLIENT,
) =>
  runSource(
    AzureMl.make({
      endpoint: ML,
      secret: Redacted.make("ml-secret"),
      defaultClientId: defaultClientId ?? undefined,
      policy: noJitter,
    }),
    (n, r) => respond(n, r.at),
    selector,
  )

const shell = (
  respond: (n: number, at: number) => Step,
  selector: IdentitySelector = IdentitySelector.SystemAssigned(),
) => runSource(CloudShell.make({ endpoint: SHELL, policy: noJitter }), (n, r) => respond(n, r.at), selector)

describe("Azure ML", () => {
  it.effect(
    "GET MSI_ENDPOINT, api-version 2017-09-01, secret and Metadata headers, clientid = DEFAULT_IDENTITY_CLIENT_ID for system-assigned",
    () =>
      Effect.gen(function* () {
        const { exit, requests } = yield* ml(ok)
        expect(Exit.isSuccess(exit)).toBe(true)
        const r = requests[0]!
        expect(r.method).toBe("GET")
        expect(r.url.origin + r.url.pathname).toBe(ML)
        expect(Object.fromEntries(r.url.searchParams)).toEqual({
          "api-version": "2017-09-01",
          resource: ARM,
          clientid: DEFAULT_CLIENT,
        })
        expect(r.headers.secret).toBe("ml-secret")
        expect(r.headers.metadata).toBe("true")
      }),
  )

  it.effect("without DEFAULT_IDENTITY_CLIENT_ID no clientid is sent; a client id is sent as clientid", () =>
    Effect.gen(function* () {
      const bare = yield* ml(ok, IdentitySelector.SystemAssigned(), null)
      expect(bare.requests[0]!.url.searchParams.has("clientid")).toBe(false)
      const user = yield* ml(ok, IdentitySelector.ClientId({ clientId: CLIENT }))
      expect(user.requests[0]!.url.searchParams.get("clientid")).toBe(CLIENT)
      expect(user.requests[0]!.url.searchParams.has("client_id")).toBe(false)
    }),
  )

  it.effect(
    "an object id or resource id is refused before any request: Azure ML selects by client id only",
    () =>
      Effect.gen(function* () {
        for (const selector of [
          IdentitySelector.ObjectId({ objectId: CLIENT }),
          IdentitySelector.ResourceId({ resourceId: "/subscriptions/s/resourcegroups/g/providers/x/y" }),
        ]) {
          const { exit, requests } = yield* ml(ok, selector)
          expect(requests).toHaveLength(0)
          const e = failureOf(exit) as { _tag: string; message: string; supported: string }
          expect(e).toMatchObject({ _tag: "IdentitySelectionUnsupported", supported: "client-id" })
          expect(e.message).toMatch(/^Azure ML supports a user-assigned identity by its client id only/)
        }
      }),
  )

  it.effect(
    "expires_on as a number, a numeric string, ISO-8601 or App Service's 2017 date; else expires_in",
    () =>
      Effect.gen(function* () {
        // Absolute expiries are 2 h after the epoch; expires_in counts from when the answer came.
        const cases: ReadonlyArray<[Record<string, unknown>, "absolute" | "relative"]> = [
          [{ expires_on: 7200 }, "absolute"],
          [{ expires_on: "7200" }, "absolute"],
          [{ expires_on: "1970-01-01T02:00:00Z" }, "absolute"],
          [{ expires_on: "01/01/1970 02:00:00 AM +00:00" }, "absolute"],
          [{ expires_on: "1/1/1970 2:00:00 AM +00:00" }, "absolute"],
          [{ expires_in: 7200 }, "relative"],
          [{ expires_in: "7200" }, "relative"],
        ]
        for (const [fields, kind] of cases) {
          const { exit, requests } = yield* ml(() => ({
            status: 200,
            body: { access_token: "t", ...fields },
          }))
          const expected = kind === "absolute" ? 7_200_000 : requests[0]!.at + 7_200_000
          expect(Exit.isSuccess(exit) && exit.value.expiresOn).toBe(expected)
        }
      }),
  )

  it.effect(
    "401 names MSI_SECRET and the secret header; 500 is retried at 0, 1, 3 s; 410 is not (IMDS's own)",
    () =>
      Effect.gen(function* () {
        const refused = yield* ml(() => ({ status: 401, body: { error: "unauthorized_client" } }))
        const e = failureOf(refused.exit) as { hint: string }
        expect(e.hint).toBe(
          "The endpoint refused the secret header azmi sent: set MSI_SECRET to the secret the host gave this process.",
        )
        const retried = yield* ml((n, at) => (n < 3 ? { status: 500 } : ok(n, at)))
        expect(retried.times).toEqual([0, 1_000, 3_000])
        const gone = yield* ml(() => ({ status: 410 }))
        expect(gone.requests).toHaveLength(1)
      }),
  )
})

describe("Cloud Shell", () => {
  it.effect("POST MSI_ENDPOINT with Metadata: true and the form body resource=…", () =>
    Effect.gen(function* () {
      const { exit, requests } = yield* shell(ok)
      expect(Exit.isSuccess(exit)).toBe(true)
      const r = requests[0]!
      expect(r.method).toBe("POST")
      expect(r.url.href).toBe(SHELL)
      expect(r.headers.metadata).toBe("true")
      expect(r.headers["content-type"]).toBe("application/x-www-form-urlencoded")
      expect(r.body).toBe(`resource=${encodeURIComponent(ARM)}`)
    }),
  )

  it.effect(
    "a user-assigned identity is refused before any request, saying Cloud Shell has one identity",
    () =>
      Effect.gen(function* () {
        const { exit, requests } = yield* shell(ok, IdentitySelector.ClientId({ clientId: CLIENT }))
        expect(requests).toHaveLength(0)
        const e = failureOf(exit) as { _tag: string; message: string; hint: string }
        expect(e.message).toBe(
          `Cloud Shell supports only its system-assigned identity, and client_id=${CLIENT} was asked for; no token request was sent.`,
        )
        expect(e.hint).toContain("the signed-in user's")
        expect(errorKind(e as never)).toBe("IdentityUnavailable")
      }),
  )

  it.effect("503 is retried with backoff; 400 is not", () =>
    Effect.gen(function* () {
      const retried = yield* shell((n, at) => (n < 4 ? { status: 503 } : ok(n, at)))
      expect(retried.times).toEqual([0, 1_000, 3_000, 7_000])
      const bad = yield* shell(() => ({ status: 400, body: { error: "invalid_request" } }))
      expect(bad.requests).toHaveLength(1)
    }),
  )
})
