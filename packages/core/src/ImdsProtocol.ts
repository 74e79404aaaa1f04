/**
 * IMDS's own protocol as IMDS answers it, for a server that stands in for IMDS (azmi-http's IMDS
 * front end): which requests it refuses and with what body, the token response (every field a
 * string), how an upstream failure reads to an IMDS client, and instance metadata's sub-paths and
 * `format=text`. Pure functions: the HTTP shell hands over what it read and writes what comes back.
 *
 * The rules and texts are Azure's (see `docs/protocol.md`): `Metadata: true` in lower case, no
 * `X-Forwarded-For`, no repeated query parameter, a known `api-version` (2018-02-01 or later for
 * identity), a `resource`, at most one of `client_id` / `object_id` / `msi_res_id`. Upstream failures
 * keep IMDS's status and error: a `400 Identity not found` stays a 400.
 *
 * @example
 * ```ts
 * import { Either } from "effect"
 * import { ImdsProtocol } from "@azmi/core"
 * const parsed = ImdsProtocol.parseTokenRequest({ metadata: "true", query: [["api-version", "2018-02-01"], ["resource", "https://management.azure.com/"]] })
 * if (Either.isLeft(parsed)) console.log(parsed.left.status, parsed.left.body)
 * ```
 * @module
 */
import { Either, Redacted } from "effect"
import type { AccessToken } from "./AccessToken.js"
import { errorKind, statusOfKind, type TokenError } from "./Errors.js"
import { IdentitySelector, selectorProblem } from "./IdentitySelector.js"
import { payloadOf } from "./internal/jwt.js"

/** IMDS's api-versions, oldest first (Azure's IMDS documentation). */
export const API_VERSIONS: ReadonlyArray<string> = [
  "2017-03-01",
  "2017-04-02",
  "2017-08-01",
  "2017-10-01",
  "2017-12-01",
  "2018-02-01",
  "2018-04-02",
  "2018-10-01",
  "2019-02-01",
  "2019-03-11",
  "2019-04-30",
  "2019-06-01",
  "2019-06-04",
  "2019-08-01",
  "2019-08-15",
  "2019-11-01",
  "2020-06-01",
  "2020-07-15",
  "2020-09-01",
  "2020-10-01",
  "2020-12-01",
  "2021-01-01",
  "2021-02-01",
  "2021-03-01",
  "2021-05-01",
  "2021-08-01",
  "2021-10-01",
  "2021-11-01",
  "2021-11-15",
  "2021-12-13",
  "2023-07-01",
  "2023-11-15",
  "2024-03-15",
  "2024-07-17",
  "2025-04-07",
]

/** The oldest api-version of the managed-identity category. */
export const IDENTITY_MIN_API_VERSION = "2018-02-01"

/** The three newest api-versions, newest first (IMDS lists them when it refuses one). */
export const NEWEST_API_VERSIONS: ReadonlyArray<string> = API_VERSIONS.slice(-3).reverse()

const knownVersions = new Set(API_VERSIONS)

/** IMDS's text for a missing or unknown api-version. */
export const API_VERSION_ERROR =
  "Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds"

/** What a stand-in for IMDS answers: status, JSON body (or text) and extra headers. */
export interface ImdsAnswer {
  readonly status: number
  readonly body: Readonly<Record<string, unknown>> | string
  readonly headers?: Readonly<Record<string, string>> | undefined
}

/** What the shell read from a request: the `Metadata` header, the first relay header present, the query. */
export interface ImdsRequest {
  /** The `Metadata` header as sent (several joined by `, `). */
  readonly metadata: string | undefined
  /** The lower-case name of the first relay header present (`x-forwarded-for`, `forwarded`, …). */
  readonly relayed?: string | undefined
  /** Every query parameter in order, repeats included, decoded. */
  readonly query: ReadonlyArray<readonly [string, string]>
}

