/**
 * Answer one Azure-facing request through fault injection and record it in the request log — the one way
 * every emulated endpoint (IMDS, ARM, login, each host's identity endpoint) answers.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import { type FaultController, type FaultTarget, type Reply, respondWithFaults } from "./faults.js"
import { durableReply, type RouteRequest } from "./http.js"
import type { RequestLog } from "./requestLog.js"

export interface AnswerContext {
  readonly faults: FaultController
  readonly requests: RequestLog
  readonly now: () => number
  /**
   * Resolves once every change made so far is on disk (`--state`): a reply is sent only after it, so no
   * answer acknowledges — or shows — a change that a crash could undo. Absent: nothing is persisted.
   */
  readonly durable?: (() => Promise<void>) | undefined
}

export const answer = async (
  ctx: AnswerContext,
  target: FaultTarget,
  request: RouteRequest,
  req: IncomingMessage,
  res: ServerResponse,
  produce: () => Promise<Reply> | Reply,
): Promise<number> => {
  const status = await respondWithFaults({
    faults: ctx.faults,
    target,
    path: request.rawPath,
    req,
    res,
    produce:
      ctx.durable === undefined ? produce : () => durableReply(produce, ctx.durable as () => Promise<void>),
  })
  recordAnswer(ctx, target, request, status)
  return status
}

export const recordAnswer = (
  ctx: Pick<AnswerContext, "requests" | "now">,
  target: FaultTarget,
  request: RouteRequest,
  status: number,
): void => {
  ctx.requests.record({
    at: ctx.now(),
    target,
    method: request.method,
    path: request.rawPath,
    query: request.rawQuery,
    status,
  })
}
