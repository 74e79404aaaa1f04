/**
 * A federated token (the Kubernetes projected service-account token in `AZURE_FEDERATED_TOKEN_FILE`) as
 * azmi holds it: the JWT itself, `Redacted` (it is a credential: whoever holds it gets the workload's
 * tokens), and the claims azmi reads — without verifying them; Entra does that — to know when it expires
 * and to explain refusals: `iss`, `sub`, `aud`, `exp`, `nbf`.
 * @internal
 */
import { Either, ParseResult, Redacted, Schema } from "effect"
import { payloadOf, segmentOf } from "./jwt.js"

export interface FederatedAssertion {
  readonly token: Redacted.Redacted<string>
  readonly issuer: string
  readonly subject: string
  readonly audiences: ReadonlyArray<string>
  /** `exp`, epoch ms. */
  readonly expiresOn: number
  /** `nbf`, epoch ms, when present. */
  readonly notBefore: number | undefined
}

/** The largest file read as a token: service-account tokens are 1–2 KB. */
export const MAX_ASSERTION_BYTES = 64 * 1024

const Claims = Schema.Struct({
  iss: Schema.String.pipe(Schema.minLength(1)),
  sub: Schema.String.pipe(Schema.minLength(1)),
  aud: Schema.Union(Schema.String, Schema.Array(Schema.String)),
  exp: Schema.Number.pipe(Schema.finite()),
  nbf: Schema.optional(Schema.Number.pipe(Schema.finite())),
})

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/**
 * The assertion in a file's text (surrounding whitespace trimmed, as @azure/identity does), or what is
 * wrong with it — a description that never repeats the content.
 *
 * @example
 * ```ts
 * parseAssertion(text) // Right({ issuer, subject, audiences, expiresOn, … }) or Left("the exp claim is missing or not a number")
 * ```
 */
export const parseAssertion = (text: string): Either.Either<FederatedAssertion, string> => {
  const jwt = text.trim()
  if (!COMPACT_JWS.test(jwt))
    return Either.left("it is not a signed JWT (three base64url parts: header.payload.signature)")
  if (segmentOf(jwt.slice(0, jwt.indexOf("."))) === undefined)
    return Either.left("its header is not a JSON object")
  const payload = payloadOf(jwt)
  if (payload === undefined) return Either.left("its payload is not a JSON object")
  const claims = Schema.decodeUnknownEither(Claims)(payload, { errors: "first" })
  if (Either.isLeft(claims)) {
    const [issue] = ParseResult.ArrayFormatter.formatErrorSync(claims.left)
    const claim = issue?.path[0]
    return Either.left(
      claim === undefined
        ? "its claims are invalid"
        : `the ${String(claim)} claim is ${issue?._tag === "Missing" ? "missing" : "invalid"}`,
    )
  }
  const c = claims.right
  return Either.right({
    token: Redacted.make(jwt),
    issuer: c.iss,
    subject: c.sub,
    audiences: typeof c.aud === "string" ? [c.aud] : c.aud,
    expiresOn: c.exp * 1000,
    notBefore: c.nbf === undefined ? undefined : c.nbf * 1000,
  })
}