/** A token request IMDS would serve: the resource exactly as sent, and the identity it names. */
export interface TokenRequest {
  readonly resource: string
  /** `undefined`: no identity named (the default identity answers). */
  readonly selector: IdentitySelector | undefined
  /** The `object_id` / `msi_res_id` the request named, which IMDS echoes in its answer. */
  readonly echo: { readonly object_id?: string; readonly msi_res_id?: string }
}

/** The query parameters naming a user-assigned identity; IMDS's older docs said `mi_res_id`. */
const selectorParams = ["client_id", "object_id", "msi_res_id", "mi_res_id"] as const

const tokenError = (status: number, error: string, description: string): ImdsAnswer => ({
  status,
  body: { error, error_description: description },
})

const instanceError = (status: number, error: string, extra: Record<string, unknown> = {}): ImdsAnswer => ({
  status,
  body: { error, ...extra },
})

/** The header IMDS refuses, as IMDS spells it in its answer. */
const relayHeaderNames: Readonly<Record<string, string>> = {
  "x-forwarded-for": "X-Forwarded-For",
  forwarded: "Forwarded",
  "x-real-ip": "X-Real-IP",
}
const headerName = (lower: string) =>
  relayHeaderNames[lower] ??
  lower.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase())

/** The first name repeated in `query` (compared without case, as IMDS does), else `undefined`. */
const repeated = (query: ImdsRequest["query"]): string | undefined => {
  const seen = new Set<string>()
  for (const [name] of query) {
    const key = name.toLowerCase()
    if (seen.has(key)) return name
    seen.add(key)
  }
  return undefined
}

/** The names of the parameters the token route acts on, as IMDS spells them. */
const tokenParams = new Set<string>(["api-version", "resource", ...selectorParams])

/**
 * The first parameter that spells one of {@link tokenParams} in another case (`Client_Id`), else
 * `undefined`. Such a name would be ignored — and a request meant for a user-assigned identity served
 * the default identity's token — so it is refused instead (IMDS compares names without case when it
 * looks for repeats; what it does with such a spelling is not documented).
 */
const misspelled = (query: ImdsRequest["query"]): string | undefined =>
  query.find(([name]) => !tokenParams.has(name) && tokenParams.has(name.toLowerCase()))?.[0]

const paramOf = (query: ImdsRequest["query"], name: string): string | undefined =>
  query.find(([n]) => n === name)?.[1]

/**
 * Checks a request to `/metadata/identity/oauth2/token` as IMDS does, in IMDS's order: the
 * `Metadata` header, relay headers, repeated parameters, `api-version`, `resource`, then the
 * identity. Other parameters (`bypass_cache`, `xms_cc`, `token_sha256_to_refresh`, …) are ignored,
 * as IMDS ignores what it does not use. Left: IMDS's 400.
 *
 * @example
 * ```ts
 * ImdsProtocol.parseTokenRequest({ metadata: undefined, query: [] })
 * // Left({ status: 400, body: { error: "invalid_request", error_description: "Required metadata header not specified" } })
 * ```
 */
