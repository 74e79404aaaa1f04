import { describe, expect, it } from "@effect/vitest"
import { Either, Redacted } from "effect"
import * as TokenResponse from "../src/TokenResponse.js"

const NOW = Date.UTC(2026, 0, 1, 0, 0, 0)
const R = "https://management.azure.com/"
const decode = (body: unknown) => TokenResponse.decode(body, NOW, R)
const expiresOn = (body: unknown) => {
  const r = decode(body)
  return Either.isRight(r) ? r.right.expiresOn : r.left
}

describe("TokenResponse.decode: every expires_on format", () => {
  const at = NOW + 3_600_000
  const base = { access_token: "tok" }
  it("number of epoch seconds", () => expect(expiresOn({ ...base, expires_on: at / 1000 })).toBe(at))
  it("numeric string (IMDS)", () => expect(expiresOn({ ...base, expires_on: String(at / 1000) })).toBe(at))
  it("ISO-8601", () => expect(expiresOn({ ...base, expires_on: new Date(at).toISOString() })).toBe(at))
  it("ISO-8601 with offset", () =>
    expect(expiresOn({ ...base, expires_on: "2026-01-01T02:00:00+01:00" })).toBe(at))
  it("App Service date, 24 h clock", () =>
    expect(expiresOn({ ...base, expires_on: "01/01/2026 01:00:00 +00:00" })).toBe(at))
  it("App Service date with AM/PM", () => {
    expect(expiresOn({ ...base, expires_on: "1/1/2026 1:00:00 AM +00:00" })).toBe(at)
    expect(expiresOn({ ...base, expires_on: "1/1/2026 1:00:00 PM +00:00" })).toBe(at + 12 * 3_600_000)
    expect(expiresOn({ ...base, expires_on: "1/1/2026 12:30:00 AM +00:00" })).toBe(NOW + 30 * 60_000)
  })
  it("App Service date with a non-zero offset", () =>
    expect(expiresOn({ ...base, expires_on: "01/01/2026 03:00:00 +02:00" })).toBe(at))
  it("falls back to expires_in (string or number)", () => {
    expect(expiresOn({ ...base, expires_in: "3600" })).toBe(at)
    expect(expiresOn({ ...base, expires_in: 3600 })).toBe(at)
  })
  it("an unparseable expires_on falls back to expires_in, else names the field", () => {
    expect(expiresOn({ ...base, expires_on: "soon", expires_in: 3600 })).toBe(at)
    expect(expiresOn({ ...base, expires_on: "soon" })).toMatchObject({ field: "expires_on" })
    expect(expiresOn({ ...base, expires_on: "13/45/2026 99:00:00 +00:00" })).toMatchObject({
      field: "expires_on",
    })
  })
  it("neither expires_on nor expires_in names expires_on", () =>
    expect(expiresOn(base)).toMatchObject({ field: "expires_on" }))
})

describe("TokenResponse.decode: the rest", () => {
  it("keeps the token Redacted and echoes resource, type and client id", () => {
    const r = decode({
      access_token: "secret-tok",
      expires_in: 60,
      token_type: "Bearer",
      client_id: "c",
      resource: R,
    })
    expect(Either.isRight(r)).toBe(true)
    if (Either.isRight(r)) {
      expect(Redacted.value(r.right.token)).toBe("secret-tok")
      expect(JSON.stringify(r.right)).not.toContain("secret-tok")
      expect(r.right).toMatchObject({ tokenType: "Bearer", clientId: "c", resource: R })
    }
  })
  it("missing or empty access_token names the field without echoing values", () => {
    expect(decode({ expires_in: 60 })).toMatchObject({ left: { field: "access_token" } })
    expect(decode({ access_token: "", expires_in: 60 })).toMatchObject({ left: { field: "access_token" } })
    const bad = decode({ access_token: 42, expires_on: "secret-ish" })
    expect(JSON.stringify(bad)).not.toContain("secret-ish")
  })
  it("not JSON, or not an object", () => {
    expect(TokenResponse.decodeText('{"access_token": "ey', NOW, R)).toMatchObject({
      left: { detail: "the body is not valid JSON" },
    })
    expect(TokenResponse.decodeText("[]", NOW, R)._tag).toBe("Left")
    expect(TokenResponse.decodeText("null", NOW, R)._tag).toBe("Left")
  })
  it("refresh_on: half the lifetime above 2 h, else 5 min before expiry", () => {
    expect(TokenResponse.refreshOnFor(0, 24 * 3_600_000)).toBe(12 * 3_600_000)
    expect(TokenResponse.refreshOnFor(0, 3_600_000)).toBe(3_600_000 - 300_000)
    expect(TokenResponse.refreshOnFor(1000, 1000 + 60_000)).toBe(1000)
  })
  it("reads error bodies in OAuth, ARM and App Service shapes", () => {
    expect(
      TokenResponse.decodeErrorBody('{"error":"invalid_request","error_description":"Identity not found"}'),
    ).toEqual({
      error: "invalid_request",
      errorDescription: "Identity not found",
    })
    expect(TokenResponse.decodeErrorBody('{"error":{"code":"Bad","message":"m"}}')).toEqual({
      error: "Bad",
      errorDescription: "m",
    })
    expect(TokenResponse.decodeErrorBody('{"statusCode":400,"message":"no"}')).toEqual({
      error: undefined,
      errorDescription: "no",
    })
    expect(TokenResponse.decodeErrorBody("<html>proxy</html>")).toEqual({
      errorDescription: "<html>proxy</html>",
    })
    expect(TokenResponse.decodeErrorBody("")).toEqual({})
  })
})
