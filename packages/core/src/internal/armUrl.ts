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

/**
 * The URL of `request` on `endpoint` (as {@link parseEndpoint} returned it), or `UntrustedNextLink` for
 * a `nextLink` that leaves the endpoint.
 */
export const requestUrl = (
  endpoint: string,
  endpointUrl: URL,
  request: ArmRequest,
): Either.Either<string, ArmRequestFailed> => {
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
    return Either.right(link)
  }
  const params = new URLSearchParams()
  if (request.apiVersion !== undefined) params.set("api-version", request.apiVersion)
  for (const [k, v] of Object.entries(request.query ?? {})) if (v !== undefined) params.set(k, v)
  const qs = params.toString()
  return Either.right(`${endpoint}${encodePath(request.path)}${qs === "" ? "" : `?${qs}`}`)
}
