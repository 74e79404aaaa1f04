/**
 * What every router shares: the route description (which `openapi.ts` turns into the OpenAPI
 * document, with the very schemas the handler validates with), input decoding, and running one core
 * effect into a response.
 * @module
 */
import { ArmClient, type AzmiError, InvalidInput, isAzmiError } from "@azmi/core"
import {
  Cause,
  Effect,
  Either,
  Exit,
  type Fiber,
  type ManagedRuntime,
  Option,
  ParseResult,
  Runtime,
  Schema,
} from "effect"
import type { Context } from "hono"
import type { HttpConfig } from "../config.js"
import { errorBody, type RenderOptions, renderError } from "../errors.js"
import type { HttpServices } from "../services/HttpServices.js"

/** Hono's environment for azmi-http: the request id set by the request-id middleware. */
export interface AppEnv {
  Variables: {
    requestId: string
    /** The caller's `x-ms-client-request-id`, when it is a plain token. */
    clientRequestId?: string | undefined
    /** Set by a route that already put the id headers into its response (see {@link idHeaders}). */
    idHeadersSent?: boolean | undefined
  }
}

/**
 * `X-Request-Id` (and the echoed `x-ms-client-request-id`) as a plain header object, for a route
 * to pass straight to `c.body(…, headers)`; otherwise the edge middleware adds them afterwards.
 */
export const idHeaders = (c: Context<AppEnv>, headers: Record<string, string>): Record<string, string> => {
  headers["X-Request-Id"] = c.get("requestId")
  const clientRequestId = c.get("clientRequestId")
  if (clientRequestId !== undefined) headers["x-ms-client-request-id"] = clientRequestId
  c.set("idHeadersSent", true)
  return headers
}

/**
 * A request header by lower-case name. Under @hono/node-server the Node request's own header object
 * is read: asking hono instead makes it build a full WHATWG `Headers` copy on every request, which
 * costs more than a cached read. In tests (`app.request`) there is no Node request, and hono answers.
 */
export const requestHeader = (c: Context<AppEnv>, name: string): string | undefined => {
  const incoming = (
    c.env as { incoming?: { headers?: Record<string, string | Array<string> | undefined> } } | undefined
  )?.incoming
  if (incoming?.headers === undefined) return c.req.header(name)
  const value = incoming.headers[name]
  return Array.isArray(value) ? value.join(", ") : value
}

/** One response of a route, for the OpenAPI document. */
export interface ResponseSpec {
  readonly description: string
  readonly schema?: Schema.Schema.Any | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
}

/** A route as documented: the OpenAPI document is generated from a list of these. */
export interface RouteSpec {
  readonly method: "get" | "head"
  /** OpenAPI-style path, e.g. `/v1/subscriptions/{subscriptionId}/resourceGroups`. */
  readonly path: string
  readonly operationId: string
  readonly summary: string
  readonly tag: string
  readonly params?: Schema.Schema.Any | undefined
  readonly query?: Schema.Schema.Any | undefined
  /** Which credential the route needs. */
  readonly security?: "apiKey" | "identityHeader" | undefined
  readonly responses: Readonly<Record<number, ResponseSpec>>
}

/** What a router needs from the app. */
export interface RouteDeps {
  readonly runtime: ManagedRuntime.ManagedRuntime<HttpServices, never>
  readonly config: HttpConfig
}

/**
 * Decodes untrusted input (path params, query) with `schema`; a failure becomes `InvalidInput` naming
 * the first offending field.
 */
const decoders = new WeakMap<
  Schema.Schema.Any,
  (input: unknown) => Either.Either<unknown, ParseResult.ParseError>
>()

export const decodeInput = <A, I>(
  schema: Schema.Schema<A, I, never>,
  input: unknown,
  fallbackField: string,
): Either.Either<A, InvalidInput> => {
  // Building a decoder walks the schema; do it once per schema, not once per request.
  let decode = decoders.get(schema)
  if (decode === undefined) {
    decode = Schema.decodeUnknownEither(schema as Schema.Schema<unknown, unknown, never>, { errors: "first" })
    decoders.set(schema, decode)
  }
  return Either.mapLeft(decode(input) as Either.Either<A, ParseResult.ParseError>, (error) => {
    const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
    const field = issue === undefined || issue.path.length === 0 ? fallbackField : issue.path.join(".")
    return new InvalidInput({ field, rule: issue?.message ?? "is invalid" })
  })
}

