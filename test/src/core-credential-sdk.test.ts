/**
 * azmi's Promise credential (`createManagedIdentityCredential` from the built @azmi/core) used by the official
 * `@azure/arm-resources` ResourceManagementClient, unchanged, against an emulator of this file's own (so the
 * shared emulator's request counts stay untouched). HTTPS trust for the SDK comes from a per-request agent policy.
 */
import { randomUUID } from "node:crypto"
import { Agent } from "node:https"
import { createManagedIdentityCredential } from "@azmi/core"
import { type Emulator, startEmulator } from "@azmi/emulator"
import { ResourceManagementClient } from "@azure/arm-resources"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
let emu: Emulator
let agent: Agent

beforeAll(async () => {
  emu = await startEmulator()
  agent = new Agent({ ca: emu.caCert })
})
afterAll(async () => {
  agent?.destroy()
  await emu?.close()
})

const resourcesClient = (credential: ConstructorParameters<typeof ResourceManagementClient>[0]) =>
  new ResourceManagementClient(credential, emu.subscriptionId, {
    endpoint: emu.armUrl,
    credentialScopes: ["https://management.azure.com/.default"],
    additionalPolicies: [
      {
        position: "perCall",
        policy: {
          name: "trustEmulatorCa",
          sendRequest: (request, next) => {
            request.agent = agent
            return next(request)
          },
        },
      },
    ],
  })

describe("azmi credential inside @azure/arm-resources", () => {
  it("403 AuthorizationFailed before the grant, 200 after it; one IMDS token request for all reads", async () => {
    const credential = createManagedIdentityCredential({ imdsEndpoint: emu.imdsUrl })
    try {
      const client = resourcesClient(credential)
      const denied = await client.resourceGroups.get(emu.vm.resourceGroup).catch((e: unknown) => e)
      expect(denied).toMatchObject({ statusCode: 403, code: "AuthorizationFailed" })
      expect((denied as Error).message).toContain(emu.vm.systemAssigned!.principalId)

      emu.world.putRoleAssignment({
        name: randomUUID(),
        scope: `/subscriptions/${emu.subscriptionId}/resourceGroups/${emu.vm.resourceGroup}`,
        roleDefinitionId: `/providers/Microsoft.Authorization/roleDefinitions/${READER}`,
        principalId: emu.vm.systemAssigned!.principalId,
        principalType: "ServicePrincipal",
      })
      const group = await client.resourceGroups.get(emu.vm.resourceGroup)
      expect(group).toMatchObject({ name: "DevTest", location: "westus", tags: { env: "dev" } })

      // A second SDK client on the same credential reuses azmi's cache.
      const names = []
      for await (const g of resourcesClient(credential).resourceGroups.list()) names.push(g.name)
      expect(names).toEqual(["DevTest"])
      expect(emu.requests.count({ target: "imds-token" })).toBe(1)
    } finally {
      await credential.close()
    }
  })

  it("an unavailable IMDS surfaces as the SDK's error carrying azmi's message", async () => {
    const credential = createManagedIdentityCredential({ imdsEndpoint: "http://127.0.0.1:9" })
    try {
      const error = await resourcesClient(credential)
        .resourceGroups.get(emu.vm.resourceGroup)
        .catch((e: unknown) => e)
      expect((error as Error).message).toContain("No managed identity endpoint at http://127.0.0.1:9")
    } finally {
      await credential.close()
    }
  })
})
