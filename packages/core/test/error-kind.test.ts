/**
 * One classification for every shell: `errorKind` says what went wrong and whose fault it is; the
 * coarse `errorCategory` (the CLI's exit codes, the SDK credential's error name) is derived from it.
 */
import { describe, expect, it } from "vitest"
import {
  ArmRequestFailed,
  ArmThrottled,
  ArmUnreachable,
  AuthorizationFailed,
  type AzmiError,
  ClientAuthenticationFailed,
  categoryOfKind,
  type ErrorKind,
  errorCategory,
  errorKind,
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
  TlsCertificateRejected,
  TokenAlreadyExpired,
  TokenRequestFailed,
} from "../src/Errors.js"

const arm = (status: number) => new ArmRequestFailed({ status, code: "C", armMessage: "m", attempts: 1 })
const tokenRequest = (status: number) => new TokenRequestFailed({ endpoint: "e", status, attempts: 1 })

const kinds: ReadonlyArray<readonly [AzmiError, ErrorKind]> = [
  [new InvalidInput({ field: "f", rule: "r" }), "InvalidInput"],
  [new InvalidResource({ resource: "r" }), "InvalidInput"],
  [new InvalidConfiguration({ variable: "V", reason: "r" }), "InvalidConfiguration"],
  [new ImdsUnavailable({ endpoint: "e", reason: "ConnectionRefused" }), "NoIdentityEndpoint"],
  [new IdentityNotFound({ selector: "system-assigned" }), "IdentityUnavailable"],
  [new MultipleIdentities({}), "IdentityUnavailable"],
  [new ClientAuthenticationFailed({ authority: "a", status: 401 }), "CredentialRejected"],
  [tokenRequest(401), "CredentialRejected"],
  [tokenRequest(403), "CredentialRejected"],
  [new AuthorizationFailed({ action: "a", scope: "s", armMessage: "m" }), "AccessDenied"],
  [arm(403), "AccessDenied"],
  [new InvalidAuthenticationToken({ reason: "Expired", code: "c", armMessage: "m" }), "TokenRejected"],
  [arm(401), "TokenRejected"],
  [
    new TlsCertificateRejected({ endpoint: "e", code: "CERT_HAS_EXPIRED", detail: "d" }),
    "UntrustedCertificate",
  ],
  [new ResourceGroupNotFound({ subscriptionId: "s", resourceGroupName: "g" }), "NotFound"],
  [new SubscriptionNotFound({ subscriptionId: "s" }), "NotFound"],
  [new RoleNotFound({ role: "r", scope: "s" }), "NotFound"],
  [arm(404), "NotFound"],
  [new ImdsThrottled({ attempts: 1 }), "Throttled"],
  [new ArmThrottled({}), "Throttled"],
  [new Timeout({ operation: "o", millis: 1 }), "TimedOut"],
  [arm(504), "TimedOut"],
  [arm(503), "UpstreamUnavailable"],
  [tokenRequest(500), "UpstreamFailed"],
  [tokenRequest(503), "UpstreamFailed"],
  [new MalformedTokenResponse({ endpoint: "e", detail: "d" }), "UpstreamFailed"],
  [new TokenAlreadyExpired({ endpoint: "e", expiresOn: 0, receivedAt: 1 }), "UpstreamFailed"],
  [new ArmUnreachable({ endpoint: "e", detail: "d", attempts: 1 }), "UpstreamFailed"],
  [arm(408), "UpstreamFailed"],
  [arm(500), "UpstreamFailed"],
  [arm(200), "UpstreamFailed"],
  [arm(400), "InvalidInput"],
  [arm(409), "InvalidInput"],
]

describe("errorKind", () => {
  it.each(kinds.map(([e, k]) => [e._tag === "ArmRequestFailed" ? `ARM ${e.status}` : e._tag, k, e] as const))(
    "%s is %s",
    (_name, kind, error) => {
      expect(errorKind(error)).toBe(kind)
      expect(errorCategory(error)).toBe(categoryOfKind[kind])
    },
  )

  it("covers every azmi error and every kind", () => {
    expect(new Set(kinds.map(([e]) => e._tag)).size).toBe(21)
    expect(new Set(kinds.map(([, k]) => k))).toEqual(new Set(Object.keys(categoryOfKind)))
  })
})
