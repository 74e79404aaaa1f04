/**
 * Decoding of token responses from IMDS, App Service and Entra ID (`/oauth2/v2.0/token`) with
 * `Schema`, and of their error bodies.
 *
 * `expires_on` comes as a number, a numeric string (epoch seconds), an ISO-8601 date or App Service's
 * `MM/DD/YYYY hh:mm:ss [AM|PM] +00:00`; without it, `expires_in` (seconds from now) is used. A body
 * without a usable `access_token` or expiry is an error naming the field, never a crash; no decoding
 * message ever repeats a value from the body (it may hold a token).
 * @module
 */
import { Either, ParseResult, Redacted, Schema } from "effect"
import type { AccessToken } from "./AccessToken.js"
import { MalformedTokenResponse, TokenAlreadyExpired } from "./Errors.js"

const NumberOrString = Schema.Union(Schema.Number, Schema.String)

/** The fields azmi reads from a token response (all sources send strings; Entra sends numbers). */
export const TokenResponseBody = Schema.Struct({
  access_token: Schema.String.pipe(Schema.minLength(1)),
  expires_on: Schema.optional(NumberOrString),
  expires_in: Schema.optional(NumberOrString),
  token_type: Schema.optional(Schema.String),
  resource: Schema.optional(Schema.String),
  client_id: Schema.optional(Schema.String),
  not_before: Schema.optional(NumberOrString),
})
export type TokenResponseBody = typeof TokenResponseBody.Type

/** Why a body could not be decoded: the field (when one is to blame) and a value-free description. */
export interface DecodeFailure {
  readonly field?: string | undefined
  readonly detail: string
  /** Set when the token is well formed but already expired: its expiry, epoch ms. */
  readonly expiredAt?: number | undefined
}

/**
 * A token must still be valid this long after it arrives, else it is refused as expired: it would fail
 * wherever it is used, and a clock that far off is worth saying so at once.
 */
export const MIN_REMAINING_LIFETIME_MS = 30_000

const TWO_HOURS = 2 * 60 * 60 * 1000
const FIVE_MINUTES = 5 * 60 * 1000

/**
 * When a cache should start refreshing a token: half its lifetime when that exceeds 2 h, else
 * 5 min before expiry (never before `nowMs`).
 */
export const refreshOnFor = (nowMs: number, expiresOnMs: number): number => {
  const lifetime = expiresOnMs - nowMs
  return lifetime > TWO_HOURS ? nowMs + Math.floor(lifetime / 2) : Math.max(nowMs, expiresOnMs - FIVE_MINUTES)
}

const appServiceDate =
  /^(\d{1,2})\/(\d{1,2})\/(\d{4}) (\d{1,2}):(\d{2}):(\d{2})(?:\s*(AM|PM))?(?:\s*([+-])(\d{2}):?(\d{2}))?$/i

/**
 * Parse an `expires_on` value into epoch milliseconds, or `undefined` if it is none of the known
 * formats.
 */
export const parseExpiresOn = (value: number | string): number | undefined => {
  if (typeof value === "number") return Number.isFinite(value) && value > 0 ? value * 1000 : undefined
  const v = value.trim()
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000
  const m = appServiceDate.exec(v)
  if (m !== null) {
    const [month, day, year, min, sec] = [m[1], m[2], m[3], m[5], m[6]].map(Number) as [
      number,
      number,
      number,
      number,
      number,
    ]
    let hour = Number(m[4])
    const ampm = m[7]?.toUpperCase()
    if (ampm === "PM" && hour < 12) hour += 12
    if (ampm === "AM" && hour === 12) hour = 0
    const offsetMin = m[8] === undefined ? 0 : (m[8] === "-" ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10]))
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 59) return undefined
    return Date.UTC(year, month - 1, day, hour, min, sec) - offsetMin * 60_000
  }
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(v)) {
    const at = Date.parse(v)
    return Number.isNaN(at) ? undefined : at
  }
  return undefined
}

const parseExpiresIn = (value: number | string): number | undefined => {
  const n =
    typeof value === "number" ? value : /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : Number.NaN
  return Number.isFinite(n) && n >= 0 ? n * 1000 : undefined
}

const describeIssue = (issue: ParseResult.ArrayFormatterIssue): DecodeFailure => {
  const field = issue.path.length > 0 ? String(issue.path[0]) : undefined
  if (field === undefined) return { detail: "the body is not a JSON object" }
  return { field, detail: issue._tag === "Missing" ? `${field} is missing` : `${field} has an invalid value` }
}

/**
 * Decode a parsed JSON body into an {@link AccessToken}. `requestedResource` is used when the body
 * does not echo the resource.
 *
 * @example
 * ```ts
 * import { TokenResponse } from "@azmi/core"
 * const r = TokenResponse.decode({ access_token: "x", expires_on: "1700000000" }, Date.now(), "https://management.azure.com/")
 * ```
 */
