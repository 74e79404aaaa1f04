/**
 * The IMDS HTTP server's request handler: control API under `/_emulator/`, then IMDS routes, each answered
 * through fault injection and recorded in the request log.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import { handleControl } from "../control.js"
import type { FaultController, FaultTarget } from "../faults.js"
import {
  BodyTooLargeError,
  jsonReply,
  type Reply,
  type RouteRequest,
  sendReply,
  toRouteRequest,
} from "../http.js"
import type { RequestLog } from "../requestLog.js"
import { answer, recordAnswer } from "../respond.js"
import type { VirtualMachine, WorldStore } from "../world/model.js"
import { handleIdentityInfo, handleInstance, handleVersions } from "./instance.js"
import type { ImdsLimiter } from "./limiter.js"
import { type ImdsTokenEndpoint, imdsError } from "./token.js"
import { IMDS_SERVER_HEADER } from "./versions.js"

export interface ImdsServerContext {
  readonly store: WorldStore
  readonly faults: FaultController
  readonly requests: RequestLog
  readonly limiter: ImdsLimiter
  readonly token: ImdsTokenEndpoint
  readonly vm: () => VirtualMachine | undefined
  readonly now: () => number
  /** Resolves once every world change so far is on disk (see `durableReply`). */
  readonly durable: () => Promise<void>
}

interface Route {
  readonly target: FaultTarget
  /** Subject to the managed-identity category limits. */
  readonly identity: boolean
  readonly produce: (req: RouteRequest) => Promise<Reply> | Reply
}

const notFound = (): Reply => jsonReply(404, { error: "Not found" }, { server: IMDS_SERVER_HEADER })

/** IMDS treats the `/metadata` prefix case-insensitively; `//metadata` (from a trailing-slash host) is tolerated. */
const route = (ctx: ImdsServerContext, path: string): Route => {
  const m = /^\/metadata(\/.*)?$/i.exec(path)
  if (m === null) return { target: "imds-instance", identity: false, produce: notFound }
  const rest = m[1] ?? ""
  if (/^\/identity\/oauth2\/token\/?$/i.test(rest)) {
    return { target: "imds-token", identity: true, produce: (req) => ctx.token.handle(req) }
  }
  if (/^\/identity\/info\/?$/i.test(rest)) {
    return {
      target: "imds-instance",
      identity: true,
      produce: (req) => handleIdentityInfo(req, ctx.store, ctx.vm()),
    }
  }
  const instance = /^\/instance(\/.*)?$/i.exec(rest)
  if (instance !== null) {
    const sub = instance[1] ?? ""
    return {
      target: "imds-instance",
      identity: false,
      produce: (req) => handleInstance(req, ctx.vm(), sub),
    }
  }
  if (/^\/versions\/?$/i.test(rest))
    return { target: "imds-instance", identity: false, produce: handleVersions }
  return { target: "imds-instance", identity: false, produce: notFound }
}

export const imdsRequestHandler =
  (ctx: ImdsServerContext) =>
  async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      // Only control paths go to the control API (it parses the URL itself; Azure paths never reach it).
      if (
        /^\/+_emulator(\/|\?|$)/.test(req.url ?? "") &&
        (await handleControl(req, res, {
          faults: ctx.faults,
          requests: ctx.requests,
          world: ctx.store,
          durable: ctx.durable,
        }))
      ) {
        return
      }
      let request: RouteRequest
      try {
        request = await toRouteRequest(req, res)
      } catch (e) {
        if (e instanceof BodyTooLargeError) {
          sendReply(res, imdsError(413, "invalid_request", "The request body is too large."))
          return
        }
        throw e
      }
      const r = route(ctx, request.path)
      const limited = r.identity
      if (limited && !ctx.limiter.tryAcquire()) {
        // Throttling happens in front of the route, so it neither consumes a scripted fault nor runs the route.
        const reply = imdsError(429, "too_many_requests", "Too many requests. Retry after some time.")
        sendReply(res, reply)
        recordAnswer(ctx, r.target, request, reply.status)
        return
      }
      try {
        await answer(ctx, r.target, request, req, res, () => r.produce(request))
      } finally {
        if (limited) ctx.limiter.release()
      }
    } catch {
      if (!res.headersSent) {
        res.writeHead(500, { "content-type": "application/json; charset=utf-8" })
        res.end(JSON.stringify({ error: "server_error", error_description: "Internal server error" }))
      } else res.destroy()
    }
  }
