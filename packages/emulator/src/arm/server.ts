/**
 * The ARM + login server's request handler: login paths go to the token issuer's endpoints, everything else
 * to ARM; each answer goes through fault injection and into the request log.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import { type FaultController, type FaultTarget, respondWithFaults } from "../faults.js"
import { BodyTooLargeError, durableReply, jsonReply, sendReply, toRouteRequest } from "../http.js"
import { isLoginPath, type LoginEndpoints } from "../login/routes.js"
import type { RequestLog } from "../requestLog.js"
import type { ArmRouter } from "./router.js"

export interface ArmServerContext {
  readonly arm: ArmRouter
  readonly login: LoginEndpoints
  readonly faults: FaultController
  readonly requests: RequestLog
  readonly now: () => number
  /** Resolves once every world change so far is on disk (see `durableReply`). */
  readonly durable: () => Promise<void>
}

export const armRequestHandler =
  (ctx: ArmServerContext) =>
  async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      let request: Awaited<ReturnType<typeof toRouteRequest>>
      try {
        request = await toRouteRequest(req, res)
      } catch (e) {
        if (e instanceof BodyTooLargeError) {
          sendReply(
            res,
            jsonReply(413, {
              error: { code: "RequestEntityTooLarge", message: "The request body is too large." },
            }),
          )
          return
        }
        throw e
      }
      const target: FaultTarget = isLoginPath(request.path) ? "login" : "arm"
      const status = await respondWithFaults({
        faults: ctx.faults,
        target,
        path: request.rawPath,
        req,
        res,
        produce: () =>
          durableReply(
            () => (target === "login" ? ctx.login.handle(request) : ctx.arm.handle(request)),
            ctx.durable,
          ),
      })
      ctx.requests.record({
        at: ctx.now(),
        target,
        method: request.method,
        path: request.rawPath,
        query: request.rawQuery,
        status,
      })
    } catch {
      if (!res.headersSent) {
        sendReply(
          res,
          jsonReply(500, {
            error: { code: "InternalServerError", message: "Encountered internal server error." },
          }),
        )
      } else res.destroy()
    }
  }
