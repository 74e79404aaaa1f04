/**
 * azmi-http over the core's test layers for app tests: they record every call, so tests can assert
 * exactly what would have reached ARM or IMDS.
 */
import {
  type AccessToken,
  type ArmError,
  ComputeMetadata,
  IdentitySelector,
  InstanceDocument,
  InstanceMetadata,
  ManagedIdentity,
  ManagedIdentitySource,
  ResourceGroup,
  ResourceGroups,
  type ResourceGroupsCall,
  RoleAssignments,
  type TokenError,
  TokenProvider,
  testToken,
} from "@azmi/core"
import { Effect, Layer, ManagedRuntime, Redacted, Stream } from "effect"
import { afterEach } from "vitest"
import { createApp } from "../src/app.js"
import { defaultConfig, type HttpConfig } from "../src/config.js"
import * as HttpServices from "../src/services/HttpServices.js"

export const sub = "98f51385-2edc-4b79-bed9-7718de4cb861"

/**
 * The process's own token provider as azmi-http really has it — the core's single-flight refresh-ahead
 * cache (`ManagedIdentity`) — over an IMDS source whose token requests `answer` answers (its argument
 * counts them from 1); `asked()` is how many reached it. With it, a second request is a hot-path hit.
 */
export const cachedTokenProvider = (
  answer: (resource: string, call: number) => Effect.Effect<AccessToken, TokenError>,
) => {
  let asked = 0
  const source = Layer.succeed(
    ManagedIdentitySource,
    ManagedIdentitySource.of({
      name: "IMDS",
      endpoint: "http://169.254.169.254",
      requestToken: (resource) => Effect.suspend(() => answer(resource, ++asked)),
    }),
  )
  const layer = Layer.scoped(
    TokenProvider,
    ManagedIdentity.make({ identity: IdentitySelector.SystemAssigned() }),
  ).pipe(Layer.provide(source))
  return { layer, asked: () => asked }
}

/** A call that would have reached ARM. */
export type GroupCall = ResourceGroupsCall

export const groupOf = (subscriptionId: string, name: string, tags: Record<string, string> = {}) =>
  new ResourceGroup({
    id: `/subscriptions/${subscriptionId}/resourceGroups/${name}`,
    name,
    type: "Microsoft.Resources/resourceGroups",
    location: "westus",
    tags,
    properties: { provisioningState: "Succeeded" },
  })

export const compute = new ComputeMetadata({
  subscriptionId: sub,
  resourceGroupName: "DevTest",
  name: "myVM",
  location: "westus",
  vmId: "00000000-0000-0000-0000-000000000001",
  resourceId: `/subscriptions/${sub}/resourceGroups/DevTest/providers/Microsoft.Compute/virtualMachines/myVM`,
  vmSize: "Standard_B1s",
  osType: "Linux",
  azEnvironment: "AzurePublicCloud",
  tags: "",
})

/** The secret every fake token carries, so tests can prove it never reaches a log. */
export const tokenSecret = "eyJfake.token-VALUE-never-logged.sig"

export const tokenFor = (resource: string, clientId = "client-of-system"): AccessToken =>
  testToken(resource, {
    token: Redacted.make(tokenSecret),
    expiresOn: 1_900_000_000_000,
    refreshOn: 1_899_000_000_000,
    clientId,
  })

export interface FakeOptions {
  readonly config?: Partial<HttpConfig>
  /** What `get` answers (default: the group). May be an Effect to fail or delay. */
  readonly get?: (subscriptionId: string, resourceGroupName: string) => Effect.Effect<ResourceGroup, ArmError>
  readonly exists?: (subscriptionId: string, resourceGroupName: string) => Effect.Effect<boolean, ArmError>
  readonly list?: (subscriptionId: string) => Stream.Stream<ResourceGroup, ArmError>
  readonly compute?: Effect.Effect<ComputeMetadata, TokenError>
  readonly token?: (resource: string) => Effect.Effect<AccessToken, TokenError>
  /** The managed identity the process's own provider stands for (a caller naming it shares it). */
  readonly ownIdentity?: IdentitySelector
  /** The process's own token provider, replacing the recording fake (e.g. the core's real cache). */
  readonly tokenProvider?: Layer.Layer<TokenProvider>
  /** What IMDS's whole instance document is, per api-version (default: {@link instanceDocument}). */
  readonly instanceDocument?: (apiVersion: string) => Effect.Effect<Record<string, unknown>, TokenError>
  readonly draining?: () => boolean
}

