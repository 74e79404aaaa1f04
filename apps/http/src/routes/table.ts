/**
 * azmi-http's one route table. Each route is declared once (in its module, with `defineRoute`); this
 * module turns the declarations into the hono registration (input validation, the credential check
 * for every method, relay refusal, `405` with `Allow` for a method the path does not serve) and is
 * what `/openapi.json`, the metrics `route` label and the app's hot path read.
 * @module
 */

import { Either } from "effect"
import type { Context, Hono } from "hono"
import type { Guard } from "../auth.js"
import { relayHeaderOf } from "../auth.js"
import type { HttpConfig } from "../config.js"
import { errorBody } from "../errors.js"
import { healthRoutes } from "./health.js"
import { imdsRoutes } from "./imds.js"
import { instanceRoutes } from "./instance.js"
import { resourceGroupRoutes } from "./resourceGroups.js"
import {
  type AnyRoute,
  type AppEnv,
  decodeInput,
  type HandlerDeps,
  requestHeader,
  respondError,
  singleQuery,
} from "./route.js"
import { tokenBrokerRoutes } from "./tokenBroker.js"

/**
 * Every route azmi-http serves under `config` (the broker only when `AZMI_IDENTITY_HEADER` is set,
 * IMDS's protocol only with `AZMI_HTTP_IMDS=1`).
 *
 * @example
 * ```ts
 * routeTable(config).map((r) => `${r.method} ${r.path}`) // ["GET /v1/subscriptions/:subscriptionId/…", …]
 * ```
 */
export const routeTable = (
  config: Pick<HttpConfig, "identityHeader"> & Partial<Pick<HttpConfig, "imds">>,
): ReadonlyArray<AnyRoute> => [
  ...resourceGroupRoutes,
  ...instanceRoutes,
  ...(config.identityHeader === undefined ? [] : tokenBrokerRoutes),
  ...(config.imds === true ? imdsRoutes : []),
  ...healthRoutes,
]

/** The routes of the health listener (`AZMI_HTTP_HEALTH_PORT`): liveness and readiness only. */
export const healthListenerRoutes = (table: ReadonlyArray<AnyRoute>): ReadonlyArray<AnyRoute> =>
  table.filter((route) => route.path === "/healthz" || route.path === "/readyz")

/** The routes of `table` grouped by path, in table order. */
const byPath = (table: ReadonlyArray<AnyRoute>): Map<string, Array<AnyRoute>> => {
  const paths = new Map<string, Array<AnyRoute>>()
  for (const route of table) {
    const same = paths.get(route.path)
    if (same === undefined) paths.set(route.path, [route])
    else same.push(route)
  }
  return paths
}

/**
 * The methods a path answers: those declared for it, and `HEAD` wherever `GET` is (RFC 9110 §9.3.2:
 * the same answer without a body). In `Allow` order.
 */
export const allowedMethods = (routes: ReadonlyArray<AnyRoute>): ReadonlyArray<string> => {
  const declared = new Set<string>(routes.map((r) => r.method))
  if (declared.has("GET") && routes.every((r) => r.answersHead !== false)) declared.add("HEAD")
  return ["GET", "HEAD"].filter((m) => declared.has(m))
}

/** The OpenAPI form of a hono path: `/a/:id` → `/a/{id}`, `/a/:rest{.+}` → `/a/{rest}`. */
export const openApiPath = (path: string): string => path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, "{$1}")

/**
 * A matcher of `path`'s parameters in a request path (without the query) that hono would hand to the
 * handler as they are: each parameter one segment without `%` (so decoding changes nothing). Returns
 * the values in order, or `undefined` for any other path. For the hot path; never validates.
 *
 * @example
 * ```ts
 * plainParams("/v1/a/:x/b/:y")("/v1/a/1/b/2") // ["1", "2"]
 * ```
 */
export const plainParams = (path: string): ((requestPath: string) => ReadonlyArray<string> | undefined) => {
  const source = path
    .split("/")
    .map((segment) =>
      segment.startsWith(":") ? "([^/%?#]+)" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
    )
    .join("/")
  const pattern = new RegExp(`^${source}$`)
  return (requestPath) => {
    const match = pattern.exec(requestPath)
    return match === null ? undefined : match.slice(1)
  }
}

const headerOf = (c: Context<AppEnv>) => (name: string) => requestHeader(c, name)

/**
 * Registers `table` on `app`. Per path, in this order: the relay refusal and the credential check
 * (for every method, so a wrong method without credentials is still a 401), the handler of each
 * declared method (validating its params and query first), and `405` with `Allow` for the rest.
 */
export const registerRoutes = (
  app: Hono<AppEnv>,
  table: ReadonlyArray<AnyRoute>,
  deps: HandlerDeps,
  guards: Partial<Record<string, Guard>>,
): void => {
  for (const [path, routes] of byPath(table)) {
    const first = routes[0] as AnyRoute
    if (
      routes.some(
        (r) =>
          r.security !== first.security ||
          r.refuseRelayed !== first.refuseRelayed ||
          r.notAllowed !== first.notAllowed ||
          r.answersHead !== first.answersHead,
      )
    )
      throw new Error(`every method of ${path} must declare the same security, relay rule and 405`)
    const guard = first.security === undefined ? undefined : guards[first.security]
    if (first.refuseRelayed === true || guard !== undefined) {
      app.all(path, async (c, next) => {
        if (first.refuseRelayed === true) {
          const relayed = relayHeaderOf(headerOf(c))
          if (relayed !== undefined) {
            c.header("Cache-Control", "no-store")
            return c.json(
              errorBody(
                "ForwardedRequestRejected",
                `Requests carrying ${relayed} are refused: something relayed this request, and azmi-http does not hand tokens through a relay.`,
              ),
              400,
            )
          }
        }
        if (guard !== undefined && !guard.accepts(headerOf(c)))
          return c.json(guard.refusal.body, 401, guard.refusal.headers)
        await next()
      })
    }
    const handlers = new Map(
      routes.map((route) => {
        const handle = route.handler(deps)
        return [
          route.method,
          (c: Context<AppEnv>) => {
            let params: unknown
            if (route.params !== undefined) {
              const decoded = decodeInput(route.params, c.req.param(), "path")
              if (Either.isLeft(decoded)) return respondError(c, decoded.left)
              params = decoded.right
            }
            let query: unknown
            if (route.query !== undefined) {
              const raw = singleQuery(c)
              if (Either.isLeft(raw)) return respondError(c, raw.left)
              const decoded = decodeInput(route.query, raw.right, "query")
              if (Either.isLeft(decoded)) return respondError(c, decoded.left)
              query = decoded.right
            }
            return handle(c, { params, query })
          },
        ] as const
      }),
    )
    const allow = allowedMethods(routes).join(", ")
    const ownNotAllowed = first.notAllowed
    const notAllowed = (c: Context<AppEnv>) => {
      if (ownNotAllowed === undefined)
        return c.json(
          errorBody("MethodNotAllowed", `${c.req.method} is not allowed on ${path}; it answers ${allow}.`),
          405,
          { Allow: allow },
        )
      const res = ownNotAllowed(c)
      res.headers.set("Allow", allow)
      return res
    }
    // hono routes HEAD to GET handlers (and drops the body): HEAD has its own handler when declared.
    const get = handlers.get("GET")
    const head = handlers.get("HEAD") ?? (first.answersHead === false ? undefined : get)
    app.get(path, (c) => {
      const handle = c.req.method === "HEAD" ? head : get
      return handle === undefined ? notAllowed(c) : handle(c)
    })
    app.all(path, notAllowed)
  }
}
