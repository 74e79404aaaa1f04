/**
 * The emulator's control API, served on the IMDS server under `/_emulator/` (never an Azure path) and only to
 * loopback clients:
 *
 * | method | path | effect |
 * |---|---|---|
 * | POST | `/_emulator/faults` | inject a {@link FaultSpec} (JSON; `count` may be `"Infinity"`) → 201 `{"id"}` |
 * | GET | `/_emulator/faults` | the active faults → 200 `{"faults":[{id,spec,remaining,applied}]}` |
 * | DELETE | `/_emulator/faults` | clear every fault → 204 |
 * | DELETE | `/_emulator/faults/{id}` | remove one fault → 204, or 404 if it is not active |
 * | GET | `/_emulator/requests` | `{"requests":[…],"counts":{total,byTarget,byStatus},"count"?}`; query `target`, `method`, `pathIncludes`, `status` filter both |
 * | DELETE | `/_emulator/requests` | reset the request log → 204 |
 * | GET | `/_emulator/world` | the current world as JSON |
 *
 * Errors are `{"error":{"code","message"}}` with 400 (bad JSON / invalid fault), 403 (not loopback),
 * 404 (unknown path), 405 (wrong method, with `Allow`), 413 (body over 64 KiB).
 *
 * @example
 * ```ts
 * const server = http.createServer(async (req, res) => {
 *   if (await handleControl(req, res, { faults, requests, world, durable: () => state.durable() })) return
 *   // … IMDS routes
 * })
 * ```
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import {
  type FaultController,
  FaultSpecError,
  type FaultTarget,
  faultTargets,
  parseFaultSpec,
} from "./faults.js"
import { BodyTooLargeError, readBody } from "./http.js"
import type { RequestFilter, RequestLog } from "./requestLog.js"

export interface ControlContext {
  readonly faults: FaultController
  readonly requests: RequestLog
  readonly world: { toJSON(): unknown }
  /** Resolves once every world change so far is on disk: a reply showing the world waits for it. */
  readonly durable: () => Promise<void>
}

const PREFIX = "/_emulator"
const MAX_BODY_BYTES = 64 * 1024

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (::ffff:127.x.x.x). */
export const isLoopbackAddress = (address: string | undefined): boolean => {
  if (address === undefined) return false
  const a = address.toLowerCase()
  if (a === "::1" || a === "0:0:0:0:0:0:0:1") return true
  const v4 = a.startsWith("::ffff:") ? a.slice("::ffff:".length) : a
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4)
}

const sendJson = (
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
) => {
  const body = JSON.stringify(value, (_k, v) => (v === Number.POSITIVE_INFINITY ? "Infinity" : v))
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(body)),
    "cache-control": "no-store",
    ...headers,
  })
  res.end(body)
}

const sendError = (
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
) => sendJson(res, status, { error: { code, message } }, headers)

const noContent = (res: ServerResponse) => {
  res.writeHead(204, { "cache-control": "no-store" })
  res.end()
}

const parseFilter = (params: URLSearchParams): RequestFilter | string => {
  const filter: { -readonly [K in keyof RequestFilter]: RequestFilter[K] } = {}
  const target = params.get("target")
  if (target !== null) {
    if (!faultTargets.includes(target as never)) return `target: must be one of ${faultTargets.join(", ")}`
    filter.target = target as FaultTarget
  }
  const method = params.get("method")
  if (method !== null) filter.method = method
  const pathIncludes = params.get("pathIncludes")
  if (pathIncludes !== null) filter.pathIncludes = pathIncludes
  const status = params.get("status")
  if (status !== null) {
    if (!/^\d{1,3}$/.test(status)) return "status: must be an integer"
    filter.status = Number(status)
  }
  return filter
}

const methodNotAllowed = (res: ServerResponse, allow: string) =>
  sendError(res, 405, "MethodNotAllowed", `Allowed methods: ${allow}.`, { allow })

