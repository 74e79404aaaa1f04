/**
 * What every host's token source does the same way, written once: refuse an identity the host cannot give
 * before anything is sent, make the one call (`miCall`: the retry engine, error classification), and
 * annotate logs and the span with the host, selector and resource. A host's module says only what differs:
 * its name, endpoint, identity rule and request (for the GET hosts, through {@link tokenGet}).
 * @internal
 */
import { HttpClientRequest } from "@effect/platform"
import { Effect } from "effect"
import type { AccessToken } from "../AccessToken.js"
import { IdentitySelectionUnsupported } from "../Errors.js"
import { describeSelector, type IdentitySelector } from "../IdentitySelector.js"
import type { ManagedIdentitySource } from "../ManagedIdentitySource.js"
import * as TokenResponse from "../TokenResponse.js"
import { type MiCall, miCall } from "./miRequest.js"

/**
 * The parts of a call that differ per host; the rest comes from the source (`endpoint` and `decode` may
 * still be given: IMDS names its full token URL in errors, Arc reads more of the body).
 */
export type HostCall = Omit<
  MiCall<AccessToken>,
  "operation" | "endpoint" | "selector" | "resource" | "source" | "decode"
> &
  Partial<Pick<MiCall<AccessToken>, "endpoint" | "decode">>

/**
 * A host's source.
 *
 * @example
 * ```ts
 * tokenSource({
 *   name: "Cloud Shell",
 *   endpoint,
 *   span: "azmi.cloudShell.requestToken",
 *   refuse: (selector) => (selector._tag === "SystemAssigned" ? undefined : "system-assigned"),
 *   call: (resource) => ({ client, request: …, policy }),
 * })
 * ```
 */
export const tokenSource = (options: {
  /** The host as people say it, e.g. `Service Fabric` (`IMDS` is the VM's own, named in no error). */
  readonly name: string
  /** The endpoint as shown in errors and cache keys (no query). */
  readonly endpoint: string
  /** The span's name, e.g. `azmi.serviceFabric.requestToken`. */
  readonly span: string
  /** What the host accepts when it does not accept `selector` (refused before any request). */
  readonly refuse?:
    | ((selector: IdentitySelector) => IdentitySelectionUnsupported["supported"] | undefined)
    | undefined
  /** The request and the host's own call options for one token. */
  readonly call: (resource: string, selector: IdentitySelector) => HostCall
}): ManagedIdentitySource["Type"] => ({
  name: options.name,
  endpoint: options.endpoint,
  requestToken: (resource, selector) => {
    const selectorText = describeSelector(selector)
    const supported = options.refuse?.(selector)
    if (supported !== undefined) {
      return Effect.fail(
        new IdentitySelectionUnsupported({ source: options.name, selector: selectorText, supported }),
      )
    }
    const endpoint = options.endpoint
    return miCall({
      operation: `${options.name} token request`,
      endpoint,
      selector: selectorText,
      resource,
      source: options.name === "IMDS" ? undefined : options.name,
      decode: (text, now) => TokenResponse.decodeFrom(endpoint, text, now, resource),
      ...options.call(resource, selector),
    }).pipe(
      Effect.annotateLogs({ source: options.name, selector: selectorText, resource }),
      Effect.withSpan(options.span, {
        attributes: { source: options.name, selector: selectorText, resource },
      }),
    )
  },
})

/**
 * The token GET every host but Cloud Shell sends: `api-version`, `resource` and the host's own parameters
 * (the identity asked for) in the query, the host's headers, JSON accepted.
 *
 * @example
 * ```ts
 * tokenGet(endpoint, "2019-08-01", resource, selectorParam(selector), { "x-identity-header": secret })
 * ```
 */
export const tokenGet = (
  url: string,
  apiVersion: string,
  resource: string,
  params: ReadonlyArray<readonly [string, string]>,
  headers: Readonly<Record<string, string>>,
): HttpClientRequest.HttpClientRequest =>
  HttpClientRequest.get(url).pipe(
    HttpClientRequest.setUrlParams([["api-version", apiVersion], ["resource", resource], ...params]),
    HttpClientRequest.setHeaders(headers),
    HttpClientRequest.acceptJson,
  )