export const parseTokenRequest = (request: ImdsRequest): Either.Either<TokenRequest, ImdsAnswer> => {
  if (request.metadata !== "true")
    return Either.left(tokenError(400, "invalid_request", "Required metadata header not specified"))
  if (request.relayed !== undefined)
    return Either.left(
      tokenError(
        400,
        "invalid_request",
        `Requests with the ${headerName(request.relayed)} header are not accepted`,
      ),
    )
  const query = request.query
  const again = repeated(query)
  if (again !== undefined)
    return Either.left(
      tokenError(400, "invalid_request", `Duplicate query parameter names are not allowed: '${again}'`),
    )
  const wrongCase = misspelled(query)
  if (wrongCase !== undefined)
    return Either.left(
      tokenError(
        400,
        "invalid_request",
        `Query parameter '${wrongCase}' is not recognised; parameter names are lower case ('${wrongCase.toLowerCase()}')`,
      ),
    )
  const apiVersion = paramOf(query, "api-version")
  if (apiVersion === undefined || !knownVersions.has(apiVersion) || apiVersion < IDENTITY_MIN_API_VERSION)
    return Either.left(tokenError(400, "invalid_request", API_VERSION_ERROR))
  const resource = paramOf(query, "resource")
  if (resource === undefined || resource === "")
    return Either.left(tokenError(400, "invalid_request", "Required query variable 'resource' is missing"))
  const given = selectorParams.filter((name) => paramOf(query, name) !== undefined)
  if (given.length > 1)
    return Either.left(
      tokenError(
        400,
        "invalid_request",
        `Only one of client_id, object_id and msi_res_id can be specified; got ${given.join(", ")}`,
      ),
    )
  const [param] = given
  if (param === undefined) return Either.right({ resource, selector: undefined, echo: {} })
  const id = paramOf(query, param) as string
  const selector =
    param === "client_id"
      ? IdentitySelector.ClientId({ clientId: id })
      : param === "object_id"
        ? IdentitySelector.ObjectId({ objectId: id })
        : IdentitySelector.ResourceId({ resourceId: id })
  const problem = selectorProblem(selector)
  // IMDS answers an id that can name no identity like one that names none: 400 invalid_request.
  if (problem !== undefined)
    return Either.left(tokenError(400, "invalid_request", `Identity not found: ${param} ${problem.rule}`))
  return Either.right({
    resource,
    selector,
    echo: param === "object_id" ? { object_id: id } : param === "client_id" ? {} : { msi_res_id: id },
  })
}

// The `appid` (v1) or `azp` (v2) claim of a JWT, for an issuer that did not say the client id.
const clientIdClaim = (jwt: string): string | undefined => {
  const claims = payloadOf(jwt)
  const appid = claims?.appid
  const azp = claims?.azp
  return typeof appid === "string" ? appid : typeof azp === "string" ? azp : undefined
}

/**
 * IMDS's token response for `token` at `nowMs`: every value a string, keys in IMDS's (alphabetical)
 * order, `expires_in` counting down, the requested `object_id` / `msi_res_id` echoed. The one place
 * outside the HTTP edge that unwraps the token: this body is what is sent.
 *
 * @example
 * ```ts
 * ImdsProtocol.tokenBody(token, {}, Date.now())
 * // { access_token: "eyJ…", client_id: "…", expires_in: "86399", expires_on: "…", ext_expires_in: "86399", not_before: "…", resource: "https://management.azure.com/", token_type: "Bearer" }
 * ```
 */
export const tokenBody = (
  token: AccessToken,
  echo: TokenRequest["echo"],
  nowMs: number,
): Record<string, string> => {
  const jwt = Redacted.value(token.token)
  const expiresIn = String(Math.max(0, Math.floor((token.expiresOn - nowMs) / 1000)))
  const body: Record<string, string> = {
    access_token: jwt,
    client_id: token.clientId ?? clientIdClaim(jwt) ?? "",
    expires_in: expiresIn,
    expires_on: String(Math.floor(token.expiresOn / 1000)),
    ext_expires_in: expiresIn,
  }
  if (echo.msi_res_id !== undefined) body.msi_res_id = echo.msi_res_id
  body.not_before = String(Math.floor((token.notBefore ?? nowMs) / 1000))
  if (echo.object_id !== undefined) body.object_id = echo.object_id
  body.resource = token.resource
  body.token_type = token.tokenType
  return body
}

const statusError: Readonly<Record<number, string>> = {
  400: "invalid_request",
  401: "unauthorized_client",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  429: "too_many_requests",
  503: "service_unavailable",
}
const errorOfStatus = (status: number) =>
  statusError[status] ?? (status >= 500 ? "server_error" : "invalid_request")

