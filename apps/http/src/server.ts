/**
 * Listening and graceful shutdown, separate from `main.ts` so tests and benchmarks can start the
 * real server in-process.
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo, Socket } from "node:net"
import { getRequestListener } from "@hono/node-server"
import type { Layer } from "effect"
import { ManagedRuntime } from "effect"
import { createApp, hotPathOfApp } from "./app.js"
import type { HttpConfig } from "./config.js"
import { writeHotAnswer } from "./hotPath.js"
import { batchedSink } from "./logSink.js"
import { reportDroppedLogLines } from "./metrics.js"
import { healthListenerRoutes, routeTable } from "./routes/table.js"
import type { HttpServices } from "./services/HttpServices.js"

/** A running azmi-http. */
export interface RunningServer {
  /** `http://host:port`. */
  readonly url: string
  readonly port: number
  /** `http://host:port` of the health listener (`AZMI_HTTP_HEALTH_PORT`), when there is one. */
  readonly healthUrl?: string | undefined
  /** Stops accepting, lets in-flight requests finish (up to `shutdownTimeoutMs`), then releases the runtime. Idempotent. */
  readonly close: () => Promise<void>
}

/** Options of {@link startServer}. */
export interface StartOptions {
  readonly config: HttpConfig
  /** The services (production: `HttpServices.live(config)`). */
  readonly layer: Layer.Layer<HttpServices, unknown>
  /** Access-log sink (default stdout). */
  readonly log?: ((line: string) => void) | undefined
}

/**
 * Builds the runtime, starts listening and resolves once the port is bound. A layer that fails to
 * build (e.g. `InvalidConfiguration`) rejects before anything listens.
 *
 * @example
 * ```ts
 * const server = await startServer({ config, layer: HttpServices.live(config) })
 * console.log(server.url)
 * await server.close()
 * ```
 */
export const startServer = async (options: StartOptions): Promise<RunningServer> => {
  const { config } = options
  const runtime = ManagedRuntime.make(options.layer as Layer.Layer<HttpServices, never>)
  // Build eagerly: configuration errors surface at start, not on the first request.
  await runtime.runtime()
  let draining = false
  let log = options.log
  if (log === undefined) {
    const sink = batchedSink()
    reportDroppedLogLines(sink.dropped)
    log = sink
  }
  const app = createApp({ runtime, config, log, isDraining: () => draining })
  let main: Listener
  try {
    main = await listen(app, config.host, config.port, config, () => draining)
  } catch (error) {
    // Nothing listens (a port in use, an address not on this machine): release what was built.
    await runtime.dispose()
    throw error
  }
  const listeners = [main]
  if (config.healthPort !== undefined) {
    const health = createApp({
      runtime,
      config,
      log,
      isDraining: () => draining,
      routes: healthListenerRoutes(routeTable(config)),
    })
    try {
      listeners.push(
        await listen(health, config.healthHost ?? config.host, config.healthPort, config, () => draining),
      )
    } catch (error) {
      await main.close(config.shutdownTimeoutMs)
      await runtime.dispose()
      throw error
    }
  }
  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= (async () => {
      draining = true
      await Promise.all(listeners.map((l) => l.close(config.shutdownTimeoutMs)))
      await runtime.dispose()
      // The log's last batch, for as long as a drain may take: a reader that stopped reading (or a
      // hung disk) must not keep a stopping server alive.
      if ("close" in log && typeof log.close === "function") {
        let timer: ReturnType<typeof setTimeout> | undefined
        await Promise.race([
          log.close(),
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, config.shutdownTimeoutMs)
          }),
        ])
        clearTimeout(timer)
      }
    })()
    return closing
  }
  const healthListener = listeners[1]
  return {
    url: main.url,
    port: main.port,
    ...(healthListener === undefined ? {} : { healthUrl: healthListener.url }),
    close,
  }
}

/**
 * The server's request listener: a cached read is answered on Node's own request (`hotPath.ts`),
 * without the `Request`, `Response` and response writer of @hono/node-server, which serves the rest
 * — after `routing(incoming, outgoing)`, which sees only those (a hot answer is written before the
 * listener returns, so no request is left in flight).
 * @internal
 */
export const requestListener = (
  app: ReturnType<typeof createApp>,
  hostname: string,
  routing: (incoming: IncomingMessage, outgoing: ServerResponse) => void,
): ((incoming: IncomingMessage, outgoing: ServerResponse) => void) => {
  const split = hotPathOfApp(app)
  const routed = getRequestListener(split?.routed ?? app.fetch, { hostname })
  const route = (incoming: IncomingMessage, outgoing: ServerResponse) => {
    routing(incoming, outgoing)
    void routed(incoming, outgoing)
  }
  if (split === undefined) return route
  const hot = split.hot
  return (incoming, outgoing) => {
    const answer = hot(incoming)
    if (answer === undefined) route(incoming, outgoing)
    else writeHotAnswer(answer, outgoing)
  }
}

/** One listening server and how to drain and close it. */
interface Listener {
  readonly url: string
  readonly port: number
  /** Stops accepting, closes idle connections, waits for busy ones up to `timeoutMs`, then closes all. */
  readonly close: (timeoutMs: number) => Promise<void>
}

const listen = async (
  app: ReturnType<typeof createApp>,
  hostname: string,
  portWanted: number,
  config: HttpConfig,
  isDraining: () => boolean,
): Promise<Listener> => {
  // Requests each connection is serving (routed ones: a hot answer is written at once). At shutdown
  // a connection serving none is closed at once — Node's closeIdleConnections() leaves one that has
  // not sent a (whole) request yet, and close() would wait for it until shutdownTimeoutMs — and one
  // that is busy closes after its response.
  const serving = new Map<Socket, number>()
  const routing = (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket
    serving.set(socket, (serving.get(socket) ?? 0) + 1)
    response.once("close", () => {
      const left = (serving.get(socket) ?? 1) - 1
      if (!serving.has(socket)) return
      serving.set(socket, left)
      // Draining: the response said `Connection: close`; do not wait for the client to hang up.
      if (isDraining() && left === 0) socket.destroySoon()
    })
  }
  const server = createServer(
    { maxHeaderSize: config.maxHeaderBytes, requestTimeout: 60_000 },
    requestListener(app, hostname, routing),
  )
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(portWanted, hostname, () => {
      server.off("error", reject)
      resolve()
    })
  })
  server.on("connection", (socket: Socket) => {
    serving.set(socket, 0)
    socket.once("close", () => serving.delete(socket))
  })
  // destroySoon, not destroy: a hot answer may still be on its way out of a connection that serves
  // nothing any more; one with nothing to send closes at once.
  const closeUnserved = () => {
    for (const [socket, requests] of serving) if (requests === 0) socket.destroySoon()
  }
  const { port } = server.address() as AddressInfo
  const host = hostname.includes(":") ? `[${hostname}]` : hostname
  return {
    url: `http://${host}:${port}`,
    port,
    close: (timeoutMs) =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), timeoutMs)
        force.unref()
        // close() stops accepting and waits for open connections: those serving no request are
        // closed now, busy ones after their response (which carries `Connection: close`).
        server.close(() => {
          clearTimeout(force)
          resolve()
        })
        closeUnserved()
      }),
  }
}