const handleFaults = async (
  req: IncomingMessage,
  res: ServerResponse,
  ctx: ControlContext,
  rest: string,
  body: string,
) => {
  if (rest !== "") {
    if (req.method !== "DELETE") return methodNotAllowed(res, "DELETE")
    let id: string
    try {
      id = decodeURIComponent(rest)
    } catch {
      return sendError(res, 404, "FaultNotFound", "No active fault with that id.")
    }
    return ctx.faults.remove(id)
      ? noContent(res)
      : sendError(res, 404, "FaultNotFound", `No active fault '${id}'.`)
  }
  switch (req.method) {
    case "POST": {
      let json: unknown
      try {
        json = JSON.parse(body)
      } catch {
        return sendError(res, 400, "InvalidJson", "The body must be a JSON FaultSpec.")
      }
      try {
        const { id } = ctx.faults.inject(parseFaultSpec(json))
        return sendJson(res, 201, { id })
      } catch (e) {
        if (e instanceof FaultSpecError) return sendError(res, 400, "InvalidFaultSpec", e.message)
        throw e
      }
    }
    case "GET":
      return sendJson(res, 200, { faults: ctx.faults.list() })
    case "DELETE":
      ctx.faults.clear()
      return noContent(res)
    default:
      return methodNotAllowed(res, "GET, POST, DELETE")
  }
}

const handleRequests = (
  req: IncomingMessage,
  res: ServerResponse,
  ctx: ControlContext,
  params: URLSearchParams,
) => {
  switch (req.method) {
    case "GET": {
      const filter = parseFilter(params)
      if (typeof filter === "string") return sendError(res, 400, "InvalidFilter", filter)
      const byTarget: Record<string, number> = {}
      for (const target of faultTargets) byTarget[target] = ctx.requests.count({ ...filter, target })
      const requests = ctx.requests.list(filter)
      const byStatus: Record<string, number> = {}
      for (const r of requests) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1
      return sendJson(res, 200, {
        requests,
        counts: { total: ctx.requests.count(filter), byTarget, byStatus },
      })
    }
    case "DELETE":
      ctx.requests.reset()
      return noContent(res)
    default:
      return methodNotAllowed(res, "GET, DELETE")
  }
}

/**
 * Serve a control-API request. Resolves `false` (touching nothing) when the path is not under `/_emulator`,
 * so the caller goes on with its Azure routes; otherwise answers and resolves `true`.
 */
export const handleControl = async (
  req: IncomingMessage,
  res: ServerResponse,
  ctx: ControlContext,
): Promise<boolean> => {
  const url = new URL(req.url ?? "/", "http://emulator.invalid")
  const path = url.pathname.replace(/\/{2,}/g, "/")
  if (path !== PREFIX && !path.startsWith(`${PREFIX}/`)) return false

  if (!isLoopbackAddress(req.socket.remoteAddress)) {
    // Not a word read from a stranger: not even the body (the connection closes after the answer).
    res.setHeader("connection", "close")
    sendError(res, 403, "Forbidden", "The emulator control API answers loopback clients only.")
    return true
  }
  const rest = path.slice(PREFIX.length).replace(/\/$/, "")
  try {
    // Read (and bound) every request's body, whatever the method, before answering.
    let body: string
    try {
      body = await readBody(req, res, MAX_BODY_BYTES)
    } catch (e) {
      if (e instanceof BodyTooLargeError) {
        sendError(res, 413, "PayloadTooLarge", `The body must be at most ${MAX_BODY_BYTES} bytes.`)
        return true
      }
      throw e
    }
    if (rest === "/faults" || rest.startsWith("/faults/")) {
      await handleFaults(req, res, ctx, rest.slice("/faults/".length), body)
    } else if (rest === "/requests") {
      handleRequests(req, res, ctx, url.searchParams)
    } else if (rest === "/world") {
      if (req.method === "GET") {
        const world = ctx.world.toJSON()
        await ctx.durable()
        sendJson(res, 200, world)
      } else methodNotAllowed(res, "GET")
    } else {
      sendError(res, 404, "NotFound", `No control endpoint '${path}'.`)
    }
  } catch (e) {
    if (!res.headersSent) sendError(res, 500, "InternalError", e instanceof Error ? e.message : String(e))
    else res.destroy()
  }
  return true
}
