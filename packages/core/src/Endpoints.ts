/**
 * Which hosts are this machine's, and the two rules endpoint URLs follow — written once for the core's
 * configuration, `ArmClient` and azmi-http:
 *
 * - a **managed-identity endpoint** (IMDS, and every host's: `IDENTITY_ENDPOINT`, `MSI_ENDPOINT`,
 *   `IMDS_ENDPOINT`) must be on a loopback or link-local host (like the newest MSAL): a token request, or
 *   a host's secret (`IDENTITY_HEADER`, `MSI_SECRET`), must never leave the machine because somebody set
 *   an environment variable;
 * - a **service URL** that bearer tokens or client secrets are sent to (ARM, the token issuer) must be
 *   https, or plain http to a loopback host only: link-local is still a network, and clear text on it
 *   can be read by the other hosts on the link.
 *
 * Each rule answers with the reason a value breaks it (a sentence fragment); callers name the setting.
 * @module
 */
import { Either } from "effect"

/**
 * `host` as WHATWG URL parsing normalises it (lower case, IPv4 in dotted-quad form — `127.1` and
 * `2130706433` become `127.0.0.1` — IPv6 in brackets), or `undefined` when it is not a host. Accepts
 * a bare IPv6 address (`::1`, as a listen address is written) too.
 */
const normalise = (host: string): string | undefined => {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host
  try {
    return new URL(`http://${bare.includes(":") ? `[${bare}]` : bare}/`).hostname
  } catch {
    return undefined
  }
}

const dottedQuad = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/

/** The IPv4 address of `::ffff:a.b.c.d` (as WHATWG writes it: `[::ffff:7f00:1]`), else the host itself. */
const unmapped = (hostname: string): string => {
  const mapped = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/.exec(hostname)
  if (mapped === null) return hostname
  const [high, low] = [Number.parseInt(mapped[1]!, 16), Number.parseInt(mapped[2]!, 16)]
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`
}

/**
 * True when `host` can only be reached from this machine: `localhost`, 127.0.0.0/8, `::1`, or an
 * IPv4-mapped loopback address — in any form URL parsing normalises (`127.1`, `[::1]`, `LOCALHOST`).
 *
 * @example
 * ```ts
 * import { isLoopbackHost } from "@azmi/core"
 * isLoopbackHost("127.1") // true
 * isLoopbackHost("169.254.169.254") // false (link-local, see isLocalHost)
 * ```
 */
export const isLoopbackHost = (host: string): boolean => {
  const h = normalise(host)
  if (h === undefined) return false
  const v4 = dottedQuad.exec(unmapped(h))
  return h === "localhost" || h === "[::1]" || (v4 !== null && v4[1] === "127")
}

/** True for 169.254.0.0/16 (IMDS's own network), `fe80::/10` and IPv4-mapped 169.254.0.0/16. */
export const isLinkLocalHost = (host: string): boolean => {
  const h = normalise(host)
  if (h === undefined) return false
  const v4 = dottedQuad.exec(unmapped(h))
  if (v4 !== null) return v4[1] === "169" && v4[2] === "254"
  // fe80::/10 is fe80–febf as a full first hextet; "fe8::" is 0fe8::, not link-local.
  return /^\[fe[89ab][0-9a-f]:/.test(h)
}

/**
 * True for a loopback or link-local host (`localhost`, 127.0.0.0/8, 169.254.0.0/16, `[::1]`,
 * `[fe80::/10]`), the hosts a managed-identity endpoint may be on.
 */
export const isLocalHost = (host: string): boolean => isLoopbackHost(host) || isLinkLocalHost(host)

const parseUrl = (raw: string): URL | undefined => {
  try {
    return new URL(raw)
  } catch {
    return undefined
  }
}

/**
 * The managed-identity endpoint rule: an absolute http(s) URL without user info whose host is loopback
 * or link-local (unless `allowNonLocal`). `keep` says whether the path matters (`url`: App Service's
 * full token URL) or only the origin (`origin`: IMDS's base URL). Right: the endpoint; left: the reason.
 */
export const managedIdentityEndpoint = (
  raw: string,
  allowNonLocal: boolean,
  keep: "origin" | "url",
): Either.Either<string, string> => {
  const url = parseUrl(raw.trim())
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
    return Either.left(`must be an absolute http(s) URL (got ${JSON.stringify(raw.slice(0, 100))})`)
  }
  if (url.username !== "" || url.password !== "") return Either.left("must not contain user info (user@host)")
  if (!allowNonLocal && !isLocalHost(url.hostname)) {
    return Either.left(
      `host ${url.hostname} is neither loopback nor link-local; set AZMI_ALLOW_REMOTE_ENDPOINTS=1 to allow it`,
    )
  }
  return Either.right(keep === "origin" ? url.origin : url.href)
}

/** `url` without its query and fragment: what a source calls (it adds its own query), names in errors and keys caches by. */
export const withoutQuery = (url: string): string => {
  const u = new URL(url)
  u.search = ""
  u.hash = ""
  return u.href
}

/**
 * The service URL rule (ARM, the token issuer): an absolute http(s) URL with no user info, query or
 * fragment, over https — or plain http to a loopback host. Right: origin and path without trailing
 * slashes; left: the reason.
 *
 * @example
 * ```ts
 * serviceUrl("https://management.azure.com/") // Either.right("https://management.azure.com")
 * serviceUrl("http://management.azure.com") // Either.left("must use https …")
 * ```
 */
export const serviceUrl = (raw: string): Either.Either<string, string> => {
  const url = parseUrl(raw.trim())
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
    return Either.left(`must be an absolute http(s) URL (got ${JSON.stringify(raw.slice(0, 100))})`)
  }
  if (url.username !== "" || url.password !== "") return Either.left("must not contain user info (user@host)")
  if (url.search !== "" || url.hash !== "") return Either.left("must not contain a query or fragment")
  // Bearer tokens and client secrets travel over this URL.
  if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    return Either.left("must use https (plain http is allowed only for a loopback host)")
  }
  return Either.right(url.origin + url.pathname.replace(/\/+$/, ""))
}
