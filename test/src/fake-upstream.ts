/**
 * A recording stand-in for IMDS and ARM at the HttpClient level, for the property tests: the core's real
 * layers (config, managed identity, ARM client, resource groups, role assignments, instance metadata)
 * run over it, so every request the core would build from hostile input is captured — method and full
 * URL — without any network. It answers like the real services for the routes the surfaces use.
 */

import {
  ArmClient,
  type Azmi,
  AzmiConfig,
  AzureHostLive,
  InstanceDocument,
  InstanceMetadataLive,
  type InvalidConfiguration,
  ManagedIdentity,
  ResourceGroupsLive,
  RoleAssignmentsLive,
} from "@azmi/core"
import { HttpClient, HttpClientResponse } from "@effect/platform"
import { Effect, Layer } from "effect"

/** Where the fake services "are": never contacted (no socket is opened), only compared against. */
export const FAKE_IMDS = "http://127.0.0.1:1"
export const FAKE_ARM = "https://arm.azmi.test"
export const SUB = "98f51385-2edc-4b79-bed9-7718de4cb861"

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url")
/** The token the fake IMDS issues (JWT-shaped, so leak scans can look for it). */
export const FAKE_TOKEN = `${b64({ typ: "JWT", alg: "RS256" })}.${b64({ aud: "https://management.azure.com/", oid: "00000000-0000-0000-0000-00000000abcd", exp: 1_900_000_000 })}.ZmFrZS1zaWduYXR1cmUtb2YtYXptaS10ZXN0cw`

export interface Recorded {
  readonly method: string
  readonly url: URL
  readonly headers: Readonly<Record<string, string>>
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  })

const group = (sub: string, name: string) => ({
  id: `/subscriptions/${sub}/resourceGroups/${name}`,
  name,
  type: "Microsoft.Resources/resourceGroups",
  location: "westus",
  tags: {},
  properties: { provisioningState: "Succeeded" },
})

const answer = (method: string, url: URL): Response => {
  if (url.origin === FAKE_IMDS) {
    if (url.pathname === "/metadata/identity/oauth2/token") {
      return json(200, {
        access_token: FAKE_TOKEN,
        expires_on: String(Math.floor(Date.now() / 1000) + 3600),
        expires_in: "3600",
        resource: url.searchParams.get("resource") ?? "",
        token_type: "Bearer",
      })
    }
    if (url.pathname.startsWith("/metadata/instance")) {
      return json(200, {
        compute: {
          subscriptionId: SUB,
          resourceGroupName: "DevTest",
          name: "myVM",
          location: "westus",
          vmId: "0b3f4a3e-7c2d-4e1f-9a8b-5c6d7e8f9a0b",
          resourceId: `/subscriptions/${SUB}/resourceGroups/DevTest/providers/Microsoft.Compute/virtualMachines/myVM`,
          vmSize: "Standard_B1s",
          osType: "Linux",
          azEnvironment: "AzurePublicCloud",
          tags: "",
        },
        network: { interface: [] },
      })
    }
    return json(404, { error: "not_found", error_description: "Not found" })
  }
  const parts = url.pathname.split("/").slice(1).map(decodeURIComponent)
  const [kw, sub, kwRg, rg, ...rest] = parts
  if (kw === "subscriptions" && kwRg?.toLowerCase() === "resourcegroups" && sub !== undefined) {
    if (rg === undefined) return json(200, { value: [group(sub, "DevTest")] })
    if (rest.length === 0 && method === "HEAD") return json(204, null)
    if (rest.length === 0 && method === "GET") return json(200, group(sub, rg))
  }
  if (method === "GET") return json(200, { value: [] })
  return json(404, { error: { code: "NotFound", message: "Not found." } })
}

/** An HttpClient that records every request and answers from {@link answer}. */
export const recordingClient = (log: Array<Recorded>): HttpClient.HttpClient =>
  HttpClient.make((request, url) =>
    Effect.sync(() => {
      log.push({ method: request.method, url: new URL(url.href), headers: { ...request.headers } })
      return HttpClientResponse.fromWeb(request, answer(request.method, url))
    }),
  )

/** The core's services (what `Azmi.layer` provides) over the recording client. */
export const fakeCore = (
  log: Array<Recorded>,
  options: Azmi.AzmiOptions = {},
): Layer.Layer<Azmi.AzmiServicesWithHost, InvalidConfiguration> => {
  const http = Layer.succeed(HttpClient.HttpClient, recordingClient(log))
  const config = AzmiConfig.layer({ imdsEndpoint: FAKE_IMDS, armEndpoint: FAKE_ARM, ...options })
  const arm = Layer.mergeAll(ResourceGroupsLive.layer, RoleAssignmentsLive.layer).pipe(
    Layer.provide(ArmClient.layer({ endpoint: FAKE_ARM })),
  )
  return Layer.mergeAll(arm, InstanceMetadataLive.layer, AzureHostLive.layer).pipe(
    Layer.provideMerge(ManagedIdentity.layerFromConfig),
    Layer.provide(http),
    Layer.provide(config),
  )
}

/** True when every recorded request went to the fake IMDS or the fake ARM and nowhere else. */
export const onlyIntendedHosts = (log: ReadonlyArray<Recorded>): boolean =>
  log.every(
    (r) =>
      (r.url.origin === FAKE_IMDS && r.url.pathname.startsWith("/metadata/")) ||
      (r.url.origin === FAKE_ARM &&
        (r.url.pathname.startsWith("/subscriptions/") || r.url.pathname.startsWith("/providers/"))),
  )

/** The core's whole-document instance metadata (for IMDS's front end) over the recording client. */
export const fakeInstanceDocument = (
  log: Array<Recorded>,
): Layer.Layer<InstanceDocument.InstanceDocument, InvalidConfiguration> =>
  InstanceDocument.layerFromConfig().pipe(
    Layer.provide(Layer.succeed(HttpClient.HttpClient, recordingClient(log))),
    Layer.provide(AzmiConfig.layer({ imdsEndpoint: FAKE_IMDS, armEndpoint: FAKE_ARM })),
  )
