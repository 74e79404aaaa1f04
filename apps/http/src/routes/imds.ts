/**
 * IMDS's own protocol (only with `AZMI_HTTP_IMDS=1` / `--imds`): `GET /metadata/identity/oauth2/token`
 * and `GET /metadata/instance[/…]`, so every unmodified IMDS client on the machine — the seed's
 * `curl`, the Azure SDKs through `AZURE_POD_IDENTITY_AUTHORITY_HOST`, Terraform, scripts — shares one
 * token cache: one upstream request per identity and resource for a token's lifetime.
 *
 * The rules, bodies and error mapping are the core's (`ImdsProtocol`); this module reads the request
 * and writes the answer. No API key (IMDS clients cannot send one): these routes answer loopback
 * clients only, and, like every route, only a `Host` that names the listener (see `hostCheck.ts`).
 * @module
 */
import { type AccessToken, ImdsProtocol, InstanceDocument, isLoopbackHost } from "@azmi/core"
import { Cause, Effect, Either, Exit, Option, Schema } from "effect"
import type { Context } from "hono"
import { relayHeaderOf } from "../auth.js"
import { TokenBroker } from "../services/TokenBroker.js"
import { type AppEnv, defineRoute, requestHeader, runToExit } from "./route.js"

/** The query of the token route, for the OpenAPI document (the handler checks it in IMDS's order). */
export const ImdsTokenQuery = Schema.Struct({
  "api-version": Schema.String.annotations({ description: "IMDS api-version, 2018-02-01 or later" }),
  resource: Schema.String.annotations({
    description: "The resource (App ID URI) the token is for, e.g. https://management.azure.com/",
  }),
  client_id: Schema.optional(
    Schema.String.annotations({ description: "User-assigned identity by client id" }),
  ),
  object_id: Schema.optional(
    Schema.String.annotations({ description: "User-assigned identity by object id" }),
  ),
  msi_res_id: Schema.optional(
    Schema.String.annotations({ description: "User-assigned identity by ARM resource id (also mi_res_id)" }),
  ),
})

/** The query of the instance routes, for the OpenAPI document. */
export const ImdsInstanceQuery = Schema.Struct({
  "api-version": Schema.String.annotations({ description: "IMDS api-version" }),
  format: Schema.optional(Schema.Literal("json", "text").annotations({ description: "Leaves need text" })),
})

/** IMDS's token response: every field a string. */
export const ImdsToken = Schema.Struct({
  access_token: Schema.String,
  client_id: Schema.String,
  expires_in: Schema.String,
  expires_on: Schema.String,
  ext_expires_in: Schema.String,
  msi_res_id: Schema.optional(Schema.String),
  not_before: Schema.String,
  object_id: Schema.optional(Schema.String),
  resource: Schema.String,
  token_type: Schema.String,
}).annotations({ identifier: "ImdsToken" })

/** IMDS's error body of the identity category. */
export const ImdsError = Schema.Struct({
  error: Schema.String,
  error_description: Schema.String,
}).annotations({
  identifier: "ImdsError",
})

/** IMDS's error body of the instance category. */
export const ImdsInstanceError = Schema.Struct({ error: Schema.String }).annotations({
  identifier: "ImdsInstanceError",
})

const json = "application/json; charset=utf-8"
const noStore = "no-store"

/** Writes an IMDS answer (JSON, or text for `format=text`), never cached by anyone in between. */
export const sendAnswer = (c: Context<AppEnv>, answer: ImdsProtocol.ImdsAnswer): Response =>
  c.body(typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body), answer.status as 200, {
    ...answer.headers,
    "Content-Type": typeof answer.body === "string" ? "text/plain; charset=utf-8" : json,
    "Cache-Control": noStore,
  })

/**
 * The headers {@link sendAnswer} and the app's edge (the request ids) give a JSON token, as name/value
 * pairs in wire order (by name, as hono's `Headers` iterate): for the hot path, which writes them
 * itself.
 */
export const tokenHitHeaders = (requestId: string, clientRequestId: string | undefined): Array<string> =>
  clientRequestId === undefined
    ? ["cache-control", noStore, "content-type", json, "x-request-id", requestId]
    : [
        "cache-control",
        noStore,
        "content-type",
        json,
        "x-ms-client-request-id",
        clientRequestId,
        "x-request-id",
        requestId,
      ]

// Peers reconnect from the same few addresses: the last one found to be loopback is remembered (the
// core's rule parses an address as a URL host).
let lastLoopbackPeer = ""
const isLoopbackPeer = (address: string): boolean => {
  if (address === lastLoopbackPeer) return true
  if (!isLoopbackHost(address)) return false
  lastLoopbackPeer = address
  return true
}

