/**
 * Wiring the ARM services to a running emulator: one layer for the VM (managed identity via the
 * emulator's IMDS) and one for the admin service principal.
 */
import type { Emulator } from "@azmi/emulator"
import { Effect, Layer, Redacted } from "effect"
import { Agent, fetch } from "undici"
import * as ArmClient from "../src/ArmClient.js"
import * as HttpTransport from "../src/HttpTransport.js"
import * as ManagedIdentity from "../src/ManagedIdentity.js"
import * as ResourceGroupsLive from "../src/ResourceGroupsLive.js"
import * as RoleAssignmentsLive from "../src/RoleAssignmentsLive.js"
import { TokenProvider } from "../src/TokenProvider.js"

const fastRetry = { baseDelayMs: 20, maxDelayMs: 100 }

const armServices = (emu: Emulator, tokens: Layer.Layer<TokenProvider, unknown>) => {
  const arm = ArmClient.layer({ endpoint: emu.armUrl, retry: fastRetry }).pipe(
    Layer.provide(Layer.merge(HttpTransport.layer({ caCert: emu.caCert }), tokens)),
  )
  return Layer.mergeAll(ResourceGroupsLive.layer, RoleAssignmentsLive.layer).pipe(Layer.provideMerge(arm))
}

/** The VM's view: system-assigned managed identity through the emulator's IMDS. */
export const vmLayer = (emu: Emulator) =>
  armServices(emu, ManagedIdentity.layer({ imdsEndpoint: emu.imdsUrl, credential: "managed-identity" }))

/**
 * The admin's view: a client-credentials token from the emulator's login endpoint. (A plain fetch keeps
 * these tests about ARM; the ClientSecret credential has its own tests.)
 */
export const adminTokens = (emu: Emulator): Layer.Layer<TokenProvider> => {
  const dispatcher = new Agent({ connect: { ca: emu.caCert } })
  return Layer.succeed(
    TokenProvider,
    TokenProvider.of({
      description: "emulator admin (test)",
      getToken: (resource) =>
        Effect.promise(async () => {
          const body = new URLSearchParams({
            grant_type: "client_credentials",
            client_id: emu.admin.clientId,
            client_secret: emu.admin.clientSecret,
            scope: `${resource.replace(/\/$/, "")}/.default`,
          })
          const res = await fetch(`${emu.loginUrl}/${emu.admin.tenantId}/oauth2/v2.0/token`, {
            method: "POST",
            body,
            dispatcher,
          })
          const json = (await res.json()) as { access_token: string; expires_in: number }
          return {
            token: Redacted.make(json.access_token),
            tokenType: "Bearer",
            resource,
            expiresOn: Date.now() + json.expires_in * 1000,
            refreshOn: Date.now() + (json.expires_in * 1000) / 2,
          }
        }),
    }),
  )
}

export const adminLayer = (emu: Emulator) => armServices(emu, adminTokens(emu))
