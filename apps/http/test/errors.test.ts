import {
  ApplicationNotFound,
  ArcChallengeFailed,
  ArmRequestFailed,
  ArmThrottled,
  ArmUnreachable,
  AuthorizationFailed,
  type AzmiError,
  ClientAuthenticationFailed,
  FederatedCredentialNotFound,
  FederatedIssuerUnreachable,
  FederatedTokenExpired,
  FederatedTokenFileUnreadable,
  FederatedTokenMalformed,
  FederatedTokenSignatureInvalid,
  IdentityNotFound,
  IdentitySelectionUnsupported,
  ImdsThrottled,
  ImdsUnavailable,
  InvalidAuthenticationToken,
  InvalidConfiguration,
  InvalidInput,
  InvalidResource,
  MalformedTokenResponse,
  MultipleIdentities,
  NoInstanceMetadata,
  ResourceGroupNotFound,
  RoleNotFound,
  ServerCertificateMismatch,
  SubscriptionNotFound,
  Timeout,
  TlsCertificateRejected,
  TokenAlreadyExpired,
  TokenRequestFailed,
  UserAssignedIdentityNotConfirmed,
} from "@azmi/core"
import { describe, expect, it } from "vitest"
import { usage } from "../src/config.js"
import { httpHint, type IdentitySource, renderError } from "../src/errors.js"

const arm = (status: number) =>
  new ArmRequestFailed({ status, code: `Code${status}`, armMessage: "m", attempts: 1 })

