/**
 * The credentials azmi-http checks, each in one place: the API key of `/v1` routes
 * (`Authorization: Bearer <key>`) and the broker's `X-IDENTITY-HEADER`. A route declares which one it
 * needs (`Route.security`); the route table applies it to every method of the route, and the hot path
 * of cached reads asks the same {@link Guard}. Also the headers that mark a relayed request, which the
 * broker refuses.
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto"
import { Redacted } from "effect"
import type { HttpConfig } from "./config.js"
import { type ErrorBody, errorBody } from "./errors.js"

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest()

/**
 * A constant-time check of a presented secret: both sides are hashed first so the comparison takes
 * the same time whatever the length or content of the guess.
 */
export const secretMatches = (expectedDigest: Buffer, presented: string | undefined): boolean =>
  presented !== undefined && timingSafeEqual(expectedDigest, digest(presented))

/** The digest `secretMatches` compares against. */
export const secretDigest = (secret: Redacted.Redacted<string>): Buffer => digest(Redacted.value(secret))

// RFC 7235 §2.1: `credentials = auth-scheme 1*SP token68`, and the scheme is case-insensitive.
const bearer = /^bearer +([^ ]+)$/i

/**
 * The token of an `Authorization: Bearer <token>` header (scheme in any case), else `undefined`.
 *
 * @example
 * ```ts
 * bearerToken("bearer abc") // "abc"
 * bearerToken("Basic abc") // undefined
 * ```
 */
export const bearerToken = (header: string | undefined): string | undefined =>
  header === undefined ? undefined : bearer.exec(header)?.[1]

/** Which credential a route needs. */
export type Security = "apiKey" | "identityHeader"

/** A credential check: whether a request's headers carry it, and the 401 that refuses one that does not. */
export interface Guard {
  readonly accepts: (header: (name: string) => string | undefined) => boolean
  readonly refusal: { readonly body: ErrorBody; readonly headers: Readonly<Record<string, string>> }
}

/**
 * The guard of each {@link Security} that is configured: the API key when `AZMI_HTTP_API_KEY` is set
 * (without it `/v1` is open, which `loadConfig` allows on loopback only), the identity header when
 * the broker is on.
 */
export const guardsOf = (
  config: Pick<HttpConfig, "apiKey" | "identityHeader">,
): Partial<Record<Security, Guard>> => {
  const out: Partial<Record<Security, Guard>> = {}
  if (config.apiKey !== undefined) {
    const expected = secretDigest(config.apiKey)
    out.apiKey = {
      accepts: (header) => secretMatches(expected, bearerToken(header("authorization"))),
      refusal: {
        body: errorBody("Unauthorized", "Missing or wrong API key (Authorization: Bearer <key>)."),
        headers: { "WWW-Authenticate": 'Bearer realm="azmi-http"', "Cache-Control": "no-store" },
      },
    }
  }
  if (config.identityHeader !== undefined) {
    const expected = secretDigest(config.identityHeader)
    out.identityHeader = {
      accepts: (header) => secretMatches(expected, header("x-identity-header")),
      refusal: {
        body: errorBody("Unauthorized", "Missing or wrong X-IDENTITY-HEADER."),
        headers: {
          "WWW-Authenticate": 'Custom realm="azmi-http", header="X-IDENTITY-HEADER"',
          "Cache-Control": "no-store",
        },
      },
    }
  }
  return out
}

/**
 * Headers that proxies and load balancers add when they relay a request (RFC 7239 `Forwarded`,
 * RFC 9110 `Via`, and the common `X-Forwarded-*` / client-IP ones). Their presence means something
 * forwarded the request here, so the broker refuses it rather than be a hop for a token, as IMDS
 * refuses `X-Forwarded-For`.
 */
export const relayHeaders: ReadonlyArray<string> = [
  "forwarded",
  "via",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
  "x-forwarded-port",
  "x-forwarded-server",
  "x-original-forwarded-for",
  "x-real-ip",
  "x-client-ip",
  "x-cluster-client-ip",
  "true-client-ip",
  "cf-connecting-ip",
  "fastly-client-ip",
]

/** The first relay header present (as its lower-case name), or `undefined`. */
export const relayHeaderOf = (header: (name: string) => string | undefined): string | undefined =>
  relayHeaders.find((name) => header(name) !== undefined)
