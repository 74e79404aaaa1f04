// How azmi-http's IMDS front end answers a failure to get a token: the status every route gives the
// failure's kind (`statusOfKind`), except a timeout, which IMDS clients see as IMDS's own 503.
import { describe, expect, it } from "vitest"
import {
  ImdsUnavailable,
  InvalidConfiguration,
  MalformedTokenResponse,
  Timeout,
  TlsCertificateRejected,
  TokenAlreadyExpired,
  type TokenError,
} from "../src/Errors.js"
import { tokenErrorAnswer } from "../src/ImdsProtocol.js"

const answers: ReadonlyArray<[TokenError, number, string]> = [
  [
    new ImdsUnavailable({ endpoint: "http://169.254.169.254", reason: "ConnectionRefused" }),
    503,
    "service_unavailable",
  ],
  [
    new InvalidConfiguration({ variable: "AZMI_IMDS_ENDPOINT", reason: "not a URL" }),
    503,
    "service_unavailable",
  ],
  [new MalformedTokenResponse({ endpoint: "e", detail: "d" }), 502, "server_error"],
  [new TokenAlreadyExpired({ endpoint: "e", expiresOn: 0, receivedAt: 1 }), 502, "server_error"],
  [new TlsCertificateRejected({ endpoint: "e", code: "CERT_HAS_EXPIRED", detail: "d" }), 502, "server_error"],
  // statusOfKind says 504 for a timeout; IMDS answers "nothing answered in time" with 503.
  [new Timeout({ operation: "token request", millis: 1000 }), 503, "service_unavailable"],
]

describe("ImdsProtocol.tokenErrorAnswer", () => {
  it.each(answers.map(([error, status, code]) => [error._tag, status, code, error] as const))(
    "%s: %i %s, described by the error's message",
    (_, status, code, error) => {
      for (const chosenByCaller of [false, true])
        expect(tokenErrorAnswer(error, chosenByCaller)).toEqual({
          status,
          body: { error: code, error_description: error.message },
        })
    },
  )
})
