/**
 * The one rule for managed-identity endpoints taken from configuration: an http(s) URL without user info
 * whose host is loopback or link-local (like the newest MSAL), unless remote endpoints are allowed. A
 * token request — and the secret some hosts check (App Service's `IDENTITY_HEADER`, Service Fabric's,
 * Azure ML's `MSI_SECRET`) — must never leave the machine because somebody set an environment variable.
 * Every endpoint variable of every host goes through {@link checkEndpoint}, so the error names it.
 * @internal
 */
import { Either } from "effect"
import { InvalidConfiguration } from "../Errors.js"

/** The WHATWG parse of `raw`, or `undefined`. */
export const parseUrl = (raw: string): URL | undefined => {
  try {
    return new URL(raw)
  } catch {
    return undefined
  }
}

/** `url` without its query and fragment: what a source calls (it adds its own query), names in errors and keys caches by. */
export const withoutQuery = (url: string): string => {
  const u = new URL(url)
  u.search = ""
  u.hash = ""
  return u.href
}

/**
 * True for `localhost`, 127.0.0.0/8, 169.254.0.0/16, `[::1]` and `[fe80::/10]`. `hostname` comes
 * from WHATWG URL parsing, which already normalised decimal/hex IPv4 forms to dotted quads.
 */
export const isLocalHost = (hostname: string): boolean => {
  const h = hostname.toLowerCase()
  if (h === "localhost") return true
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h)
  if (v4 !== null) {
    const [a, b] = [Number(v4[1]), Number(v4[2])]
    return a === 127 || (a === 169 && b === 254)
  }
  if (h.startsWith("[") && h.endsWith("]")) {
    const v6 = h.slice(1, -1)
    return v6 === "::1" || /^fe[89ab][0-9a-f]:/.test(v6)
  }
  return false
}

/**
 * Validate a managed-identity endpoint: an http(s) URL without user info whose host is loopback
 * or link-local (unless allowed). `keep` says whether the path matters (`url`) or only the origin.
 * An `Either` (so it is also an Effect): detection, which is pure, uses it as is.
 *
 * @example
 * ```ts
 * checkEndpoint("IDENTITY_ENDPOINT", "http://10.0.0.4:2377/", false, "url") // Left: host 10.0.0.4 is neither loopback nor link-local
 * ```
 */
export const checkEndpoint = (
  variable: string,
  raw: string,
  allowNonLocal: boolean,
  keep: "origin" | "url",
): Either.Either<string, InvalidConfiguration> => {
  const url = parseUrl(raw.trim())
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
    return invalid(variable, `must be an absolute http(s) URL (got ${JSON.stringify(raw.slice(0, 100))})`)
  }
  if (url.username !== "" || url.password !== "") {
    return invalid(variable, "must not contain user info (user@host)")
  }
  if (!allowNonLocal && !isLocalHost(url.hostname)) {
    return invalid(
      variable,
      `host ${url.hostname} is neither loopback nor link-local; set AZMI_ALLOW_REMOTE_ENDPOINTS=1 to allow it`,
    )
  }
  return Either.right(keep === "origin" ? url.origin : url.href)
}

const invalid = (variable: string, reason: string) =>
  Either.left(new InvalidConfiguration({ variable, reason }))