/** Every query parameter once at most: a repeated one is ambiguous, so it is refused, not guessed. */
export const singleQuery = (c: Context<AppEnv>): Either.Either<Record<string, string>, InvalidInput> => {
  const all = c.req.queries()
  const out: Record<string, string> = {}
  for (const [name, values] of Object.entries(all)) {
    if (values.length > 1) return Either.left(new InvalidInput({ field: name, rule: "must not be repeated" }))
    const value = values[0]
    if (value !== undefined) out[name] = value
  }
  return Either.right(out)
}

/** Responds with a rendered azmi error. */
export const respondError = (c: Context<AppEnv>, error: AzmiError, options?: RenderOptions): Response => {
  const { status, body, headers } = renderError(error, options)
  for (const [name, value] of Object.entries(headers)) c.header(name, value)
  c.header("Cache-Control", "no-store")
  return c.json(body, status)
}

const runtimes = new WeakMap<RouteDeps["runtime"], Runtime.Runtime<HttpServices>>()

/** The runtime of `runtime` if a route already awaited it (synchronously; `undefined` before). */
export const builtRuntime = (runtime: RouteDeps["runtime"]): Runtime.Runtime<HttpServices> | undefined =>
  runtimes.get(runtime)

/**
 * Runs an effect to its exit. Most requests are cache hits that complete without waiting, so the
 * effect is first run synchronously; only if it has to wait does the caller await its fiber. This
 * keeps a cached read free of promise and scheduler round trips.
 */
export const runToExit = async <A, E>(
  deps: RouteDeps,
  effect: Effect.Effect<A, E, HttpServices>,
): Promise<Exit.Exit<A, E>> => {
  let runtime = runtimes.get(deps.runtime)
  if (runtime === undefined) {
    runtime = await deps.runtime.runtime()
    runtimes.set(deps.runtime, runtime)
  }
  const exit = Runtime.runSyncExit(runtime, effect)
  if (
    Exit.isFailure(exit) &&
    Cause.isDieType(exit.cause) &&
    Runtime.isAsyncFiberException(exit.cause.defect)
  ) {
    const fiber = exit.cause.defect.fiber as Fiber.RuntimeFiber<A, E>
    return new Promise((resolve) => fiber.addObserver(resolve))
  }
  return exit
}

/**
 * Runs one core effect and renders it: success through `onSuccess`, a typed failure through the error
 * table. Defects are re-thrown for `app.onError` (they are bugs, the only source of a 500).
 * No abort signal on purpose: a read may be shared (single-flight) with other callers, and one
 * client hanging up must not cancel their answer.
 */
export const runRoute = async <A, E extends AzmiError>(
  c: Context<AppEnv>,
  deps: RouteDeps,
  effect: Effect.Effect<A, E, HttpServices>,
  onSuccess: (value: A) => Response,
  options?: RenderOptions,
): Promise<Response> => {
  // The caller's x-ms-client-request-id goes on to ARM (for a shared cached read: the id of the
  // caller whose request made the ARM call).
  const clientRequestId = c.get("clientRequestId")
  const exit = await runToExit(
    deps,
    clientRequestId === undefined
      ? effect
      : Effect.locally(effect, ArmClient.currentClientRequestId, Option.some(clientRequestId)),
  )
  if (Exit.isSuccess(exit)) return onSuccess(exit.value)
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure) && isAzmiError(failure.value)) return respondError(c, failure.value, options)
  if (Cause.isInterruptedOnly(exit.cause)) {
    c.header("Retry-After", "1")
    return c.json(errorBody("ServiceUnavailable", "azmi-http is shutting down; retry."), 503)
  }
  throw Cause.squash(exit.cause)
}
