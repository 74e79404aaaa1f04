/**
 * `startEmulator`: wires the world, token issuer, IMDS server (plain HTTP, with the control API) and the
 * ARM + login server (HTTPS with a throwaway CA by default) together, and closes them all again.
 */
import { createServer as createHttpServer, type Server } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import type { AddressInfo, Socket } from "node:net"
import { ArmRouter } from "./arm/router.js"
import { armRequestHandler } from "./arm/server.js"
import { TokenBuckets } from "./arm/throttle.js"
import { FaultController } from "./faults.js"
import { hostModule, startHost } from "./hosts/index.js"
import { attachedUserAssigned } from "./imds/identity.js"
import { ImdsLimiter } from "./imds/limiter.js"
import { imdsRequestHandler } from "./imds/server.js"
import { ImdsTokenEndpoint } from "./imds/token.js"
import { LoginEndpoints } from "./login/routes.js"
import { RequestLog } from "./requestLog.js"
import { checkStartOptions } from "./startOptions.js"
import { createTls, type TlsMaterial } from "./tls.js"
import { TokenIssuer } from "./token/issuer.js"
import type { Emulator, EmulatorAdmin, EmulatorVm, StartEmulatorOptions } from "./types.js"
import {
  defaultWorld,
  OWNER_ROLE_ID,
  userAssignedIdentityResourceId,
  type VirtualMachine,
  vmResourceId,
  type World,
  WorldStore,
} from "./world/model.js"
import { openPersistentWorld, type StateFile } from "./world/persist.js"
import { parseWorld, readWorldFile } from "./world/validate.js"

const listen = (server: Server, port: number, host: string): Promise<AddressInfo> =>
  new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e)
    server.once("error", onError)
    server.listen(port, host, () => {
      server.off("error", onError)
      resolve(server.address() as AddressInfo)
    })
  })

/**
 * Tracks every socket a server accepts, so closing it ends them all at once. `closeAllConnections()` alone
 * misses a socket that never became an HTTP connection — on the HTTPS server, one still before (or stuck in)
 * its TLS handshake, which would hold `close()` for the 120 s handshake timeout.
 */
const trackSockets = (server: Server): Set<Socket> => {
  const sockets = new Set<Socket>()
  server.on("connection", (socket: Socket) => {
    sockets.add(socket)
    socket.once("close", () => sockets.delete(socket))
  })
  return sockets
}

const closeServer = (server: Server, sockets: Set<Socket>): Promise<void> =>
  new Promise((resolve) => {
    if (!server.listening) return resolve()
    server.close(() => resolve())
    for (const socket of sockets) socket.destroy()
  })

const urlHost = (host: string): string => (host.includes(":") ? `[${host}]` : host)

const loadWorld = async (world: StartEmulatorOptions["world"]): Promise<World> => {
  if (world === undefined) return defaultWorld()
  if (typeof world === "string") return readWorldFile(world)
  return parseWorld(world)
}

const vmSummary = (store: WorldStore, vm: VirtualMachine | undefined): EmulatorVm => {
  if (vm === undefined) return { name: "", resourceGroup: "", resourceId: "", userAssigned: [] }
  return {
    name: vm.name,
    resourceGroup: vm.resourceGroup,
    resourceId: vmResourceId(vm),
    ...(vm.systemAssigned ? { systemAssigned: { ...vm.systemAssigned } } : {}),
    userAssigned: attachedUserAssigned(store, vm).map((u) => ({
      name: u.name,
      resourceId: userAssignedIdentityResourceId(u),
      principalId: u.principalId,
      clientId: u.clientId,
    })),
  }
}

/** The admin: a service principal that is Owner of the default subscription (else the first one). */
const adminSummary = (store: WorldStore): EmulatorAdmin => {
  const subScope = `/subscriptions/${store.defaultSubscriptionId}`.toLowerCase()
  const owners = new Set(
    store
      .roleAssignments()
      .filter(
        (a) => a.scope.toLowerCase() === subScope && a.roleDefinitionId.toLowerCase().endsWith(OWNER_ROLE_ID),
      )
      .map((a) => a.principalId.toLowerCase()),
  )
  const sps = store.servicePrincipals()
  const sp = sps.find((p) => owners.has(p.objectId.toLowerCase())) ?? sps[0]
  return {
    tenantId: sp?.tenantId ?? store.defaultTenantId,
    clientId: sp?.clientId ?? "",
    clientSecret: sp?.secret ?? "",
    objectId: sp?.objectId ?? "",
  }
}

const limit = (value: number | undefined, fallback: number): number =>
  value === undefined || Number.isNaN(value) ? fallback : value

/**
 * Starts the emulator on loopback (random ports by default).
 *
 * @example
 * ```ts
 * const emu = await startEmulator({ limits: { imdsRequestsPerSecond: Infinity } })
 * const res = await fetch(`${emu.imdsUrl}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/`, {
 *   headers: { Metadata: "true" },
 * })
 * await emu.close()
 * ```
 */
