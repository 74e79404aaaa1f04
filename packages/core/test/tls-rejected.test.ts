/**
 * A server certificate that fails verification is permanent: every transport (IMDS, App Service, the
 * service-principal login, ARM over either wire) fails at once with TlsCertificateRejected, naming Node's
 * code and how to trust a CA. The emulator's HTTPS endpoints, not trusted, are the real thing.
 */

import { type Emulator, startEmulator } from "@azmi/emulator"
import { HttpClient } from "@effect/platform"
import { Effect, Layer, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as AppService from "../src/AppService.js"
import * as ArmClient from "../src/ArmClient.js"
import * as ClientSecret from "../src/ClientSecret.js"
import { errorCategory, TlsCertificateRejected } from "../src/Errors.js"
import * as HttpTransport from "../src/HttpTransport.js"
import { IdentitySelector } from "../src/IdentitySelector.js"
import * as Imds from "../src/Imds.js"
import { classifyTransport } from "../src/internal/transportFailure.js"
import { imdsPolicy, type RetryPolicy } from "../src/Retry.js"
import { fakeTokens } from "./arm-fixtures.js"

let emu: Emulator

beforeAll(async () => {
  emu = await startEmulator()
})
afterAll(async () => {
  await emu?.close()
})

// Short waits, so that a transport that wrongly retries still ends quickly (and shows as several attempts).
const quick: RetryPolicy = { ...imdsPolicy, baseDelayMs: 5, maxDelayMs: 5, deadlineMs: 20_000 }
const ARM = "https://management.azure.com/"

/** The untrusting HTTP client, counting the requests it is asked to send. */
const counted = () => {
  let sent = 0
  const layer = Layer.effect(
    HttpClient.HttpClient,
    Effect.map(HttpClient.HttpClient, (c) =>
      c.pipe(
        HttpClient.tapRequest(() =>
          Effect.sync(() => {
            sent++
          }),
        ),
      ),
    ),
  ).pipe(Layer.provide(HttpTransport.layer()))
  return { layer, sent: () => sent }
}

const expectRejected = (error: unknown, endpoint: string) => {
  expect(error).toBeInstanceOf(TlsCertificateRejected)
  const e = error as TlsCertificateRejected
  expect(e.endpoint).toBe(endpoint)
  // The emulator's leaf is signed by its own CA, which Node does not trust.
  expect([
    "SELF_SIGNED_CERT_IN_CHAIN",
    "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  ]).toContain(e.code)
  expect(e.message).toContain(e.code)
  expect(e.hint).toContain("AZMI_CA_CERT_FILE")
  expect(e.hint).toContain("NODE_EXTRA_CA_CERTS")
  expect(errorCategory(e)).toBe("AuthenticationFailed")
}

/** The error of one ARM GET through `layer`. */
const armError = <E>(layer: Layer.Layer<ArmClient.ArmClient, E>) =>
  Effect.runPromise(
    Effect.flip(
      Effect.flatMap(ArmClient.ArmClient, (arm) =>
        arm.send({ method: "GET", path: ["subscriptions", emu.subscriptionId], apiVersion: "2022-12-01" }),
      ).pipe(Effect.provide(layer)),
    ),
  )

const fast = { baseDelayMs: 5, maxDelayMs: 5 }

describe("an untrusted server certificate fails at once", () => {
  it("ARM over the undici wire: one attempt", async () => {
    const tokens = fakeTokens()
    const error = await armError(
      ArmClient.layerUndici({ endpoint: emu.armUrl, retry: fast }).pipe(Layer.provide(tokens.layer)),
    )
    expectRejected(error, emu.armUrl)
    expect(tokens.calls).toHaveLength(1)
  })

  it("ARM over the platform HttpClient: one attempt", async () => {
    const http = counted()
    const error = await armError(
      ArmClient.layer({ endpoint: emu.armUrl, retry: fast }).pipe(
        Layer.provide(Layer.merge(http.layer, fakeTokens().layer)),
      ),
    )
    expectRejected(error, emu.armUrl)
    expect(http.sent()).toBe(1)
  })

  it("the service-principal login: one attempt", async () => {
    const http = counted()
    const config = {
      tenantId: emu.admin.tenantId,
      clientId: emu.admin.clientId,
      clientSecret: Redacted.make(emu.admin.clientSecret),
      authorityHost: emu.loginUrl,
    }
    const error = await Effect.runPromise(
      Effect.flip(
        Effect.flatMap(HttpClient.HttpClient, (client) =>
          ClientSecret.requestToken(client, config, ARM, quick),
        ).pipe(Effect.provide(http.layer)),
      ),
    )
    expectRejected(error, `${emu.loginUrl}/${emu.admin.tenantId}/oauth2/v2.0/token`)
    expect(http.sent()).toBe(1)
  })

  it("IMDS and App Service endpoints over https: one attempt", async () => {
    const origin = new URL(emu.armUrl).origin
    const imds = counted()
    const viaImds = await Effect.runPromise(
      Effect.flip(
        Effect.flatMap(Imds.make({ endpoint: origin, policy: quick }), (s) =>
          s.requestToken(ARM, IdentitySelector.SystemAssigned()),
        ).pipe(Effect.provide(imds.layer)),
      ),
    )
    expectRejected(viaImds, `${origin}/metadata/identity/oauth2/token`)
    expect(imds.sent()).toBe(1)

    const appService = counted()
    const viaAppService = await Effect.runPromise(
      Effect.flip(
        Effect.flatMap(
          AppService.make({ endpoint: `${origin}/msi/token`, header: Redacted.make("h"), policy: quick }),
          (s) => s.requestToken(ARM, IdentitySelector.SystemAssigned()),
        ).pipe(Effect.provide(appService.layer)),
      ),
    )
    expectRejected(viaAppService, `${origin}/msi/token`)
    expect(appService.sent()).toBe(1)
  })
})

describe("certificate problems are told apart", () => {
  const tlsError = (code: string, message: string) =>
    Object.assign(new TypeError("fetch failed"), { cause: Object.assign(new Error(message), { code }) })

  it("finds Node's code anywhere in the cause chain; resets and refusals are not certificate problems", () => {
    expect(classifyTransport(tlsError("CERT_HAS_EXPIRED", "certificate has expired"))).toEqual({
      _tag: "Certificate",
      code: "CERT_HAS_EXPIRED",
      detail: "certificate has expired",
    })
    expect(classifyTransport(tlsError("ECONNRESET", "socket hang up"))._tag).toBe("Retryable")
    expect(classifyTransport(tlsError("ECONNREFUSED", "connect ECONNREFUSED"))._tag).toBe("Unavailable")
  })

  it("the hint says what helps for each problem", () => {
    const hint = (code: string) =>
      new TlsCertificateRejected({ endpoint: "https://h", code, detail: "d" }).hint
    expect(hint("CERT_HAS_EXPIRED")).toMatch(/clock/)
    expect(hint("CERT_HAS_EXPIRED")).not.toMatch(/AZMI_CA_CERT_FILE=/)
    expect(hint("ERR_TLS_CERT_ALTNAME_INVALID")).toMatch(/host name/)
    expect(hint("UNABLE_TO_VERIFY_LEAF_SIGNATURE")).toMatch(/AZMI_CA_CERT_FILE=.*NODE_EXTRA_CA_CERTS=/)
  })
})
