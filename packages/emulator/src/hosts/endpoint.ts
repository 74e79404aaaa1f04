/**
 * The HTTP(S) server of a host's managed-identity endpoint (App Service, Arc, Service Fabric, Cloud Shell,
 * Azure ML): every request is parsed, answered by the host through fault injection and recorded in the
 * request log under the host's target.
 */
import { randomUUID, timingSafeEqual } from "node:crypto"
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http"
import { createServer as createHttpsServer } from "node:https"
import type { AddressInfo } from "node:net"
import type { FaultTarget, Reply } from "../faults.js"
import { BodyTooLargeError, jsonReply, type RouteRequest, sendReply, toRouteRequest } from "../http.js"
import {
  type IdentityHolder,
  type IdentityResolution,
  type IdentitySelector,
  resolveIdentity,
} from "../imds/identity.js"
import { answer } from "../respond.js"
import type { TokenIdentity } from "../token/managedIdentity.js"
import { type Host, type HostKind, hostResourceId, type WorldStore } from "../world/model.js"
import { ensureHost } from "./defaults.js"
import type { EmulatorSource, HostContext, HostIdentitySummary, RunningHost } from "./host.js"

export interface HostEndpointOptions {
  readonly target: FaultTarget
  readonly https: boolean
  readonly handle: (req: RouteRequest) => Promise<Reply> | Reply
}

export interface ServedEndpoint {
  /** `http(s)://127.0.0.1:PORT` */
  readonly origin: string
  readonly close: () => Promise<void>
}

/** Serves one host endpoint on the context's address and port (by default a free port of the emulator's address). */
export const serveHostEndpoint = async (
  ctx: HostContext,
  options: HostEndpointOptions,
): Promise<ServedEndpoint> => {
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      let request: RouteRequest
      try {
        request = await toRouteRequest(req, res)
      } catch (e) {
        if (e instanceof BodyTooLargeError) {
          sendReply(
            res,
            jsonReply(413, { error: "invalid_request", error_description: "Request body too large" }),
          )
          return
        }
        throw e
      }
      await answer(ctx, options.target, request, req, res, () => options.handle(request))
    } catch {
      if (!res.headersSent) {
        sendReply(res, jsonReply(500, { error: "server_error", error_description: "Internal server error" }))
      } else res.destroy()
    }
  }
  let server: Server
  if (options.https) {
    if (ctx.tls === undefined) throw new Error("an HTTPS host endpoint needs the emulator's TLS material")
    server = createHttpsServer({ key: ctx.tls.key, cert: ctx.tls.cert }, handler)
  } else server = createHttpServer(handler)
  server.keepAliveTimeout = 5_000
  server.headersTimeout = 10_000
  const address = await new Promise<AddressInfo>((resolve, reject) => {
    server.once("error", reject)
    server.listen(ctx.endpointPort, ctx.listenHost, () => {
      server.off("error", reject)
      resolve(server.address() as AddressInfo)
    })
  })
  const host = ctx.listenHost.includes(":") ? `[${ctx.listenHost}]` : ctx.listenHost
  return {
    origin: `${options.https ? "https" : "http"}://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        if (!server.listening) return resolve()
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

/** Compares a presented secret with the expected one in constant time. */
export const sameSecret = (presented: string | undefined, expected: string): boolean => {
  if (presented === undefined) return false
  const a = Buffer.from(presented, "utf8")
  const b = Buffer.from(expected, "utf8")
  return a.length === b.length && timingSafeEqual(a, b)
}

export const hostIdentityHolder = (host: Host): IdentityHolder => ({
  resourceId: hostResourceId(host),
  ...(host.systemAssigned !== undefined && { systemAssigned: host.systemAssigned }),
  ...(host.userAssigned !== undefined && { userAssigned: host.userAssigned }),
})

/** Which of the host's identities a request means (IMDS's rules). */
export const resolveHostIdentity = (
  store: WorldStore,
  host: Host,
  selector: IdentitySelector,
): IdentityResolution => resolveIdentity(store, hostIdentityHolder(host), selector)

/** The tenant of the host's subscription. */
export const hostTenant = (store: WorldStore, host: Host): string =>
  store.findSubscription(host.subscriptionId)?.tenantId ?? store.defaultTenantId

/** The start-up line's description of the host and its default identity. */
export const hostSummary = (
  store: WorldStore,
  source: HostIdentitySummary["source"],
  host: Host,
): HostIdentitySummary => {
  const resolved = resolveHostIdentity(store, host, { kind: "none" })
  const identity: Pick<TokenIdentity, "principalId" | "clientId"> = resolved.ok
    ? resolved.identity
    : { principalId: "", clientId: "" }
  return {
    source,
    name: host.name,
    resourceId: hostResourceId(host),
    principalId: identity.principalId,
    clientId: identity.clientId,
  }
}

/** The host as the world has it now (its identities may change while the emulator runs). */
export const currentHost = (ctx: HostContext, host: Host): Host => ctx.store.findHost(host.kind) ?? host

/** A host whose identity is served by one endpoint of its own (all but IMDS and workload identity). */
export interface EndpointHostSpec {
  readonly source: EmulatorSource
  readonly kind: HostKind
  readonly target: FaultTarget
  readonly https: boolean
  /** The endpoint's path (also in the identity variable). */
  readonly path: string
  /** Answers one request for the host as the world has it now; `secret` is this run's random secret. */
  readonly handle: (host: Host, secret: string, req: RouteRequest) => Promise<Reply> | Reply
  /** The identity variables, given the endpoint URL, the secret and the host's identity. */
  readonly env: (endpoint: string, secret: string, identity: HostIdentitySummary) => Record<string, string>
}

/** Adds the host to the world if needed, serves its endpoint and reports its environment. */
export const startEndpointHost = async (ctx: HostContext, spec: EndpointHostSpec): Promise<RunningHost> => {
  const host = ensureHost(ctx.store, spec.kind)
  const secret = randomUUID()
  const served = await serveHostEndpoint(ctx, {
    target: spec.target,
    https: spec.https,
    handle: (req) => spec.handle(currentHost(ctx, host), secret, req),
  })
  const identity = hostSummary(ctx.store, spec.source, host)
  return { env: spec.env(`${served.origin}${spec.path}`, secret, identity), identity, close: served.close }
}
