/**
 * What every router shares: the route description (which `openapi.ts` turns into the OpenAPI
 * document, with the very schemas the handler validates with), input decoding, and running one core
 * effect into a response.
 * @module
 */
import { type AzmiError, InvalidInput, isAzmiError } from "@azmi/core"
import { Cause, type Effect, Either, Exit, type ManagedRuntime, Option, ParseResult, Schema } from "effect"
import type { Context } from "hono"
import type { HttpConfig } from "../config.js"
import { errorBody, type RenderOptions, renderError } from "../errors.js"
import type { HttpServices } from "../services/HttpServices.js"

/** Hono's environment for azmi-http: the request id set by the request-id middleware. */
export interface AppEnv {
  Variables: { requestId: string }
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
export const decodeInput = <A, I>(
  schema: Schema.Schema<A, I, never>,
  input: unknown,
  fallbackField: string,
): Either.Either<A, InvalidInput> =>
  Either.mapLeft(Schema.decodeUnknownEither(schema, { errors: "first" })(input), (error) => {
    const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
    const field = issue === undefined || issue.path.length === 0 ? fallbackField : issue.path.join(".")
    return new InvalidInput({ field, rule: issue?.message ?? "is invalid" })
  })

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

/**
 * Runs one core effect and renders it: success through `onSuccess`, a typed failure through the error
 * table. Defects are re-thrown for `app.onError` (they are bugs, the only source of a 500).
 */
export const runRoute = async <A, E extends AzmiError>(
  c: Context<AppEnv>,
  deps: RouteDeps,
  effect: Effect.Effect<A, E, HttpServices>,
  onSuccess: (value: A) => Response,
  options?: RenderOptions,
): Promise<Response> => {
  // No abort signal on purpose: a read may be shared (single-flight) with other callers, and one
  // client hanging up must not cancel their answer.
  const exit = await deps.runtime.runPromiseExit(effect)
  if (Exit.isSuccess(exit)) return onSuccess(exit.value)
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure) && isAzmiError(failure.value)) return respondError(c, failure.value, options)
  if (Cause.isInterruptedOnly(exit.cause)) {
    c.header("Retry-After", "1")
    return c.json(errorBody("ServiceUnavailable", "azmi-http is shutting down; retry."), 503)
  }
  throw Cause.squash(exit.cause)
}
