/**
 * The DNS-rebinding guard: azmi-http answers only requests whose `Host` names the listener itself.
 *
 * A web page open in a browser on the same machine can make its own host name resolve to 127.0.0.1
 * and then send same-origin requests — with any header, `Metadata: true` included — to whatever
 * listens there. Such a request always carries the page's own name as its `Host`. So a request is
 * answered only when its `Host` is a loopback address or `localhost` (which no page can claim), an
 * IP address the connection was actually made to, a name the configuration lists
 * (`AZMI_HTTP_ALLOWED_HOSTS`), the configured listen host, or — with the IMDS front end on —
 * IMDS's own address 169.254.169.254 (what a client redirected to azmi-http still names). Anything
 * else gets `421 Misdirected Request`. The port is not compared: the attacker's page can use the same
 * port, so only the name tells the two apart.
 * @module
 */
import { isLoopbackHost } from "@azmi/core"
import type { HttpConfig } from "./config.js"

/** IMDS's address, which IMDS clients redirected to azmi-http (iptables, a sidecar) still name. */
export const imdsAddress = "169.254.169.254"

/** The host name of a `Host` value or URL authority: lower case, no port, no brackets, no trailing dot. */
export const hostName = (authority: string): string => {
  let host = authority.trim().toLowerCase()
  if (host.startsWith("[")) {
    const end = host.indexOf("]")
    host = end < 0 ? host : host.slice(1, end)
  } else {
    const colon = host.indexOf(":")
    // One colon: `name:port`. More: an unbracketed IPv6 address (not valid in Host; kept whole).
    if (colon >= 0 && host.indexOf(":", colon + 1) < 0) host = host.slice(0, colon)
  }
  return host.endsWith(".") ? host.slice(0, -1) : host
}

const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/

/** True when `host` is an IP address (v4, or v6 — which always has a colon), never a name. */
const isIpLiteral = (host: string): boolean => ipv4.test(host) || host.includes(":")

// Node reports an IPv4 peer of a dual-stack socket as `::ffff:a.b.c.d`.
const plainAddress = (address: string): string =>
  (address.startsWith("::ffff:") && ipv4.test(address.slice(7)) ? address.slice(7) : address).toLowerCase()

/** A `Host` check for one configuration: `accepts(authority, localAddress)`. */
export interface HostCheck {
  /**
   * Whether a request whose `Host` (or absolute-form authority) is `authority`, received on a
   * connection to `localAddress` (the socket's own address; `undefined` in-process), may be answered.
   */
  readonly accepts: (authority: string | undefined, localAddress: string | undefined) => boolean
}

/**
 * The check for `config`.
 *
 * @example
 * ```ts
 * const check = hostCheckOf({ host: "127.0.0.1", allowedHosts: [], imds: false })
 * check.accepts("127.0.0.1:8080", "127.0.0.1") // true
 * check.accepts("rebind.attacker.example:8080", "127.0.0.1") // false
 * ```
 */
export const hostCheckOf = (config: Pick<HttpConfig, "host" | "allowedHosts" | "imds">): HostCheck => {
  const names = new Set<string>(["localhost", ...config.allowedHosts.map(hostName)])
  const listen = hostName(config.host)
  // A wildcard listen address names no host; a name or an address does.
  if (listen !== "0.0.0.0" && listen !== "::" && listen !== "") names.add(listen)
  if (config.imds) names.add(imdsAddress)
  // Clients send the same Host again and again: the last one accepted (with its connection's
  // address) is remembered, so a hot path does not parse it per request.
  let acceptedAuthority: string | undefined
  let acceptedLocal: string | undefined
  return {
    accepts: (authority, localAddress) => {
      if (authority === acceptedAuthority && localAddress === acceptedLocal && authority !== undefined)
        return true
      if (authority === undefined || authority === "") return false
      const host = hostName(authority)
      const accepted =
        names.has(host) ||
        isLoopbackHost(host) ||
        // An address (never a name: a name is what rebinding forges) the client really connected to.
        (localAddress !== undefined && isIpLiteral(host) && plainAddress(localAddress) === host)
      if (accepted) {
        acceptedAuthority = authority
        acceptedLocal = localAddress
      }
      return accepted
    },
  }
}

/**
 * The authority of a request URL (`http://host:port/path` → `host:port`), as @hono/node-server built
 * it from the `Host` header (or from an absolute-form request target, which takes its place).
 */
export const authorityOf = (url: string): string | undefined => {
  const start = url.indexOf("//")
  if (start < 0) return undefined
  const end = url.indexOf("/", start + 2)
  return url.slice(start + 2, end < 0 ? undefined : end)
}
