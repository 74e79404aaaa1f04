/**
 * The token broker: Azure App Service's managed-identity protocol (api-version 2019-08-01), so any
 * Azure SDK in a neighbour process works unchanged with `IDENTITY_ENDPOINT=http://127.0.0.1:PORT/msi/token`
 * and `IDENTITY_HEADER=<secret>`. Tokens come from the core's single-flight cache.
 * @module
 */
import { IdentitySelector, InvalidInput, selectorProblem } from "@azmi/core"
import { Effect, Either, Redacted, Schema } from "effect"
import { ErrorBody } from "../errors.js"
import { TokenBroker } from "../services/TokenBroker.js"
import { defineRoute, respondError, runRoute } from "./route.js"

const Id = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(1024))

/**
 * The parameters that name a user-assigned identity, as App Service documents them, and the selector
 * each becomes. `principal_id` is App Service's older name for the object id.
 */
const selectorParams = {
  client_id: (id: string) => IdentitySelector.ClientId({ clientId: id }),
  principal_id: (id: string) => IdentitySelector.ObjectId({ objectId: id }),
  object_id: (id: string) => IdentitySelector.ObjectId({ objectId: id }),
  mi_res_id: (id: string) => IdentitySelector.ResourceId({ resourceId: id }),
} as const

type SelectorParam = keyof typeof selectorParams
const selectorNames = Object.keys(selectorParams) as ReadonlyArray<SelectorParam>

/**
 * Query of `/msi/token`, as App Service defines it. Any other parameter is refused (400), so a
 * selector spelt another way (`msi_res_id`, `clientid`) never silently yields the default identity.
 */
export const TokenQuery = Schema.Struct({
  resource: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(2048)).annotations({
    description: "The resource (App ID URI) the token is for, e.g. https://management.azure.com/",
  }),
  "api-version": Schema.Literal("2019-08-01"),
  client_id: Schema.optional(Id.annotations({ description: "User-assigned identity by client id" })),
  principal_id: Schema.optional(
    Id.annotations({ description: "User-assigned identity by object (principal) id; same as object_id" }),
  ),
  object_id: Schema.optional(Id.annotations({ description: "User-assigned identity by object id" })),
  mi_res_id: Schema.optional(Id.annotations({ description: "User-assigned identity by ARM resource id" })),
  xms_cc: Schema.optional(
    Schema.String.annotations({ description: "Client capabilities (MSAL sends them); accepted and ignored" }),
  ),
})

/** App Service's token response. `expires_on` is epoch seconds as a string. */
export const AppServiceToken = Schema.Struct({
  access_token: Schema.String,
  expires_on: Schema.String,
  resource: Schema.String,
  token_type: Schema.String,
  client_id: Schema.String,
}).annotations({ identifier: "AppServiceToken" })

/**
 * The identity a query names: none (the process's own), or exactly one user-assigned identity whose id
 * passes the core's rule. Errors name the query parameter the caller used.
 */
export const selectorOf = (
  query: { readonly [K in SelectorParam]?: string | undefined },
): Either.Either<IdentitySelector | undefined, InvalidInput> => {
  const given = selectorNames.filter((name) => query[name] !== undefined)
  const [name, ...others] = given
  if (name === undefined) return Either.right(undefined)
  if (others.length > 0)
    return Either.left(
      new InvalidInput({
        field: name,
        rule: `name one identity at most: ${selectorNames.join(", ")} are mutually exclusive (got ${given.join(" and ")})`,
      }),
    )
  const selector = selectorParams[name](query[name] as string)
  const problem = selectorProblem(selector)
  return problem === undefined
    ? Either.right(selector)
    : Either.left(new InvalidInput({ field: name, rule: problem.rule, value: problem.value }))
}

/** `GET /msi/token` (only when `AZMI_IDENTITY_HEADER` is set). */
export const getToken = defineRoute({
  method: "GET",
  path: "/msi/token",
  operationId: "getToken",
  summary: "A managed-identity token, App Service 2019-08-01 protocol (header X-IDENTITY-HEADER)",
  tag: "tokenBroker",
  query: TokenQuery,
  security: "identityHeader",
  refuseRelayed: true,
  responses: {
    200: { description: "The token", schema: AppServiceToken, headers: { "Cache-Control": "no-store" } },
    400: {
      description:
        "Invalid input: a missing or unknown parameter, more than one identity, or a relayed request (Forwarded, Via, X-Forwarded-For, X-Real-IP, …)",
      schema: ErrorBody,
    },
    429: { description: "IMDS throttled; see Retry-After", schema: ErrorBody },
    502: { description: "IMDS failed, or its TLS certificate was refused", schema: ErrorBody },
    503: {
      description: "No managed identity available, or the identity endpoint refused azmi-http's credential",
      schema: ErrorBody,
    },
    504: { description: "IMDS timeout", schema: ErrorBody },
  },
  handler:
    (deps) =>
    (c, { query }) => {
      c.header("Cache-Control", "no-store")
      const selector = selectorOf(query)
      if (Either.isLeft(selector)) return respondError(c, selector.left)
      return runRoute(
        c,
        deps,
        Effect.flatMap(TokenBroker, (broker) => broker.getToken(query.resource, selector.right)),
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
        { identity: selector.right === undefined ? "brokerDefault" : "chosenByCaller" },
      )
    },
})

/** The routes of this module. */
export const tokenBrokerRoutes = [getToken]