/**
 * Whether the client is on this machine: IMDS's protocol carries no credential, so only loopback peers
 * are answered (the core's one loopback rule, `isLoopbackHost`). In-process requests, which have no
 * socket, count as local; a socket that no longer knows its peer does not.
 */
export const isLocalSocket = (socket: { readonly remoteAddress?: string | undefined } | undefined): boolean =>
  socket === undefined || (socket.remoteAddress !== undefined && isLoopbackPeer(socket.remoteAddress))

/** {@link isLocalSocket} of a routed request. */
export const isLocalPeer = (c: Context<AppEnv>): boolean =>
  isLocalSocket(
    (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket,
  )

const notLocal = (category: "token" | "instance"): ImdsProtocol.ImdsAnswer => {
  const text = "azmi-http answers IMDS's protocol for clients on this machine only"
  return {
    status: 403,
    body:
      category === "token"
        ? { error: "forbidden", error_description: text }
        : { error: `Forbidden. ${text}` },
  }
}

// Every query parameter in order, repeats included (IMDS refuses repeats), decoded.
const queryOf = (c: Context<AppEnv>): ReadonlyArray<readonly [string, string]> => {
  const url = c.req.url
  const at = url.indexOf("?")
  return at < 0 ? [] : [...new URLSearchParams(url.slice(at + 1))]
}

const requestOf = (c: Context<AppEnv>): ImdsProtocol.ImdsRequest => ({
  metadata: requestHeader(c, "metadata"),
  relayed: relayHeaderOf((name) => requestHeader(c, name)),
  query: queryOf(c),
})

// A typed failure becomes IMDS's answer; a defect is re-thrown for app.onError; interruption (only at
// shutdown) asks the client to come back.
const failureAnswer = <E>(
  cause: Cause.Cause<E>,
  render: (error: E) => ImdsProtocol.ImdsAnswer,
): ImdsProtocol.ImdsAnswer => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) return render(failure.value)
  if (Cause.isInterruptedOnly(cause))
    return {
      status: 503,
      body: { error: "service_unavailable", error_description: "azmi-http is shutting down; retry." },
      headers: { "Retry-After": "1" },
    }
  throw Cause.squash(cause)
}

const tokenResponses = {
  200: { description: "The token, IMDS's shape (every field a string)", schema: ImdsToken },
  400: {
    description:
      "IMDS's refusal: no `Metadata: true`, a relay header (X-Forwarded-For, Forwarded, X-Real-IP, …), a repeated parameter, a bad api-version, no resource, more than one identity — or the upstream's own 400 (`Identity not found`, `invalid_resource`), passed through",
    schema: ImdsError,
  },
  403: { description: "The client is not on this machine", schema: ImdsError },
  421: { description: "The Host names another server (DNS rebinding)" },
  429: { description: "The upstream throttled and no valid token was cached", schema: ImdsError },
  503: { description: "The upstream did not answer", schema: ImdsError },
} as const

/** `GET /metadata/identity/oauth2/token`. */
export const getImdsToken = defineRoute({
  method: "GET",
  path: "/metadata/identity/oauth2/token",
  operationId: "getImdsToken",
  summary: "A managed-identity token, IMDS's own protocol (header Metadata: true), from azmi-http's cache",
  tag: "imds",
  queryDoc: ImdsTokenQuery,
  answersHead: false,
  notAllowed: (c) => sendAnswer(c, ImdsProtocol.tokenMethodNotAllowed),
  responses: tokenResponses,
  handler: (deps) => async (c) => {
    if (!isLocalPeer(c)) return sendAnswer(c, notLocal("token"))
    const parsed = ImdsProtocol.parseTokenRequest(requestOf(c))
    if (Either.isLeft(parsed)) return sendAnswer(c, parsed.left)
    const { resource, selector, echo } = parsed.right
    const exit = await runToExit(
      deps,
      Effect.flatMap(TokenBroker, (broker) => broker.getToken(resource, selector)),
    )
    return sendAnswer(
      c,
      Exit.isSuccess(exit)
        ? { status: 200, body: ImdsProtocol.tokenBody(exit.value, echo, Date.now()) }
        : failureAnswer(exit.cause, (e) => ImdsProtocol.tokenErrorAnswer(e, selector !== undefined)),
    )
  },
})

const instanceResponses = {
  200: { description: "The document, or the node the path names (text with format=text)" },
  400: {
    description: "IMDS's refusal (header, api-version, format, a leaf without format=text)",
    schema: ImdsInstanceError,
  },
  403: { description: "The client is not on this machine", schema: ImdsInstanceError },
  404: { description: "The path names nothing", schema: ImdsInstanceError },
  421: { description: "The Host names another server (DNS rebinding)" },
  503: { description: "IMDS did not answer", schema: ImdsInstanceError },
} as const

