/**
 * What every route shares: its declaration (`Route`, which the route table registers and
 * `openapi.ts` documents, with the very schemas the handler validates with), input decoding, and
 * running one core effect into a response.
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
  SchemaAST,
} from "effect"
import type { Context } from "hono"
import type { Security } from "../auth.js"
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

/** The methods a route can be declared for (a GET route also answers HEAD, without a body). */
export type Method = "GET" | "HEAD"

/** A route's decoded input: its path parameters and query, by the schemas it declares. */
export interface RouteInput<P, Q> {
  readonly params: P
  readonly query: Q
}

/** What a handler is built with: the services, and what only the app knows. */
export interface HandlerDeps extends RouteDeps {
  /** True once shutdown began. */
  readonly isDraining: () => boolean
  /** The OpenAPI document of the routes being served. */
  readonly openApi: () => object
}

/** A route's handler, given the app's services and its decoded input. */
export type Handler<P, Q> = (
  deps: HandlerDeps,
) => (c: Context<AppEnv>, input: RouteInput<P, Q>) => Response | Promise<Response>

/**
 * A route, declared once: the route table (`table.ts`) registers it with hono (validation of its
 * params and query by these schemas, the credential it needs, 405 with `Allow` for other methods),
 * documents it in `/openapi.json`, and labels its metrics and access-log lines with `path`.
 */
export interface Route<P = unknown, Q = unknown, PI = unknown, QI = unknown> {
  readonly method: Method
  /** Hono path, e.g. `/v1/subscriptions/:subscriptionId/resourceGroups`: also the `route` label. */
  readonly path: string
  readonly operationId: string
  readonly summary: string
  readonly tag: string
  /** Path parameters; a failure is `InvalidInput` (400). */
  readonly params?: Schema.Schema<P, PI, never> | undefined
  /**
   * The query. A route that declares one refuses parameters it does not name (400): a misspelt
   * selector or filter must not silently change the answer. Routes without one ignore the query.
   */
  readonly query?: Schema.Schema<Q, QI, never> | undefined
  /** The credential the route needs, checked before anything else for every method. */
  readonly security?: Security | undefined
  /** Refuse requests that carry a relay header (see `relayHeaders`), before the credential check. */
  readonly refuseRelayed?: boolean | undefined
  /**
   * The query, documented only: the handler checks it itself, in its protocol's own order and words
   * (IMDS's routes). A route declares this or `query`, not both.
   */
  readonly queryDoc?: Schema.Schema.Any | undefined
  /** Whether a GET route also answers HEAD. Default true; IMDS's routes answer GET only. */
  readonly answersHead?: boolean | undefined
  /**
   * The 405 of this path, when its protocol has its own (IMDS's); default azmi's ARM-style body. The
   * table adds `Allow`.
   */
  readonly notAllowed?: ((c: Context<AppEnv>) => Response) | undefined
  readonly responses: Readonly<Record<number, ResponseSpec>>
  readonly handler: Handler<P, Q>
}

/** A route of any input type, as the table holds them. */
export type AnyRoute = Route<unknown, unknown>

/**
 * Declares a route, typing its handler's input by its schemas.
 *
 * @example
 * ```ts
 * export const healthz = defineRoute({
 *   method: "GET", path: "/healthz", operationId: "healthz", summary: "Alive", tag: "operations",
 *   responses: { 200: { description: "Alive" } },
 *   handler: () => (c) => c.json({ status: "ok" }, 200),
 * })
 * ```
 */
export const defineRoute = <P = undefined, Q = undefined, PI = unknown, QI = unknown>(
  route: Route<P, Q, PI, QI>,
): AnyRoute => route as unknown as AnyRoute

/** What a router needs from the app. */
export interface RouteDeps {
  readonly runtime: ManagedRuntime.ManagedRuntime<HttpServices, never>
  readonly config: HttpConfig
}

const decoders = new WeakMap<
  Schema.Schema.Any,
  (input: unknown) => Either.Either<unknown, ParseResult.ParseError>
>()

/**
 * Decodes untrusted input (path params, query) with `schema`; a failure becomes `InvalidInput` naming
 * the first offending field. A name the schema does not have is refused, not ignored.
 */
export const decodeInput = <A, I>(
  schema: Schema.Schema<A, I, never>,
  input: unknown,
  fallbackField: string,
): Either.Either<A, InvalidInput> => {
  // Building a decoder walks the schema; do it once per schema, not once per request.
  let decode = decoders.get(schema)
  if (decode === undefined) {
    decode = Schema.decodeUnknownEither(schema as Schema.Schema<unknown, unknown, never>, {
      errors: "first",
      onExcessProperty: "error",
    })
    decoders.set(schema, decode)
  }
  return Either.mapLeft(decode(input) as Either.Either<A, ParseResult.ParseError>, (error) => {
    const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
    const field = issue === undefined || issue.path.length === 0 ? fallbackField : issue.path.join(".")
    if (issue?._tag === "Unexpected") {
      const names = SchemaAST.getPropertySignatures(schema.ast).map((p) => String(p.name))
      return new InvalidInput({
        field,
        rule: `is not a parameter of this route (it takes ${names.join(", ")})`,
      })
    }
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
