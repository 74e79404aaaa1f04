/**
 * @azmi/http — azmi-http as a library: the hono app factory, its configuration, services and server.
 *
 * @example
 * ```ts
 * import { HttpServices, loadConfig, startServer } from "@azmi/http"
 * const config = loadConfig(process.env)
 * ```
 * @module
 */
export type { AccessLogRecord } from "./accessLog.js"
export { type AppOptions, createApp, maxUrlLength, version } from "./app.js"
export { defaultConfig, type HttpConfig, loadConfig, usage } from "./config.js"
export { ErrorBody, errorBody, type HttpError, renderError } from "./errors.js"
export { prometheusContentType, renderPrometheus } from "./metrics.js"
export { openApiDocument } from "./openapi.js"
export type { AnyRoute, AppEnv, Route } from "./routes/route.js"
export { allowedMethods, routeTable } from "./routes/table.js"
export { type RunningServer, type StartOptions, startServer } from "./server.js"
export * as GroupReads from "./services/GroupReads.js"
export * as HttpServices from "./services/HttpServices.js"
export * as TokenBroker from "./services/TokenBroker.js"