/** An instance-metadata document as IMDS returns it (every primitive a string). */
export const instanceDocument = {
  compute: {
    location: "westus",
    name: "myVM",
    resourceGroupName: "DevTest",
    subscriptionId: sub,
    tagsList: [{ name: "env", value: "dev" }],
    vmId: "00000000-0000-0000-0000-000000000001",
  },
  network: {
    interface: [{ ipv4: { ipAddress: [{ privateIpAddress: "10.0.0.4", publicIpAddress: "" }] } }],
  },
}

/** azmi-http's services over the core's test layers, recording every call. */
export const fakeServices = (options: FakeOptions = {}) => {
  const calls: Array<GroupCall> = []
  const tokenCalls: Array<{ resource: string; selector: string }> = []
  const documentCalls: Array<string> = []
  const config: HttpConfig = { ...defaultConfig, port: 0, ...options.config }
  // Every group exists unless a test says otherwise: the routes' tests name groups freely.
  const groups = ResourceGroups.layerTest({
    onCall: (call) => calls.push(call),
    get: (subscriptionId, resourceGroupName) =>
      Effect.map(
        options.get?.(subscriptionId, resourceGroupName) ??
          Effect.succeed(groupOf(subscriptionId, resourceGroupName)),
        (value) => ({ value, metadata: { requestId: "arm-request-1" } }),
      ),
    exists: (subscriptionId, resourceGroupName) =>
      options.exists?.(subscriptionId, resourceGroupName) ?? Effect.succeed(true),
    list: (subscriptionId) =>
      options.list?.(subscriptionId) ??
      Stream.make(groupOf(subscriptionId, "DevTest"), groupOf(subscriptionId, "Prod")),
  })
  const tokensFor = (selector: string) =>
    TokenProvider.layerTest({
      description: `fake ${selector}`,
      onCall: ({ resource }) => tokenCalls.push({ resource, selector }),
      getToken: (resource) =>
        options.token?.(resource) ?? Effect.succeed(tokenFor(resource, `client-of-${selector}`)),
    })
  const core = Layer.mergeAll(
    groups,
    InstanceMetadata.layerTest(options.compute ?? compute),
    options.tokenProvider ?? tokensFor("system"),
    RoleAssignments.layerTest(),
  )
  const providerFor = (selector: IdentitySelector) => tokensFor(selector._tag)
  const documents = Layer.succeed(
    InstanceDocument.InstanceDocument,
    InstanceDocument.InstanceDocument.of({
      get: (apiVersion) =>
        Effect.suspend(() => {
          documentCalls.push(apiVersion)
          return options.instanceDocument?.(apiVersion) ?? Effect.succeed(instanceDocument)
        }),
    }),
  )
  return {
    layer: HttpServices.layer(config, core, providerFor, documents, options.ownIdentity),
    calls,
    tokenCalls,
    documentCalls,
    config,
  }
}

export const makeTestApp = (options: FakeOptions = {}) => {
  const { layer, calls, tokenCalls, documentCalls, config } = fakeServices(options)
  const logs: Array<string> = []
  const runtime = ManagedRuntime.make(layer)
  const app = createApp({
    runtime,
    config,
    log: (line) => logs.push(line),
    isDraining: options.draining,
  })
  return { app, runtime, calls, tokenCalls, documentCalls, logs, config, dispose: () => runtime.dispose() }
}

/**
 * A `setup(options)` that makes test apps and disposes of them after each test of the calling file.
 */
export const useTestApp = () => {
  const made: Array<ReturnType<typeof makeTestApp>> = []
  afterEach(async () => {
    await Promise.all(made.splice(0).map((t) => t.dispose()))
  })
  return (options?: FakeOptions) => {
    const t = makeTestApp(options)
    made.push(t)
    return t
  }
}
