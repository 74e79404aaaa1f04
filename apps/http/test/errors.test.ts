import {
  ArmRequestFailed,
  ArmThrottled,
  ArmUnreachable,
  AuthorizationFailed,
  type AzmiError,
  ClientAuthenticationFailed,
  IdentityNotFound,
  ImdsThrottled,
  ImdsUnavailable,
  InvalidAuthenticationToken,
  InvalidConfiguration,
  InvalidInput,
  InvalidResource,
  MalformedTokenResponse,
  MultipleIdentities,
  ResourceGroupNotFound,
  RoleNotFound,
  SubscriptionNotFound,
  Timeout,
  TokenRequestFailed,
} from "@azmi/core"
import { describe, expect, it } from "vitest"
import { renderError } from "../src/errors.js"

const arm = (status: number) =>
  new ArmRequestFailed({ status, code: `Code${status}`, armMessage: "m", attempts: 1 })

// Every error the core can produce, with the status azmi-http answers.
const table: ReadonlyArray<readonly [AzmiError, number]> = [
  [new InvalidInput({ field: "subscriptionId", rule: "must be a GUID" }), 400],
  [new InvalidResource({ resource: "https://nope/" }), 400],
  [new InvalidConfiguration({ variable: "AZMI_IMDS_ENDPOINT", reason: "not loopback" }), 503],
  [new ImdsUnavailable({ endpoint: "http://127.0.0.1:1", reason: "ConnectTimeout" }), 503],
  [new IdentityNotFound({ selector: "system-assigned" }), 503],
  [new MultipleIdentities({}), 503],
  [new ImdsThrottled({ attempts: 4 }), 429],
  [new TokenRequestFailed({ endpoint: "x", status: 500, attempts: 4 }), 502],
  [new MalformedTokenResponse({ endpoint: "x", detail: "not JSON" }), 502],
  [new Timeout({ operation: "IMDS", millis: 10 }), 504],
  [new ClientAuthenticationFailed({ authority: "x", status: 401 }), 503],
  [new AuthorizationFailed({ action: "a/read", scope: "/subscriptions/s", armMessage: "m" }), 403],
  [new ResourceGroupNotFound({ subscriptionId: "s", resourceGroupName: "g" }), 404],
  [new SubscriptionNotFound({ subscriptionId: "s" }), 404],
  [
    new InvalidAuthenticationToken({
      reason: "Expired",
      code: "ExpiredAuthenticationToken",
      armMessage: "m",
    }),
    502,
  ],
  [new ArmThrottled({ retryAfterSeconds: 12 }), 429],
  [new RoleNotFound({ role: "R", scope: "/" }), 404],
  [new ArmUnreachable({ endpoint: "x", detail: "reset", attempts: 3 }), 502],
  [arm(400), 400],
  [arm(401), 502],
  [arm(403), 403],
  [arm(404), 404],
  [arm(409), 400],
  [arm(408), 502],
  [arm(500), 502],
  [arm(503), 503],
  [arm(504), 504],
]

describe("renderError", () => {
  it.each(table.map(([e, s]) => [e._tag, e, s] as const))("%s → %i (never 500)", (_tag, error, status) => {
    const rendered = renderError(error)
    expect(rendered.status).toBe(status)
    expect(rendered.status).not.toBe(500)
    expect(rendered.body.error.message).toBe(error.message)
    expect(rendered.body.error.code).toBe(error._tag === "ArmRequestFailed" ? error.code : error._tag)
    if (error.hint !== undefined) expect(rendered.body.error.hint).toBe(error.hint)
    else expect(rendered.body.error.hint).toBeUndefined()
  })

  it("429 always carries Retry-After (ARM's value, at least 1)", () => {
    expect(renderError(new ArmThrottled({ retryAfterSeconds: 12 })).headers["Retry-After"]).toBe("12")
    expect(renderError(new ArmThrottled({ retryAfterSeconds: 0.2 })).headers["Retry-After"]).toBe("1")
    expect(renderError(new ImdsThrottled({ attempts: 4 })).headers["Retry-After"]).toBe("1")
  })

  it("a selected identity that does not exist is the caller's mistake", () => {
    expect(
      renderError(new IdentityNotFound({ selector: "client_id=x" }), { callerChoseIdentity: true }).status,
    ).toBe(400)
    expect(renderError(new MultipleIdentities({}), { callerChoseIdentity: true }).status).toBe(400)
  })

  it("ARM's request id is returned as a header and in the body", () => {
    const r = renderError(
      new ResourceGroupNotFound({ subscriptionId: "s", resourceGroupName: "g", requestId: "rid-1" }),
    )
    expect(r.headers["x-ms-request-id"]).toBe("rid-1")
    expect(r.body.error.requestId).toBe("rid-1")
  })
})