/**
 * How a failure to get a token reads to an IMDS client: what the upstream said, with its status and
 * OAuth error, when it said something (`400 Identity not found` stays a 400); otherwise the 5xx an
 * IMDS client retries (503 when nothing answered in time, 502 when what answered was not usable).
 * Any other failure is answered with the status of its kind (`statusOfKind`), as every azmi-http route
 * answers it — except a credential the upstream refused (401, passed on) and an identity the caller
 * named that the host cannot serve (`chosenByCaller`: the caller's 400).
 *
 * @example
 * ```ts
 * ImdsProtocol.tokenErrorAnswer(new IdentityNotFound({ selector: "system-assigned", description: "Identity not found" }))
 * // { status: 400, body: { error: "invalid_request", error_description: "Identity not found" } }
 * ```
 */
export const tokenErrorAnswer = (error: TokenError, chosenByCaller = false): ImdsAnswer => {
  switch (error._tag) {
    case "IdentityNotFound":
      return tokenError(400, "invalid_request", error.description ?? "Identity not found")
    case "MultipleIdentities":
      return tokenError(
        400,
        "invalid_request",
        error.description ??
          "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request",
      )
    case "InvalidResource":
      return tokenError(400, "invalid_resource", error.description ?? error.message)
    case "InvalidInput":
      return tokenError(400, "invalid_request", error.message)
    case "TokenRequestFailed":
    case "ClientAuthenticationFailed":
      // Status 0: no HTTP answer at all (the connection failed on every attempt).
      return error.status >= 400 && error.status <= 599
        ? tokenError(
            error.status,
            error.error ?? errorOfStatus(error.status),
            error.errorDescription ?? error.message,
          )
        : tokenError(503, "service_unavailable", error.message)
    case "ImdsThrottled":
      return {
        ...tokenError(429, "too_many_requests", error.message),
        headers: { "Retry-After": String(Math.max(1, Math.ceil(error.retryAfterSeconds ?? 1))) },
      }
    case "Timeout":
      // Nothing answered in time reads to an IMDS client like nothing answering at all (status 0
      // above): 503 Service Unavailable, as the doc comment says, not the 504 `statusOfKind` gives a
      // time budget of azmi-http's own routes.
      return tokenError(503, "service_unavailable", error.message)
  }
  // Any other failure: the status every azmi-http route answers for its kind, with two exceptions an
  // IMDS client needs. An identity the caller named that the host cannot serve is the caller's 400, as
  // IMDS answers an identity it does not have. And a credential the upstream refused (Entra refusing
  // the federated token, HIMDS refusing Arc's key) is passed on as the refusal it is — 401, as IMDS
  // passes on Entra's refusals — not as a 5xx: IMDS clients retry a 5xx (Python's for over a minute)
  // and then report the credential "unavailable", which DefaultAzureCredential skips, hiding the
  // misconfiguration; a refusal does not change by retrying.
  const other = error as TokenError
  const kind = errorKind(other)
  if (kind === "CredentialRejected") return tokenError(401, "unauthorized_client", other.message)
  const status = kind === "IdentityUnavailable" && chosenByCaller ? 400 : statusOfKind[kind]
  return tokenError(status, errorOfStatus(status), other.message)
}

/** IMDS's 405 for the identity endpoints (`Allow: GET`). */
export const tokenMethodNotAllowed: ImdsAnswer = tokenError(
  405,
  "method_not_allowed",
  "The requested method is not allowed",
)

/** IMDS's 405 for the instance endpoints (`Allow: GET`). */
export const instanceMethodNotAllowed: ImdsAnswer = instanceError(405, "Method not allowed")

// ---------------------------------------------------------------------------------------------------
// Instance metadata
// ---------------------------------------------------------------------------------------------------

/** A request to `/metadata/instance[/…]` IMDS would serve. */
export interface InstanceRequest {
  readonly apiVersion: string
  readonly format: "json" | "text"
}

/**
 * Checks a request to `/metadata/instance[/…]` as IMDS does (its instance category answers
 * `{ "error": "<text>" }`): the `Metadata` header, relay headers, repeated parameters, a known
 * `api-version` (else the three newest are listed), `format` `json` or `text`.
 */
