/**
 * The ARM + login server's request handler: login paths go to the token issuer's endpoints, `/oidc/…` to the
 * AKS clusters' OIDC issuers, everything else to ARM; each answer goes through fault injection and into the request log.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import type { FaultController, FaultTarget } from "../faults.js"
import { isClusterIssuerPath } from "../federation/clusters.js"
import { BodyTooLargeError, jsonReply, sendReply, toRouteRequest } from "../http.js"
import { isLoginPath, type LoginEndpoints } from "../login/routes.js"
import type { RequestLog } from "../requestLog.js"
import { answer } from "../respond.js"
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
      const target: FaultTarget = isLoginPath(request.path)
        ? "login"
        : isClusterIssuerPath(request.path)
          ? "aks-oidc"
          : "arm"
      await answer(ctx, target, request, req, res, () =>
        target === "login"
          ? ctx.login.handle(request)
          : target === "aks-oidc"
            ? ctx.login.clusters.handle(request)
            : ctx.arm.handle(request),
      )
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
