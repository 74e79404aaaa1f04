import * as Core from "@azmi/core"
import { errorCategory } from "@azmi/core"
import type { Effect, Layer } from "effect"
import { describe, expect, expectTypeOf, it } from "vitest"
import { TokenNotDecodable } from "../src/actions/token.js"
import type { CliDeps, CommandEffect } from "../src/context.js"
import { ExitCode, exitCodeFor } from "../src/exitCodes.js"
import { type CliError, exitCodeOf } from "../src/failure.js"
import { InvalidQuery } from "../src/render/query.js"
import { UsageError } from "../src/usage.js"

const ids = { requestId: "r" }

describe("exitCodeFor(errorCategory(…))", () => {
  it("maps every error the core can produce to the documented code", () => {
    const cases: Array<[Core.AzmiError, number]> = [
      [new Core.InvalidInput({ field: "subscriptionId", rule: "must be a GUID" }), 2],
      [new Core.InvalidConfiguration({ variable: "AZMI_IMDS_ENDPOINT", reason: "x" }), 2],
      [new Core.InvalidResource({ resource: "x" }), 2],
      [new Core.ImdsUnavailable({ endpoint: "e", reason: "ConnectTimeout" }), 3],
      [new Core.IdentityNotFound({ selector: "system-assigned" }), 3],
      [new Core.MultipleIdentities({}), 3],
      [new Core.ClientAuthenticationFailed({ authority: "a", status: 401 }), 4],
      // Workload identity: no usable token file is "no credential here"; Entra refusing it, a failed sign-in.
      [new Core.FederatedTokenFileUnreadable({ path: "/f", reason: "Missing" }), 3],
      [new Core.FederatedTokenMalformed({ path: "/f", problem: "p", refusedBy: "azmi" }), 4],
      [new Core.FederatedTokenExpired({ path: "/f", expiresOn: 1, checkedAt: 2, refusedBy: "azmi" }), 4],
      [
        new Core.FederatedCredentialNotFound({
          tenantId: "t",
          clientId: "c",
          issuer: "i",
          subject: "s",
          audience: "a",
        }),
        4,
      ],
      [new Core.FederatedTokenSignatureInvalid({ path: "/f", issuer: "i" }), 4],
      [new Core.FederatedIssuerUnreachable({ issuer: "i" }), 4],
      [
        new Core.ApplicationNotFound({
          authority: "a",
          tenantId: "t",
          clientId: "c",
          credential: "client-secret",
        }),
        4,
      ],
      [new Core.AuthorizationFailed({ action: "a", scope: "s", armMessage: "m" }), 4],
      [new Core.InvalidAuthenticationToken({ reason: "Expired", code: "c", armMessage: "m" }), 4],
      [new Core.TlsCertificateRejected({ endpoint: "e", code: "SELF_SIGNED_CERT_IN_CHAIN", detail: "d" }), 4],
      [new Core.ResourceGroupNotFound({ subscriptionId: "s", resourceGroupName: "g", ...ids }), 5],
      [new Core.SubscriptionNotFound({ subscriptionId: "s" }), 5],
      [new Core.RoleNotFound({ role: "r", scope: "s" }), 5],
      [new Core.ImdsThrottled({ attempts: 3 }), 6],
      [new Core.ArmThrottled({}), 6],
      [new Core.TokenRequestFailed({ endpoint: "e", status: 500, attempts: 4 }), 6],
      [new Core.TokenRequestFailed({ endpoint: "e", status: 401, attempts: 1 }), 4],
      [new Core.MalformedTokenResponse({ endpoint: "e", detail: "d" }), 6],
      [new Core.TokenAlreadyExpired({ endpoint: "e", expiresOn: 0, receivedAt: 1 }), 6],
      [new Core.Timeout({ operation: "o", millis: 1 }), 6],
      [new Core.ArmUnreachable({ endpoint: "e", detail: "d", attempts: 1 }), 6],
      [new Core.ArmRequestFailed({ status: 404, code: "c", armMessage: "m", attempts: 1 }), 5],
      [new Core.ArmRequestFailed({ status: 403, code: "c", armMessage: "m", attempts: 1 }), 4],
      [new Core.ArmRequestFailed({ status: 409, code: "c", armMessage: "m", attempts: 1 }), 2],
      [new Core.ArmRequestFailed({ status: 503, code: "c", armMessage: "m", attempts: 1 }), 6],
    ]
    for (const [error, code] of cases)
      expect([error._tag, exitCodeFor(errorCategory(error))]).toEqual([error._tag, code])
    expect(new Set(cases.map(([e]) => e._tag)).size).toBe(28)
  })

  it("uses each documented code", () => {
    expect(Object.values(ExitCode)).toEqual([0, 1, 2, 3, 4, 5, 6])
  })
})

describe("exitCodeOf: a command's failure, typed, to its exit code", () => {
  it("a usage error of any kind is 2; the core's errors keep their category's code", () => {
    for (const usage of [new UsageError("x"), new TokenNotDecodable("r"), new InvalidQuery("q")])
      expect([usage.name, exitCodeOf(usage)]).toEqual([usage.name, ExitCode.Usage])
    const denied = new Core.AuthorizationFailed({ action: "a", scope: "s", armMessage: "m" })
    expect(exitCodeOf(denied)).toBe(exitCodeFor(errorCategory(denied)))
  })

  it("commands fail with the core's errors or a usage error, never anything else; building the services only with InvalidConfiguration", () => {
    expectTypeOf<Effect.Effect.Error<CommandEffect<number>>>().toMatchTypeOf<
      CliError | { _tag: "PartialFailure" }
    >()
    // A plain Error (or `unknown`) in a command's error channel does not compile: no untyped failure
    // can reach the runner, so each one has its exit code from the exhaustive table.
    expectTypeOf<Effect.Effect<number, Error>>().not.toMatchTypeOf<CommandEffect<number>>()
    expectTypeOf<Effect.Effect<number, unknown>>().not.toMatchTypeOf<CommandEffect<number>>()
    type Built = Layer.Layer.Error<Awaited<ReturnType<CliDeps["makeLayer"]>>>
    expectTypeOf<Built>().toEqualTypeOf<Core.InvalidConfiguration>()
  })
})
