/**
 * The hot paths: a GET of one group whose read is fresh in the core's cache, and (with IMDS's protocol
 * on) a GET of IMDS's token route that the default identity's cached token answers. Both are answered
 * synchronously, before hono routes the request: through hono the same answer takes several times the
 * CPU (its middleware chain is async, the route runs an effect), and cached reads are what neighbours
 * do most. Only the plain success is answered here; anything that needs a decision (other routes and
 * methods, a request body, a `Host` naming another server, a refused credential, draining, encoded
 * names, a cold or expired entry) is left to hono, which answers it — and a hit — the same way.
 *
 * One implementation for both ways in: `server.ts` hands it Node's own request (and writes the answer
 * with `writeHead` + `end`, no `Request` or `Response` objects), `app.fetch` (and so `app.request()` in
 * tests) a WHATWG request read into the same shape.
 * @module
 */
import type { ServerResponse } from "node:http"
import { Context } from "effect"
import { clientRequestIdOf, durationMsOf, groupHitLogLine, hitLogLine, isoAt, logPath } from "./accessLog.js"
import type { Guard, Security } from "./auth.js"
import type { HostCheck } from "./hostCheck.js"
import { requestRecorder } from "./metrics.js"
import { nextRequestId } from "./requestId.js"
import { getImdsToken, tokenHitHeaders, tokenHotPath } from "./routes/imds.js"
import { getResourceGroup, groupHeaderPairs } from "./routes/resourceGroups.js"
import { type AnyRoute, builtRuntime, type RouteDeps } from "./routes/route.js"
import { plainParams } from "./routes/table.js"
import { GroupReads } from "./services/GroupReads.js"
import { TokenBroker } from "./services/TokenBroker.js"

/**
 * A request as the hot paths read it: the shape of Node's `IncomingMessage` (which is passed as it
 * is), so a WHATWG request is read into it, not the other way round.
 */
export interface HotRequest {
  readonly method?: string | undefined
  /** The request target as sent (origin-form: path and query); anything else is hono's to route. */
  readonly url?: string | undefined
  /** By lower-case name; `host` is the authority the request names. */
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  /** The connection: the address the client connected to and the client's (none in-process). */
  readonly socket?:
    | { readonly localAddress?: string | undefined; readonly remoteAddress?: string | undefined }
    | undefined
}

/** The answer to a hot request: always 200. */
export interface HotAnswer {
  /**
   * Name, value, name, value…: lower-case names in the order the routed answer puts them on the wire,
   * without `Content-Length` (see {@link writeHotAnswer}).
   */
  readonly headers: Array<string>
  readonly body: string
  /** `Content-Length` of `body` when the path already knows it (a cached body is measured once). */
  readonly contentLength?: string | undefined
}

/** Answers a request from a cache, or says `undefined`: hono must route it. */
export type HotPath = (request: HotRequest) => HotAnswer | undefined

/** What the hot paths need from the app: its routes, credential and `Host` checks, log and state. */
export interface HotPathOptions {
  readonly runtime: RouteDeps["runtime"]
  readonly routes: ReadonlyArray<AnyRoute>
  readonly guards: Partial<Record<Security, Guard>>
  readonly hosts: HostCheck
  /** The access log; `undefined` when it is off. */
  readonly log: ((line: string) => void) | undefined
  readonly isDraining: () => boolean
}

/** Longest group-read target answered here; longer ones are hono's (which applies `maxUrlLength`). */
const maxHotTarget = 2_048

/**
 * The hot path of an app serving `routes`, or `undefined` when it serves no group reads (the health
 * listener).
 */
