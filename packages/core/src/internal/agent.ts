/**
 * The undici `Agent` behind every azmi transport (IMDS and the other token endpoints, ARM): a TCP
 * (and TLS) connect timeout that fires when it says, optional extra trusted CAs, and no response
 * timeouts of its own (each attempt is bounded by an Effect timeout, which aborts the request).
 *
 * undici runs its own connect timeout on "fast timers" that tick every ~500 ms and start on the next
 * tick, so a 1 s timeout fired after 1.5–2 s: at a dead IMDS (packets dropped) `azmi token` waited up
 * to a second longer than its budget. The timeout here is a plain timer.
 * @internal
 */
import type { Socket } from "node:net"
import { createSecureContext, rootCertificates } from "node:tls"
import { Agent, buildConnector, errors } from "undici"

/** Options of {@link makeAgent}. */
export interface AgentOptions {
  /** No connection (TCP, and TLS for https) within this many ms fails with `UND_ERR_CONNECT_TIMEOUT`. */
  readonly connectTimeoutMs: number
  /** Extra trusted CA certificate(s), PEM, added to Node's default roots. */
  readonly caCert?: string | undefined
  /** Most connections per origin (further requests queue on open ones). Default: unlimited. */
  readonly connections?: number | undefined
}

/**
 * `connect` with a connect timeout of `timeoutMs` on a plain timer: when it fires, the socket is
 * destroyed with undici's own `ConnectTimeoutError`, as undici's timeout would.
 */
export const withConnectTimeout =
  (connect: buildConnector.connector, timeoutMs: number): buildConnector.connector =>
  (options, callback) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    let settled = false
    // undici's connector returns the socket it is connecting (its type says `void`).
    const socket = connect(options, (...result) => {
      settled = true
      clearTimeout(timer)
      callback(...result)
    }) as unknown as Socket | undefined
    if (settled) return
    timer = setTimeout(() => {
      socket?.destroy(
        new errors.ConnectTimeoutError(
          `Connect Timeout Error (attempted address: ${options.hostname}:${options.port}, timeout: ${timeoutMs}ms)`,
        ),
      )
    }, timeoutMs)
  }

/** An Agent for {@link AgentOptions}; the caller destroys it. */
export const makeAgent = (options: AgentOptions): Agent =>
  new Agent({
    connect: withConnectTimeout(
      buildConnector({
        // 0: none of undici's own (see the module comment).
        timeout: 0,
        // One SecureContext for the agent's life: passing `ca` instead makes every new TLS connection
        // parse Node's ~140 root certificates again (tens of ms of CPU each).
        ...(options.caCert === undefined
          ? {}
          : { secureContext: createSecureContext({ ca: [...rootCertificates, options.caCert] }) }),
      }),
      options.connectTimeoutMs,
    ),
    ...(options.connections === undefined ? {} : { connections: options.connections }),
    headersTimeout: 0,
    bodyTimeout: 0,
  })
