/**
 * Small HTTP helpers shared by the emulator's servers: body reading, query parsing and JSON replies.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import type { Reply } from "./faults.js"

export type { Reply }

/** A request as route handlers see it: already read and parsed, independent of the socket. */
export interface RouteRequest {
  readonly method: string
  /** Raw path as received (no query). */
  readonly rawPath: string
  /** Path with runs of slashes collapsed. */
  readonly path: string
  /** Raw query string without "?". */
  readonly rawQuery: string
  readonly query: URLSearchParams
  readonly headers: IncomingMessage["headers"]
  readonly body: string
  readonly remoteAddress: string | undefined
}

export const JSON_CONTENT_TYPE = "application/json; charset=utf-8"

export const MAX_BODY_BYTES = 1024 * 1024

export class BodyTooLargeError extends Error {}

/**
 * How much of a body past the limit is still read (and discarded) before the 413: a client that writes its
 * whole body before reading the answer then gets the 413 instead of a reset connection. A longer body (an
 * endless one) is cut off there, and its connection closed after the answer.
 */
const DRAIN_PAST_LIMIT_BYTES = 8 * 1024 * 1024

/**
 * Reads the whole body as UTF-8, counting the bytes that arrive — so the limit holds for a chunked body as for
 * one with a Content-Length, and for every method (a GET's body is read and bounded too, never skipped). Over
 * `limit`, it rejects with {@link BodyTooLargeError} (the caller answers 413) once the body has ended, or once
 * {@link DRAIN_PAST_LIMIT_BYTES} more have come — then it stops reading and marks the response
 * `Connection: close`, so the rest is never read.
 */
export const readBody = (
  req: IncomingMessage,
  res: ServerResponse,
  limit = MAX_BODY_BYTES,
): Promise<string> =>
  new Promise((resolve, reject) => {
    let chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size <= limit) return void chunks.push(chunk)
      chunks = []
      if (size > limit + DRAIN_PAST_LIMIT_BYTES) {
        req.off("data", onData)
        req.pause()
        res.setHeader("connection", "close")
        reject(new BodyTooLargeError("request body too large"))
      }
    }
    req.on("data", onData)
    req.on("end", () =>
      size > limit
        ? reject(new BodyTooLargeError("request body too large"))
        : resolve(Buffer.concat(chunks).toString("utf8")),
    )
    req.on("error", reject)
  })

/** Splits `req.url` into raw path and raw query without normalising anything. */
export const splitUrl = (url: string | undefined): { rawPath: string; rawQuery: string } => {
  const u = url ?? "/"
  const q = u.indexOf("?")
  return q === -1 ? { rawPath: u, rawQuery: "" } : { rawPath: u.slice(0, q), rawQuery: u.slice(q + 1) }
}

/** Reads and parses a request; rejects with {@link BodyTooLargeError} for a body over {@link MAX_BODY_BYTES}. */
export const toRouteRequest = async (req: IncomingMessage, res: ServerResponse): Promise<RouteRequest> => {
  const { rawPath, rawQuery } = splitUrl(req.url)
  const method = (req.method ?? "GET").toUpperCase()
  const body = await readBody(req, res)
  return {
    method,
    rawPath,
    path: rawPath.replace(/\/{2,}/g, "/"),
    rawQuery,
    query: new URLSearchParams(rawQuery),
    headers: req.headers,
    body,
    remoteAddress: req.socket.remoteAddress,
  }
}

/** The first value of a header (Node joins some repeated headers; we take what is there). */
export const header = (headers: IncomingMessage["headers"], name: string): string | undefined => {
  const v = headers[name.toLowerCase()]
  return Array.isArray(v) ? v[0] : v
}

export const jsonReply = (status: number, value: unknown, headers: Record<string, string> = {}): Reply => ({
  status,
  headers: { "content-type": JSON_CONTENT_TYPE, ...headers },
  body: JSON.stringify(value),
})

export const textReply = (status: number, text: string, headers: Record<string, string> = {}): Reply => ({
  status,
  headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  body: text,
})

export const emptyReply = (status: number, headers: Record<string, string> = {}): Reply => ({
  status,
  headers,
  body: "",
})

/**
 * Runs a route, then holds its reply until every world change made so far is on disk (`durable`, from the state
 * file; immediate without one). So a change is acknowledged only once it survives a crash, and no reply shows a
 * change that a crash could still take back. A failed write rejects: the client gets a 500, not a success.
 */
export const durableReply = async (
  produce: () => Promise<Reply> | Reply,
  durable: () => Promise<void>,
): Promise<Reply> => {
  const reply = await produce()
  await durable()
  return reply
}

/** A 405 reply (in its route family's error shape) with the `Allow` header naming the methods the route takes. */
export const withAllow = (reply: Reply, allow: ReadonlyArray<string>): Reply => ({
  ...reply,
  headers: { ...reply.headers, allow: allow.join(", ") },
})

/** Writes a reply directly (for answers that bypass fault injection, e.g. throttling). */
export const sendReply = (res: ServerResponse, reply: Reply): void => {
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(reply.headers)) headers[k.toLowerCase()] = v
  if (reply.status !== 204 && reply.status !== 304)
    headers["content-length"] = String(Buffer.byteLength(reply.body))
  res.writeHead(reply.status, headers)
  res.end(reply.status === 204 || reply.status === 304 ? undefined : reply.body)
}
