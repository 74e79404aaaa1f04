/**
 * The token broker: Azure App Service's managed-identity protocol (api-version 2019-08-01), so any
 * Azure SDK in a neighbour process works unchanged with `IDENTITY_ENDPOINT=http://127.0.0.1:PORT/msi/token`
 * and `IDENTITY_HEADER=<secret>`. Tokens come from the core's single-flight cache.
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto"
import { IdentitySelector, InvalidInput } from "@azmi/core"
import { Effect, Either, Redacted, Schema } from "effect"
import { Hono } from "hono"
import { ErrorBody, errorBody } from "../errors.js"
import { TokenBroker } from "../services/TokenBroker.js"
import {
  type AppEnv,
  decodeInput,
  type RouteDeps,
  type RouteSpec,
  requestHeader,
  respondError,
  runRoute,
  singleQuery,
} from "./route.js"

const Id = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(1024))

/** Query of `/msi/token`, as App Service defines it. */
export const TokenQuery = Schema.Struct({
  resource: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(2048)).annotations({
    description: "The resource (App ID URI) the token is for, e.g. https://management.azure.com/",
  }),
  "api-version": Schema.Literal("2019-08-01"),
  client_id: Schema.optional(Id.annotations({ description: "User-assigned identity by client id" })),
  mi_res_id: Schema.optional(Id.annotations({ description: "User-assigned identity by ARM resource id" })),
  object_id: Schema.optional(Id.annotations({ description: "User-assigned identity by object id" })),
})

/** App Service's token response. `expires_on` is epoch seconds as a string. */
export const AppServiceToken = Schema.Struct({
  access_token: Schema.String,
  expires_on: Schema.String,
  resource: Schema.String,
  token_type: Schema.String,
  client_id: Schema.String,
}).annotations({ identifier: "AppServiceToken" })

/** The routes this module serves (only when `AZMI_IDENTITY_HEADER` is set). */
export const tokenBrokerSpecs: ReadonlyArray<RouteSpec> = [
  {
    method: "get",
    path: "/msi/token",
    operationId: "getToken",
    summary: "A managed-identity token, App Service 2019-08-01 protocol (header X-IDENTITY-HEADER)",
    tag: "tokenBroker",
    query: TokenQuery,
    security: "identityHeader",
    responses: {
      200: { description: "The token", schema: AppServiceToken, headers: { "Cache-Control": "no-store" } },
      400: { description: "Invalid input, or X-Forwarded-For present", schema: ErrorBody },
      401: { description: "Missing or wrong X-IDENTITY-HEADER", schema: ErrorBody },
      429: { description: "IMDS throttled; see Retry-After", schema: ErrorBody },
      502: { description: "IMDS failed", schema: ErrorBody },
      503: { description: "No managed identity available", schema: ErrorBody },
      504: { description: "IMDS timeout", schema: ErrorBody },
    },
  },
]

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest()

/**
 * A constant-time check of a presented secret: both sides are hashed first so the comparison takes
 * the same time whatever the length or content of the guess.
 */
export const secretMatches = (expectedDigest: Buffer, presented: string | undefined): boolean =>
  presented !== undefined && timingSafeEqual(expectedDigest, digest(presented))

/** The digest `secretMatches` compares against. */
export const secretDigest = (secret: Redacted.Redacted<string>): Buffer => digest(Redacted.value(secret))

const selectorOf = (
  query: typeof TokenQuery.Type,
): Either.Either<IdentitySelector | undefined, InvalidInput> => {
  const given = [
    query.client_id === undefined ? [] : [IdentitySelector.ClientId({ clientId: query.client_id })],
    query.mi_res_id === undefined ? [] : [IdentitySelector.ResourceId({ resourceId: query.mi_res_id })],
    query.object_id === undefined ? [] : [IdentitySelector.ObjectId({ objectId: query.object_id })],
  ].flat()
  return given.length > 1
    ? Either.left(
        new InvalidInput({
          field: "client_id",
          rule: "client_id, mi_res_id and object_id are mutually exclusive",
        }),
      )
    : Either.right(given[0])
}

/**
 * The broker router, mounted at `/msi` when `identityHeader` is configured.
 *
 * @example
 * ```ts
 * if (config.identityHeader) app.route("/msi", tokenBrokerRouter({ runtime, config }, config.identityHeader))
 * ```
 */
export const tokenBrokerRouter = (
  deps: RouteDeps,
  identityHeader: Redacted.Redacted<string>,
): Hono<AppEnv> => {
  const expected = secretDigest(identityHeader)
  return new Hono<AppEnv>().get("/token", (c) => {
    c.header("Cache-Control", "no-store")
    // A forwarded request means something relayed it here: refuse to be an SSRF hop, as IMDS does.
    if (requestHeader(c, "x-forwarded-for") !== undefined)
      return c.json(
        errorBody("ForwardedRequestRejected", "Requests carrying X-Forwarded-For are refused."),
        400,
      )
    if (!secretMatches(expected, requestHeader(c, "x-identity-header"))) {
      c.header("WWW-Authenticate", 'Custom realm="azmi-http", header="X-IDENTITY-HEADER"')
      return c.json(errorBody("Unauthorized", "Missing or wrong X-IDENTITY-HEADER."), 401)
    }
    const raw = singleQuery(c)
    if (Either.isLeft(raw)) return respondError(c, raw.left)
    const query = decodeInput(TokenQuery, raw.right, "query")
    if (Either.isLeft(query)) return respondError(c, query.left)
    const selector = selectorOf(query.right)
    if (Either.isLeft(selector)) return respondError(c, selector.left)
    return runRoute(
      c,
      deps,
      Effect.flatMap(TokenBroker, (broker) => broker.getToken(query.right.resource, selector.right)),
      (token) =>
        c.json(
          {
            access_token: Redacted.value(token.token),
            expires_on: String(Math.floor(token.expiresOn / 1000)),
            resource: token.resource,
            token_type: token.tokenType,
            client_id: token.clientId ?? "",
          } satisfies typeof AppServiceToken.Type,
          200,
        ),
      { callerChoseIdentity: selector.right !== undefined },
    )
  })
}