export const startEmulator = async (options: StartEmulatorOptions = {}): Promise<Emulator> => {
  checkStartOptions(options)
  const host = options.host ?? "127.0.0.1"
  const armHost = options.armHost ?? host
  const now = options.clock ?? Date.now
  const armTls = options.armTls ?? true
  // Before anything is made: an unknown source is a clear error, not half a start-up.
  const source = hostModule(options.source ?? "imds")

  const seed = await loadWorld(options.world)
  let store: WorldStore
  let state: StateFile | undefined
  if (options.state !== undefined) {
    const opened = await openPersistentWorld({ path: options.state, seed })
    store = opened.store
    state = opened.state
  } else store = new WorldStore(seed)

  // Made side by side; if one fails, what the other made (the CA's temp directory) is removed too.
  const [madeIssuer, madeTls] = await Promise.allSettled([
    TokenIssuer.create(),
    armTls || source.needsTls
      ? createTls([host, armHost, ...(options.tlsNames ?? [])])
      : Promise.resolve(undefined),
  ])
  if (madeIssuer.status === "rejected" || madeTls.status === "rejected") {
    if (madeTls.status === "fulfilled") await madeTls.value?.dispose()
    await state?.close()
    throw madeIssuer.status === "rejected" ? madeIssuer.reason : (madeTls as PromiseRejectedResult).reason
  }
  const issuer: TokenIssuer = madeIssuer.value
  const tls: TlsMaterial | undefined = madeTls.value

  const faults = new FaultController()
  const requests = new RequestLog()
  const currentVm = () => store.vms()[0]
  const token = new ImdsTokenEndpoint({ store, issuer, now, vm: currentVm })
  const unsubscribe = store.onChange((change) => {
    if (change.kind === "world.replace") token.clearCache()
  })
  const limits = options.limits ?? {}
  const limiter = new ImdsLimiter(
    limit(limits.imdsRequestsPerSecond, 20),
    limit(limits.imdsConcurrency, 5),
    now,
  )
  const reads = new TokenBuckets(
    limit(limits.armReadBucket, 250),
    limit(limits.armReadRefillPerSecond, 25),
    now,
  )

  const durable = (): Promise<void> => state?.durable() ?? Promise.resolve()
  let armBase = ""
  let loginBase = ""
  const imdsServer = createHttpServer(
    imdsRequestHandler({ store, faults, requests, limiter, token, vm: currentVm, now, durable }),
  )
  const login = new LoginEndpoints({ store, issuer, now, baseUrl: () => loginBase })
  const armHandler = armRequestHandler({
    arm: new ArmRouter({ store, issuer, now, reads, baseUrl: () => armBase }),
    login,
    faults,
    requests,
    now,
    durable,
  })
  const armServer: Server =
    tls === undefined || !armTls
      ? createHttpServer(armHandler)
      : createHttpsServer({ key: tls.key, cert: tls.cert }, armHandler)
  for (const server of [imdsServer, armServer]) {
    server.keepAliveTimeout = 5_000
    server.headersTimeout = 10_000
  }
  const imdsSockets = trackSockets(imdsServer)
  const armSockets = trackSockets(armServer)

  let closed: Promise<void> | undefined
  let closeHost = async (): Promise<void> => {}
  const close = (): Promise<void> => {
    closed ??= (async () => {
      unsubscribe()
      await closeHost()
      await Promise.all([closeServer(imdsServer, imdsSockets), closeServer(armServer, armSockets)])
      await tls?.dispose()
      await state?.close()
    })()
    return closed
  }

  try {
    const imdsAddress = await listen(imdsServer, options.imdsPort ?? 0, host)
    const armAddress = await listen(armServer, options.armPort ?? 0, armHost)
    const imdsListening = `http://${urlHost(host)}:${imdsAddress.port}`
    const armListening = `${tls === undefined || !armTls ? "http" : "https"}://${urlHost(armHost)}:${armAddress.port}`
    const urls = options.urls ?? {}
    const imdsUrl = urls.imds ?? imdsListening
    armBase = urls.arm ?? armListening
    loginBase = urls.login ?? armBase
    const running = await startHost(source, {
      store,
      issuer,
      faults,
      requests,
      now,
      listenHost: options.hostEndpoint?.host ?? host,
      endpointPort: options.hostEndpoint?.port ?? 0,
      tls,
      imdsUrl,
      armUrl: armBase,
      loginUrl: loginBase,
      clusters: login.clusters,
      durable,
      ...(options.federatedTokenFile !== undefined && { federatedTokenFile: options.federatedTokenFile }),
    })
    closeHost = running.close
    return {
      source: source.source,
      env: running.env,
      hostEnv: running.hostEnv,
      host: running.identity,
      imdsUrl,
      armUrl: armBase,
      loginUrl: loginBase,
      controlUrl: urls.control ?? imdsListening,
      caCertPath: tls?.caCertPath ?? "",
      caCert: tls?.caCert ?? "",
      world: store,
      tenantId: store.defaultTenantId,
      subscriptionId: store.defaultSubscriptionId,
      vm: vmSummary(store, currentVm()),
      admin: adminSummary(store),
      faults: { inject: (spec) => faults.inject(spec), clear: () => faults.clear() },
      requests: {
        count: (filter) => requests.count(filter),
        list: () => requests.list(),
        reset: () => requests.reset(),
      },
      close,
    }
  } catch (e) {
    await close()
    throw e
  }
}
