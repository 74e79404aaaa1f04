/**
 * Where an ARM request goes: the endpoint (`Endpoints.serviceUrl`: https, or http only to loopback) and
 * the URL of one request, with every path segment encoded, and a `nextLink` followed only back to that
 * endpoint (the bearer token goes wherever the link points).
 * @internal
 */
import { Either } from "effect"
import type { ArmRequest } from "../ArmClient.js"
import { encodePath } from "../ArmIds.js"
import { serviceUrl } from "../Endpoints.js"
import { ArmRequestFailed, InvalidConfiguration } from "../Errors.js"

/** The endpoint as a URL without trailing slash (the service URL rule), or `InvalidConfiguration`. */
export const parseEndpoint = (
  value: string,
  variable = "AZMI_ARM_ENDPOINT",
): Either.Either<string, InvalidConfiguration> =>
  Either.mapLeft(serviceUrl(value), (reason) => new InvalidConfiguration({ variable, reason }))

/** Where one request goes, as a wire takes it. */
export interface RequestTarget {
  readonly origin: string
  /** Path (percent-encoded) and query. */
  readonly path: string
}

// The query of a request that has only an api-version, per api-version (there are a handful).
const apiVersionOnly = new Map<string, string>()

const queryOf = (request: ArmRequest): string => {
  const query = request.query
  if (query === undefined && request.apiVersion !== undefined) {
    let known = apiVersionOnly.get(request.apiVersion)
    if (known === undefined) {
      known = `?${new URLSearchParams({ "api-version": request.apiVersion }).toString()}`
      apiVersionOnly.set(request.apiVersion, known)
    }
    return known
  }
  const params = new URLSearchParams()
  if (request.apiVersion !== undefined) params.set("api-version", request.apiVersion)
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, v)
  const qs = params.toString()
  return qs === "" ? "" : `?${qs}`
}

/**
 * Where `request` goes on `endpoint` (as {@link parseEndpoint} returned it, `endpointUrl` its parse),
 * or `UntrustedNextLink` for a `nextLink` that leaves the endpoint.
 */
export const requestTarget = (
  endpoint: string,
  endpointUrl: URL,
  request: ArmRequest,
): Either.Either<RequestTarget, ArmRequestFailed> => {
  if ("nextLink" in request.path) {
    const link = request.path.nextLink
    let url: URL | undefined
    try {
      url = new URL(link)
    } catch {
      url = undefined
    }
    if (
      url === undefined ||
      url.origin !== endpointUrl.origin ||
      !url.pathname.startsWith(endpointUrl.pathname === "/" ? "/" : `${endpointUrl.pathname}/`)
    ) {
      return Either.left(
        new ArmRequestFailed({
          status: 200,
          code: "UntrustedNextLink",
          armMessage: `ARM returned a nextLink outside ${endpoint}; not followed`,
          attempts: 1,
        }),
      )
    }
    return Either.right({ origin: url.origin, path: url.pathname + url.search })
  }
  // `endpoint` is its origin and a path prefix without trailing slash.
  return Either.right({
    origin: endpointUrl.origin,
    path: `${endpoint.slice(endpointUrl.origin.length)}${encodePath(request.path)}${queryOf(request)}`,
  })
}