export const hotPathOf = (options: HotPathOptions): HotPath | undefined => {
  const { routes, guards, hosts, log, isDraining } = options
  if (!routes.includes(getResourceGroup)) return undefined
  const imdsHot = routes.includes(getImdsToken) ? tokenHotPath() : undefined
  const recordToken = requestRecorder(getImdsToken.path, "GET", 200)
  const tokenHitLogLine = hitLogLine(getImdsToken.path)
  const tokenPathJson = JSON.stringify(getImdsToken.path)
  const hotParams = plainParams(getResourceGroup.path)
  const hotGuard = getResourceGroup.security === undefined ? undefined : guards[getResourceGroup.security]
  const recordHit = requestRecorder(getResourceGroup.path, "GET", 200)
  // Neighbours mostly read the same few groups: the last hit's path is kept with its names (so the
  // route's pattern is not run again) and its escaped form for the log line.
  let lastPath = ""
  let lastNames: ReadonlyArray<string> = []
  let lastPathJson = '""'
  // …and the last body answered with its byte length (a read's body is rendered once per ARM read).
  let lastBody = ""
  let lastLength = "0"
  // The services exist once the runtime is built (by `startServer`, or the first routed request).
  let reads: typeof GroupReads.Service | undefined
  let broker: typeof TokenBroker.Service | undefined

  /**
   * What both hot paths check first: the request's header reader, or `undefined` when hono must
   * decide — a body (declared or chunked) is for the limit to judge, and a `Host` that names another
   * server (DNS rebinding) for the edge middleware to refuse.
   */
  const plainHeaders = (request: HotRequest): ((name: string) => string | undefined) | undefined => {
    const headers = request.headers
    if (headers["content-length"] !== undefined || headers["transfer-encoding"] !== undefined)
      return undefined
    const header = (name: string) => {
      const value = headers[name]
      return typeof value === "string" || value === undefined ? value : value.join(", ")
    }
    return hosts.accepts(header("host"), request.socket?.localAddress) ? header : undefined
  }

  // IMDS's token route, a plain cache hit of the default identity (see `tokenHotPath`).
  const imdsToken = (request: HotRequest, started: number, target: string, query: number) => {
    if (imdsHot === undefined || target.length > maxHotTarget) return undefined
    const header = plainHeaders(request)
    if (header === undefined) return undefined
    if (broker === undefined) {
      const runtime = builtRuntime(options.runtime)
      if (runtime === undefined) return undefined
      broker = Context.get(runtime.context, TokenBroker)
    }
    const body = imdsHot.answer(broker, header, request.socket, query < 0 ? "" : target.slice(query + 1))
    if (body === undefined) return undefined
    const id = nextRequestId()
    const clientRequestId = clientRequestIdOf(header("x-ms-client-request-id"))
    const headers = tokenHitHeaders(id, clientRequestId)
    const seconds = (performance.now() - started) / 1000
    recordToken(seconds)
    log?.(tokenHitLogLine(isoAt(Date.now()), id, clientRequestId, tokenPathJson, durationMsOf(seconds)))
    return { headers, body }
  }

  return (request) => {
    if (request.method !== "GET" || isDraining()) return undefined
    const started = performance.now()
    const url = request.url
    if (url === undefined || url.charCodeAt(0) !== 47) return undefined
    const query = url.indexOf("?")
    const path = query < 0 ? url : url.slice(0, query)
    if (imdsHot !== undefined && path === imdsHot.path) return imdsToken(request, started, url, query)
    const names = url.length > maxHotTarget ? undefined : path === lastPath ? lastNames : hotParams(path)
    if (names === undefined) return undefined
    if (reads === undefined) {
      const runtime = builtRuntime(options.runtime)
      if (runtime === undefined) return undefined
      reads = Context.get(runtime.context, GroupReads)
    }
    const header = plainHeaders(request)
    if (header === undefined) return undefined
    // A refused credential is for the route to answer.
    if (hotGuard !== undefined && !hotGuard.accepts(header)) return undefined
    // Last, as an answer counts as a cache hit.
    const read = reads.peek(names[0] as string, names[1] as string)
    if (read === undefined) return undefined
    const id = nextRequestId()
    const clientRequestId = clientRequestIdOf(header("x-ms-client-request-id"))
    const now = Date.now()
    const headers = groupHeaderPairs(read, reads.ttlSeconds, now, id, clientRequestId)
    // What the edge middleware does for a routed request, with the route, method and status known.
    const seconds = (performance.now() - started) / 1000
    recordHit(seconds)
    if (path !== lastPath) {
      lastPath = path
      lastNames = names
      lastPathJson = JSON.stringify(logPath(path))
    }
    log?.(groupHitLogLine(isoAt(now), id, clientRequestId, lastPathJson, durationMsOf(seconds)))
    const body = read.body
    if (body !== lastBody) {
      lastBody = body
      lastLength = String(Buffer.byteLength(body))
    }
    return { headers, body, contentLength: lastLength }
  }
}

/**
 * Writes a hot answer on Node's response exactly as @hono/node-server writes the routed one: its
 * headers, then the `Content-Length` the node server appends — so the bytes on the wire are the same
 * whichever path answered (a test compares them).
 */
export const writeHotAnswer = (answer: HotAnswer, response: ServerResponse): void => {
  answer.headers.push("Content-Length", answer.contentLength ?? String(Buffer.byteLength(answer.body)))
  response.writeHead(200, answer.headers)
  response.end(answer.body)
}

/** A hot answer as a WHATWG `Response` (for `app.fetch`). */
export const responseOf = (answer: HotAnswer): Response => {
  const headers: Record<string, string> = {}
  const pairs = answer.headers
  for (let i = 0; i < pairs.length; i += 2) headers[pairs[i] as string] = pairs[i + 1] as string
  return new Response(answer.body, { status: 200, headers })
}
