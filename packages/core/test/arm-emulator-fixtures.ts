/**
 * Wiring the ARM services to a running emulator: one layer for the VM (managed identity via the
 * emulator's IMDS) and one for the admin service principal (client secret via its login endpoint).
 */
import type { Emulator } from "@azmi/emulator"
import { Layer } from "effect"
import * as ArmClient from "../src/ArmClient.js"
import * as ClientSecret from "../src/ClientSecret.js"
import type { InvalidConfiguration } from "../src/Errors.js"
import * as HttpTransport from "../src/HttpTransport.js"
import * as ManagedIdentity from "../src/ManagedIdentity.js"
import * as ResourceGroupsLive from "../src/ResourceGroupsLive.js"
import * as RoleAssignmentsLive from "../src/RoleAssignmentsLive.js"
import type { TokenProvider } from "../src/TokenProvider.js"

const fastRetry = { baseDelayMs: 20, maxDelayMs: 100 }

const services = (arm: Layer.Layer<ArmClient.ArmClient, unknown>) =>
  Layer.mergeAll(ResourceGroupsLive.layer, RoleAssignmentsLive.layer).pipe(Layer.provideMerge(arm))

/** The VM's view: system-assigned managed identity through the emulator's IMDS; ARM over the undici wire. */
export const vmLayer = (emu: Emulator, options: ArmClient.ArmClientOptions = {}) =>
  services(
    ArmClient.layerUndici({ endpoint: emu.armUrl, retry: fastRetry, caCert: emu.caCert, ...options }).pipe(
      Layer.provide(ManagedIdentity.layer({ imdsEndpoint: emu.imdsUrl, credential: "managed-identity" })),
    ),
  )

/** The admin's view: azmi's client-secret credential against the emulator's login endpoint. */
export const adminTokens = (emu: Emulator): Layer.Layer<TokenProvider, InvalidConfiguration> =>
  ClientSecret.layer({
    credential: "client-secret",
    tenantId: emu.admin.tenantId,
    clientId: emu.admin.clientId,
    clientSecret: emu.admin.clientSecret,
    authorityHost: emu.loginUrl,
    caCert: emu.caCert,
  })

/** The admin's ARM client runs over the platform HttpClient wire, so both wires meet the emulator. */
export const adminLayer = (emu: Emulator) =>
  services(
    ArmClient.layer({ endpoint: emu.armUrl, retry: fastRetry }).pipe(
      Layer.provide(Layer.merge(HttpTransport.layer({ caCert: emu.caCert }), adminTokens(emu))),
    ),
  )