// Every error the core can produce, with the status azmi-http answers.
const table: ReadonlyArray<readonly [AzmiError, number]> = [
  [new InvalidInput({ field: "subscriptionId", rule: "must be a GUID" }), 400],
  [new InvalidResource({ resource: "https://nope/" }), 400],
  [new InvalidConfiguration({ variable: "AZMI_IMDS_ENDPOINT", reason: "not loopback" }), 503],
  [new ImdsUnavailable({ endpoint: "http://127.0.0.1:1", reason: "ConnectTimeout" }), 503],
  [new IdentityNotFound({ selector: "system-assigned" }), 503],
  [
    new IdentitySelectionUnsupported({
      source: "Cloud Shell",
      selector: "client_id=x",
      supported: "system-assigned",
    }),
    503,
  ],
  [new UserAssignedIdentityNotConfirmed({ source: "Azure Arc", selector: "client_id=x" }), 503],
  [new ArcChallengeFailed({ endpoint: "http://127.0.0.1:40342/", rule: "path", path: "/etc/shadow" }), 503],
  [
    new ServerCertificateMismatch({
      endpoint: "https://127.0.0.1:2377/",
      expected: "A",
      actual: "B",
      variable: "IDENTITY_SERVER_THUMBPRINT",
    }),
    502,
  ],
  [new NoInstanceMetadata({ source: "App Service" }), 503],
  [new MultipleIdentities({}), 503],
  [new ImdsThrottled({ attempts: 4 }), 429],
  [new TokenRequestFailed({ endpoint: "x", status: 500, attempts: 4 }), 502],
  [new MalformedTokenResponse({ endpoint: "x", detail: "not JSON" }), 502],
  [new Timeout({ operation: "IMDS", millis: 10 }), 504],
  [new ClientAuthenticationFailed({ authority: "x", status: 401 }), 503],
  // Entra refused azmi-http's own workload identity: nothing the caller can change.
  [
    new ApplicationNotFound({
      authority: "x",
      tenantId: "t",
      clientId: "c",
      credential: "workload-identity",
    }),
    503,
  ],
  [new FederatedTokenFileUnreadable({ path: "/f", reason: "Missing" }), 503],
  [new FederatedTokenMalformed({ path: "/f", problem: "p", refusedBy: "azmi" }), 503],
  [new FederatedTokenExpired({ path: "/f", expiresOn: 1, checkedAt: 2, refusedBy: "azmi" }), 503],
  [
    new FederatedCredentialNotFound({
      tenantId: "t",
      clientId: "c",
      issuer: "i",
      subject: "s",
      audience: "a",
    }),
    503,
  ],
  [new FederatedTokenSignatureInvalid({ path: "/f", issuer: "i" }), 503],
  [new FederatedIssuerUnreachable({ issuer: "i" }), 503],
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
  it.each(table.map(([e, s]) => [e._tag, s, e] as const))("%s → %i (never 500)", (_tag, status, error) => {
    const rendered = renderError(error)
    expect(rendered.status).toBe(status)
    expect(rendered.status).not.toBe(500)
    expect(rendered.body.error.message).toBe(error.message)
    expect(rendered.body.error.code).toBe(error._tag === "ArmRequestFailed" ? error.code : error._tag)
    expect(rendered.body.error.hint).toBe(httpHint(error))
  })

  // The core's hints are written for the CLI ("Check --subscription", "--timeout", `azmi group
  // list`); a caller of azmi-http can change a query parameter, a path, or azmi-http's environment.
  const flagsOfAzmiHttp = new Set(usage.match(/--[a-z-]+/g) ?? [])
  it.each(
    table.flatMap(([error]) =>
      (["own", "brokerDefault", "chosenByCaller"] as const).map(
        (identity) => [error._tag, identity, error] as const,
      ),
    ),
  )("%s (%s identity): the hint names no CLI flag or command", (_tag, identity: IdentitySource, error) => {
    const hint = renderError(error, { identity }).body.error.hint ?? ""
    // The grant and federation commands are for whoever administers the identity or the cluster
    // (`azmi role assignment create`, `az identity federated-credential create`, `az aks …`), not for
    // the API's caller.
    if (
      error._tag === "AuthorizationFailed" ||
      error._tag === "FederatedCredentialNotFound" ||
      error._tag === "FederatedTokenSignatureInvalid" ||
      error._tag === "FederatedIssuerUnreachable"
    )
      return
    for (const flag of hint.match(/--[a-z-]+/g) ?? []) expect(flagsOfAzmiHttp).toContain(flag)
    expect(hint).not.toMatch(/`azmi |\bazmi (group|token|role|emulator)\b/)
  })

  it("identity hints name what the caller can change: query parameters on the broker, azmi-http's environment otherwise", () => {
    const system = new IdentityNotFound({ selector: "system-assigned" })
    expect(httpHint(system, "own")).toContain("AZURE_CLIENT_ID")
    expect(httpHint(system, "brokerDefault")).toContain(
      "client_id, object_id (or principal_id) or mi_res_id query parameter",
    )
    expect(httpHint(new MultipleIdentities({}), "brokerDefault")).toContain("mi_res_id query parameter")
    expect(httpHint(new MultipleIdentities({}), "own")).toContain("AZURE_CLIENT_ID")
    expect(httpHint(new Timeout({ operation: "IMDS", millis: 10 }))).toContain("AZMI_DEADLINE_MS")
    expect(httpHint(new SubscriptionNotFound({ subscriptionId: "s" }))).toContain(
      "subscriptionId in the path",
    )
  })

  it("429 always carries Retry-After (ARM's value, at least 1)", () => {
    expect(renderError(new ArmThrottled({ retryAfterSeconds: 12 })).headers["Retry-After"]).toBe("12")
    expect(renderError(new ArmThrottled({ retryAfterSeconds: 0.2 })).headers["Retry-After"]).toBe("1")
    expect(renderError(new ImdsThrottled({ attempts: 4 })).headers["Retry-After"]).toBe("1")
  })

  it("a selected identity that does not exist is the caller's mistake", () => {
    expect(
      renderError(new IdentityNotFound({ selector: "client_id=x" }), { identity: "chosenByCaller" }).status,
    ).toBe(400)
    expect(renderError(new MultipleIdentities({}), { identity: "chosenByCaller" }).status).toBe(400)
  })

  it("an identity the host cannot give (Cloud Shell, Service Fabric) or did not confirm (Arc): 400 when the caller chose it", () => {
    for (const error of [
      new IdentitySelectionUnsupported({
        source: "Service Fabric",
        selector: "client_id=x",
        supported: "system-assigned",
      }),
      new UserAssignedIdentityNotConfirmed({ source: "Azure Arc", selector: "client_id=x" }),
    ]) {
      expect(renderError(error, { identity: "chosenByCaller" }).status).toBe(400)
      expect(renderError(error, { identity: "brokerDefault" }).status).toBe(503)
    }
  })

  it("ARM's request id is returned as a header and in the body", () => {
    const r = renderError(
      new ResourceGroupNotFound({ subscriptionId: "s", resourceGroupName: "g", requestId: "rid-1" }),
    )
    expect(r.headers["x-ms-request-id"]).toBe("rid-1")
    expect(r.body.error.requestId).toBe("rid-1")
  })
})

describe("for a server, a refusal of its own upstream calls is not the caller's 403", () => {
  it("an upstream TLS certificate azmi-http refuses is 502; the identity endpoint refusing azmi-http is 503", () => {
    const tls = new TlsCertificateRejected({ endpoint: "https://x", code: "CERT_HAS_EXPIRED", detail: "d" })
    expect(renderError(tls).status).toBe(502)
    for (const status of [401, 403]) {
      const refused = new TokenRequestFailed({
        endpoint: "http://127.0.0.1:1/msi/token",
        status,
        attempts: 1,
      })
      expect(renderError(refused).status).toBe(503)
      expect(renderError(refused, { identity: "chosenByCaller" }).status).toBe(503)
    }
    expect(renderError(new TokenAlreadyExpired({ endpoint: "e", expiresOn: 0, receivedAt: 1 })).status).toBe(
      502,
    )
  })

  it("403 is only ever ARM refusing the identity what the caller asked for", () => {
    const every: ReadonlyArray<AzmiError> = [
      ...table.map(([e]) => e),
      new TlsCertificateRejected({ endpoint: "https://x", code: "SELF_SIGNED_CERT_IN_CHAIN", detail: "d" }),
      new TokenRequestFailed({ endpoint: "x", status: 401, attempts: 1 }),
      new TokenRequestFailed({ endpoint: "x", status: 403, attempts: 1 }),
      new ClientAuthenticationFailed({ authority: "x", status: 400 }),
    ]
    const forbidden = every.filter((e) => renderError(e).status === 403)
    expect(forbidden.map((e) => (e._tag === "ArmRequestFailed" ? `ARM ${e.status}` : e._tag))).toEqual([
      "AuthorizationFailed",
      "ARM 403",
    ])
  })
})