const instanceHandler =
  (subPathOf: (c: Context<AppEnv>) => string) =>
  (deps: Parameters<typeof getImdsToken.handler>[0]) =>
  async (c: Context<AppEnv>): Promise<Response> => {
    if (!isLocalPeer(c)) return sendAnswer(c, notLocal("instance"))
    const parsed = ImdsProtocol.parseInstanceRequest(requestOf(c))
    if (Either.isLeft(parsed)) return sendAnswer(c, parsed.left)
    const exit = await runToExit(
      deps,
      Effect.flatMap(InstanceDocument.InstanceDocument, (documents) =>
        documents.get(parsed.right.apiVersion),
      ),
    )
    return sendAnswer(
      c,
      Exit.isSuccess(exit)
        ? ImdsProtocol.instanceAnswer(exit.value, subPathOf(c), parsed.right)
        : failureAnswer(exit.cause, ImdsProtocol.instanceErrorAnswer),
    )
  }

/** `GET /metadata/instance`: the whole document, from a short-TTL cache of IMDS's. */
export const getImdsInstance = defineRoute({
  method: "GET",
  path: "/metadata/instance",
  operationId: "getImdsInstance",
  summary: "Instance metadata, IMDS's own protocol (header Metadata: true), from a short-TTL cache",
  tag: "imds",
  queryDoc: ImdsInstanceQuery,
  answersHead: false,
  notAllowed: (c) => sendAnswer(c, ImdsProtocol.instanceMethodNotAllowed),
  responses: instanceResponses,
  handler: instanceHandler(() => ""),
})

/** `GET /metadata/instance/{path}`: one node of the document (`format=text` for a leaf). */
export const getImdsInstanceNode = defineRoute({
  method: "GET",
  path: "/metadata/instance/:path{.+}",
  operationId: "getImdsInstanceNode",
  summary: "One node of the instance metadata (e.g. compute/location), IMDS's own protocol",
  tag: "imds",
  params: Schema.Struct({ path: Schema.String.annotations({ description: "e.g. compute/location" }) }),
  queryDoc: ImdsInstanceQuery,
  answersHead: false,
  notAllowed: (c) => sendAnswer(c, ImdsProtocol.instanceMethodNotAllowed),
  responses: instanceResponses,
  handler: instanceHandler((c) => c.req.param("path") ?? ""),
})

/**
 * The token route's hot path: the app answers a plain cache hit of the default identity before hono
 * routes it (like a cached group read), because that is what IMDS clients do most and hono's async
 * middleware chain costs several times the rest. `answer` returns the body of exactly the answer the
 * routed path would give — or `undefined` whenever anything needs a decision (a refusal, a named
 * identity, a token not cached), and the routed path answers. The rendered body is kept for the
 * token and second it was rendered for (`expires_in` counts seconds).
 *
 * @example
 * ```ts
 * const hot = tokenHotPath()
 * const body = hot.answer(broker, header, request.socket, "api-version=2018-02-01&resource=…")
 * ```
 */
export const tokenHotPath = () => {
  let lastQuery: string | undefined
  let lastRequest: ImdsProtocol.TokenRequest | undefined
  const bodies = new Map<string, { token: AccessToken; second: number; body: string }>()
  return {
    path: getImdsToken.path,
    answer: (
      broker: TokenBroker["Type"],
      header: (name: string) => string | undefined,
      socket: { readonly remoteAddress?: string | undefined } | undefined,
      query: string,
    ): string | undefined => {
      if (!isLocalSocket(socket)) return undefined
      if (header("metadata") !== "true" || relayHeaderOf(header) !== undefined) return undefined
      // Neighbours send the same query again and again: its (pure) reading is kept for the last one.
      if (query !== lastQuery) {
        const parsed = ImdsProtocol.parseTokenRequest({
          metadata: "true",
          query: [...new URLSearchParams(query)],
        })
        lastQuery = query
        lastRequest = Either.isRight(parsed) ? parsed.right : undefined
      }
      const request = lastRequest
      if (request === undefined || request.selector !== undefined) return undefined
      const token = broker.peekDefault(request.resource)
      if (token === undefined) return undefined
      const now = Date.now()
      const second = Math.floor(now / 1000)
      const kept = bodies.get(request.resource)
      if (kept !== undefined && kept.token === token && kept.second === second) return kept.body
      const body = JSON.stringify(ImdsProtocol.tokenBody(token, request.echo, now))
      if (bodies.size >= 64) bodies.clear()
      bodies.set(request.resource, { token, second, body })
      return body
    },
  }
}

/** The routes of this module (served only with `AZMI_HTTP_IMDS=1`). */
export const imdsRoutes = [getImdsToken, getImdsInstance, getImdsInstanceNode]
