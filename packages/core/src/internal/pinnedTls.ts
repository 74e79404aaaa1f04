/**
 * TLS pinned to one certificate (Service Fabric): the server's certificate is accepted when — and only
 * when — the SHA-1 thumbprint of its DER equals the pinned one, whoever signed it (Service Fabric clusters
 * use their own certificates, which need not chain to a trusted CA). The check runs on the handshake,
 * before undici gets the socket: on a mismatch the socket is destroyed and not a byte of the request —
 * the secret header included — is ever written.
 * @internal
 */
import { isIP } from "node:net"
import { connect, type TLSSocket } from "node:tls"
import type { buildConnector } from "undici"
import { sameThumbprint, thumbprintOf } from "./thumbprint.js"
import { PIN_MISMATCH_CODE } from "./transportFailure.js"

/** The error a pinned connection fails with; `classifyTransport` reads it as `PinMismatch`. */
export class CertificatePinMismatch extends Error {
  readonly code = PIN_MISMATCH_CODE
  constructor(
    readonly expected: string,
    readonly actual: string,
    readonly variable: string,
  ) {
    super(`certificate thumbprint ${actual} is not the pinned ${expected} (${variable})`)
    this.name = "CertificatePinMismatch"
  }
}

/** Where to connect and what to pin. */
export interface PinOptions {
  /** The pinned thumbprint, normalised (40 upper-case hex digits). */
  readonly thumbprint: string
  /** The variable that holds it, named in the mismatch error. */
  readonly variable: string
  /** No TLS session within this many ms fails with `UND_ERR_CONNECT_TIMEOUT` (like azmi's other agents). */
  readonly connectTimeoutMs: number
}

const connectTimeout = (host: string, port: number, ms: number) =>
  Object.assign(new Error(`Connect Timeout Error (attempted address: ${host}:${port}, timeout: ${ms}ms)`), {
    code: "UND_ERR_CONNECT_TIMEOUT",
  })

/**
 * Open a TLS connection and keep it only if the certificate is the pinned one. No session is resumed (a
 * resumed session would skip presenting the certificate), so every connection is checked.
 */
export const pinnedConnect = (
  target: { readonly hostname: string; readonly port: number },
  options: PinOptions,
  callback: (error: Error | null, socket: TLSSocket | null) => void,
): void => {
  const host = target.hostname
  const socket = connect({
    host,
    port: target.port,
    // SNI only for names (Node warns for an IP address).
    ...(isIP(host) === 0 ? { servername: host } : {}),
    // The pin replaces CA verification; it is checked below, before the socket is handed on.
    rejectUnauthorized: false,
    ALPNProtocols: ["http/1.1"],
  })
  let settled = false
  const settle = (error: Error | null) => {
    if (settled) return
    settled = true
    clearTimeout(timer)
    socket.off("error", settle)
    if (error === null) {
      callback(null, socket)
    } else {
      socket.destroy()
      callback(error, null)
    }
  }
  const timer = setTimeout(
    () => settle(connectTimeout(host, target.port, options.connectTimeoutMs)),
    options.connectTimeoutMs,
  )
  socket.once("error", settle)
  socket.once("secureConnect", () => {
    const der = socket.getPeerCertificate()?.raw
    const actual = der === undefined ? "(no certificate)" : thumbprintOf(der)
    settle(
      der !== undefined && sameThumbprint(actual, options.thumbprint)
        ? null
        : new CertificatePinMismatch(options.thumbprint, actual, options.variable),
    )
  })
}

/** An undici connector that pins every connection it opens. */
export const pinnedConnector =
  (options: PinOptions): buildConnector.connector =>
  (target, callback) => {
    if (target.protocol !== "https:") {
      callback(new Error(`a pinned connection needs https (got ${target.protocol})`), null)
      return
    }
    pinnedConnect(
      { hostname: target.hostname, port: Number(target.port) || 443 },
      options,
      (error, socket) =>
        error === null && socket !== null
          ? callback(null, socket)
          : callback(error ?? new Error("no socket"), null),
    )
  }

/**
 * Connect to `url`'s host, compare the certificate with the pin and close: for `azmi doctor`, which
 * reports the presented thumbprint without sending anything.
 */
export const probeThumbprint = (
  url: string,
  options: PinOptions,
): Promise<{ readonly matches: true } | { readonly matches: false; readonly error: Error }> =>
  new Promise((resolve) => {
    const u = new URL(url)
    const hostname = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname
    pinnedConnect({ hostname, port: Number(u.port) || 443 }, options, (error, socket) => {
      socket?.destroy()
      resolve(error === null ? { matches: true } : { matches: false, error })
    })
  })