export const parseInstanceRequest = (request: ImdsRequest): Either.Either<InstanceRequest, ImdsAnswer> => {
  if (request.metadata !== "true")
    return Either.left(instanceError(400, "Bad request. Required metadata header not specified"))
  if (request.relayed !== undefined)
    return Either.left(
      instanceError(
        400,
        `Bad request. Requests with the ${headerName(request.relayed)} header are not accepted`,
      ),
    )
  const query = request.query
  if (repeated(query) !== undefined)
    return Either.left(instanceError(400, "Bad request. Duplicate query parameter names are not allowed"))
  const apiVersion = paramOf(query, "api-version")
  if (apiVersion === undefined || !knownVersions.has(apiVersion))
    return Either.left(instanceError(400, API_VERSION_ERROR, { "newest-versions": NEWEST_API_VERSIONS }))
  const format = paramOf(query, "format") ?? "json"
  if (format !== "json" && format !== "text")
    return Either.left(instanceError(400, "Bad request. Invalid format; use format=json or format=text"))
  return Either.right({ apiVersion, format })
}

type Json = string | number | boolean | null | ReadonlyArray<Json> | { readonly [key: string]: Json }

const isLeaf = (node: Json): boolean => node === null || typeof node !== "object"

// Object keys match without case; array elements by index.
const walk = (root: Json, segments: ReadonlyArray<string>): Json | undefined => {
  let node: Json | undefined = root
  for (const segment of segments) {
    if (node === undefined || isLeaf(node)) return undefined
    if (Array.isArray(node)) {
      node = /^\d+$/.test(segment) ? (node as ReadonlyArray<Json>)[Number(segment)] : undefined
    } else {
      const object = node as { readonly [key: string]: Json }
      const key = Object.keys(object).find((k) => k.toLowerCase() === segment.toLowerCase())
      node = key === undefined ? undefined : object[key]
    }
  }
  return node
}

// A leaf is its value; an object lists its keys and an array its indexes, one a line, `/` after a
// child that has children of its own.
const asText = (node: Json): string => {
  if (isLeaf(node)) return node === null ? "" : String(node)
  if (Array.isArray(node))
    return (node as ReadonlyArray<Json>).map((child, i) => (isLeaf(child) ? String(i) : `${i}/`)).join("\n")
  return Object.entries(node as { readonly [key: string]: Json })
    .map(([key, child]) => (isLeaf(child) ? key : `${key}/`))
    .join("\n")
}

/**
 * The answer to `/metadata/instance{subPath}` from the whole document IMDS returned for the request's
 * api-version: the node `subPath` names, as JSON or (`format=text`) text; a leaf only as text; 404 for
 * a path that names nothing.
 *
 * @example
 * ```ts
 * ImdsProtocol.instanceAnswer(document, "/compute/location", { apiVersion: "2021-02-01", format: "text" })
 * // { status: 200, body: "westus" }
 * ```
 */
export const instanceAnswer = (document: unknown, subPath: string, request: InstanceRequest): ImdsAnswer => {
  const segments = subPath.split("/").filter((s) => s !== "")
  const node = walk(document as Json, segments)
  if (node === undefined) return instanceError(404, "Not found")
  if (request.format === "text") return { status: 200, body: asText(node) }
  if (isLeaf(node))
    return instanceError(400, "Bad request. Leaf nodes can only be requested with format=text")
  return { status: 200, body: node as Readonly<Record<string, unknown>> }
}

/**
 * How a failure to read instance metadata reads to an IMDS client (the instance category's
 * `{ "error": "<text>" }`): the upstream's status and text when it answered, else a 5xx.
 */
export const instanceErrorAnswer = (error: TokenError): ImdsAnswer => {
  const token = tokenErrorAnswer(error)
  const body = token.body as { readonly error: string; readonly error_description: string }
  const text =
    error._tag === "TokenRequestFailed" && error.status >= 400 && error.status <= 599
      ? (error.error ?? error.errorDescription ?? error.message)
      : body.error_description
  return {
    status: token.status,
    body: { error: text },
    ...(token.headers === undefined ? {} : { headers: token.headers }),
  }
}