export const decode = (
  body: unknown,
  nowMs: number,
  requestedResource: string,
): Either.Either<AccessToken, DecodeFailure> => {
  const parsed = Schema.decodeUnknownEither(TokenResponseBody)(body, { errors: "first" })
  if (Either.isLeft(parsed)) {
    const issues = ParseResult.ArrayFormatter.formatErrorSync(parsed.left)
    return Either.left(issues[0] === undefined ? { detail: "invalid body" } : describeIssue(issues[0]))
  }
  const b = parsed.right
  let expiresOn: number | undefined
  if (b.expires_on !== undefined) {
    expiresOn = parseExpiresOn(b.expires_on)
    if (expiresOn === undefined && b.expires_in === undefined) {
      return Either.left({ field: "expires_on", detail: "expires_on is not a known date format" })
    }
  }
  if (expiresOn === undefined && b.expires_in !== undefined) {
    const inMs = parseExpiresIn(b.expires_in)
    if (inMs === undefined) return Either.left({ field: "expires_in", detail: "expires_in is not a number" })
    expiresOn = nowMs + inMs
  }
  if (expiresOn === undefined) {
    return Either.left({ field: "expires_on", detail: "neither expires_on nor expires_in is present" })
  }
  if (expiresOn - nowMs < MIN_REMAINING_LIFETIME_MS) {
    return Either.left({ field: "expires_on", detail: "the token is already expired", expiredAt: expiresOn })
  }
  return Either.right({
    token: Redacted.make(b.access_token),
    tokenType: b.token_type ?? "Bearer",
    resource: b.resource ?? requestedResource,
    expiresOn,
    refreshOn: refreshOnFor(nowMs, expiresOn),
    clientId: b.client_id,
    notBefore: (b.not_before === undefined ? undefined : parseExpiresOn(b.not_before)) ?? nowMs,
  })
}

/** Parse a response text as JSON and {@link decode} it. */
export const decodeText = (
  text: string,
  nowMs: number,
  requestedResource: string,
): Either.Either<AccessToken, DecodeFailure> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return Either.left({ detail: "the body is not valid JSON" })
  }
  return decode(json, nowMs, requestedResource)
}

/**
 * {@link decodeText} with its failure as the typed error every source reports: `TokenAlreadyExpired`
 * for an expired token, else `MalformedTokenResponse` naming the field.
 *
 * @example
 * ```ts
 * TokenResponse.decodeFrom("http://169.254.169.254/metadata/identity/oauth2/token", text, Date.now(), resource)
 * ```
 */
export const decodeFrom = (
  endpoint: string,
  text: string,
  nowMs: number,
  requestedResource: string,
): Either.Either<AccessToken, MalformedTokenResponse | TokenAlreadyExpired> =>
  Either.mapLeft(decodeText(text, nowMs, requestedResource), asError(endpoint, nowMs))

/** {@link decodeFrom} for a body already parsed (a source that reads more of it, like Azure Arc's echo). */
export const decodeParsedFrom = (
  endpoint: string,
  body: unknown,
  nowMs: number,
  requestedResource: string,
): Either.Either<AccessToken, MalformedTokenResponse | TokenAlreadyExpired> =>
  Either.mapLeft(decode(body, nowMs, requestedResource), asError(endpoint, nowMs))

const asError =
  (endpoint: string, nowMs: number) =>
  (f: DecodeFailure): MalformedTokenResponse | TokenAlreadyExpired =>
    f.expiredAt !== undefined
      ? new TokenAlreadyExpired({ endpoint, expiresOn: f.expiredAt, receivedAt: nowMs })
      : new MalformedTokenResponse({ endpoint, field: f.field, detail: f.detail })

/** The OAuth-style fields of an error body, from whichever shape the endpoint used. */
export interface ErrorBody {
  readonly error?: string | undefined
  readonly errorDescription?: string | undefined
}

const ErrorBodySchema = Schema.Struct({
  error: Schema.optional(
    Schema.Union(
      Schema.String,
      Schema.Struct({ code: Schema.optional(Schema.String), message: Schema.optional(Schema.String) }),
    ),
  ),
  error_description: Schema.optional(Schema.String),
  message: Schema.optional(Schema.String),
  Message: Schema.optional(Schema.String),
})

/**
 * Read `error` / `error_description` from an error body: OAuth (`{error, error_description}`), ARM
 * style (`{error: {code, message}}`) or App Service (`{statusCode, message}`). Non-JSON text becomes
 * the description (truncated).
 */
export const decodeErrorBody = (text: string): ErrorBody => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    const t = text.trim()
    return t === "" ? {} : { errorDescription: t.length > 300 ? `${t.slice(0, 300)}…` : t }
  }
  const decoded = Schema.decodeUnknownOption(ErrorBodySchema)(json)
  if (decoded._tag === "None") return {}
  const b = decoded.value
  const error = typeof b.error === "string" ? b.error : b.error?.code
  const errorDescription =
    b.error_description ??
    (typeof b.error === "object" ? b.error.message : undefined) ??
    b.message ??
    b.Message
  return { error, errorDescription }
}
