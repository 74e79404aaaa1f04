/**
 * The official Azure SDK for JS, unchanged, against the emulator (issue 2, "Done when"):
 * ManagedIdentityCredential via AZURE_POD_IDENTITY_AUTHORITY_HOST gets a token; ResourceManagementClient gets
 * 403 AuthorizationFailed for DevTest; ClientSecretCredential (the admin, authority host = emulator) creates a
 * Reader assignment through AuthorizationManagementClient; then the read returns 200 with the group, and
 * list / checkExistence work too.
 *
 * HTTPS trust comes from NODE_EXTRA_CA_CERTS, set by `setup/emulator.global.ts` before this worker started.
 */
import { randomUUID } from "node:crypto"
import { AuthorizationManagementClient } from "@azure/arm-authorization"
import { ResourceManagementClient } from "@azure/arm-resources"
import { ClientSecretCredential, ManagedIdentityCredential } from "@azure/identity"
import { createRemoteJWKSet, jwtVerify } from "jose"
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest"

const emu = inject("emulator")
const ARM_SCOPE = "https://management.azure.com/.default"
const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
const armOptions = { endpoint: emu.armUrl, credentialScopes: [ARM_SCOPE] }
const groupScope = `/subscriptions/${emu.subscriptionId}/resourceGroups/${emu.vm.resourceGroup}`

const previousHost = process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST
let vmCredential: ManagedIdentityCredential
let adminCredential: ClientSecretCredential
const assignmentName = randomUUID()

interface RequestCounts {
  readonly counts: { readonly total: number }
}
const countRequests = async (query: string): Promise<number> => {
  const res = await fetch(`${emu.controlUrl}/_emulator/requests?${query}`)
  return ((await res.json()) as RequestCounts).counts.total
}

const loopbackOnly = (url: string) => expect(new URL(url).hostname).toBe("127.0.0.1")

beforeAll(async () => {
  for (const url of [emu.imdsUrl, emu.armUrl, emu.loginUrl, emu.controlUrl]) loopbackOnly(url)
  expect(process.env.NODE_EXTRA_CA_CERTS).toMatch(/azmi-test-ca-.*ca\.pem$/)
  process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = emu.imdsUrl
  vmCredential = new ManagedIdentityCredential()
  adminCredential = new ClientSecretCredential(
    emu.admin.tenantId,
    emu.admin.clientId,
    emu.admin.clientSecret,
    {
      authorityHost: emu.loginUrl,
      disableInstanceDiscovery: true,
    },
  )
  await fetch(`${emu.controlUrl}/_emulator/requests`, { method: "DELETE" })
})

afterAll(async () => {
  // Leave the shared emulator as we found it, even if a test failed half-way.
  const authorization = new AuthorizationManagementClient(adminCredential, emu.subscriptionId, armOptions)
  await authorization.roleAssignments.delete(groupScope, assignmentName).catch(() => undefined)
  if (previousHost === undefined) delete process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST
  else process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = previousHost
})

describe("official Azure SDK against the emulator", () => {
  it("ManagedIdentityCredential gets a token for the VM's identity from the local IMDS, then serves it from cache", async () => {
    const token = await vmCredential.getToken(ARM_SCOPE)
    expect(token.token.split(".")).toHaveLength(3)
    expect(token.expiresOnTimestamp).toBeGreaterThan(Date.now() + 23 * 3600_000)

    const jwks = createRemoteJWKSet(new URL(`${emu.loginUrl}/common/discovery/keys`))
    const { payload } = await jwtVerify(token.token, jwks, {
      issuer: `https://sts.windows.net/${emu.tenantId}/`,
      audience: "https://management.azure.com",
    })
    expect(payload.oid).toBe(emu.vm.principalId)
    expect(payload.appid).toBe(emu.vm.clientId)

    const again = await vmCredential.getToken(ARM_SCOPE)
    expect(again.token).toBe(token.token)
    expect(await countRequests("target=imds-token")).toBe(1)
  })

  it("ResourceManagementClient gets 403 AuthorizationFailed for DevTest before any grant", async () => {
    const resources = new ResourceManagementClient(vmCredential, emu.subscriptionId, armOptions)
    const error = await resources.resourceGroups.get(emu.vm.resourceGroup).catch((e: unknown) => e)
    expect(error).toMatchObject({ statusCode: 403, code: "AuthorizationFailed" })
    expect((error as Error).message).toContain(emu.vm.principalId)
    expect((error as Error).message).toContain("Microsoft.Resources/subscriptions/resourcegroups/read")
  })

  it("the admin (ClientSecretCredential + AuthorizationManagementClient) grants the VM Reader on DevTest", async () => {
    const authorization = new AuthorizationManagementClient(adminCredential, emu.subscriptionId, armOptions)
    const created = await authorization.roleAssignments.create(groupScope, assignmentName, {
      roleDefinitionId: `/subscriptions/${emu.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${READER}`,
      principalId: emu.vm.principalId,
      principalType: "ServicePrincipal",
    })
    expect(created.name).toBe(assignmentName)
    expect(created.principalId).toBe(emu.vm.principalId)
    expect(created.roleDefinitionId?.toLowerCase()).toContain(READER)
    expect(created.scope?.toLowerCase()).toBe(groupScope.toLowerCase())
    expect(await countRequests("target=login")).toBeGreaterThan(0)

    const listed = []
    for await (const a of authorization.roleAssignments.listForScope(groupScope, { filter: "atScope()" }))
      listed.push(a)
    expect(listed.map((a) => a.name)).toContain(assignmentName)
  })

  it("then the VM's read returns 200 with the group; list and checkExistence work", async () => {
    const resources = new ResourceManagementClient(vmCredential, emu.subscriptionId, armOptions)
    const group = await resources.resourceGroups.get(emu.vm.resourceGroup)
    expect(group).toMatchObject({
      id: groupScope,
      name: "DevTest",
      location: "westus",
      tags: { env: "dev" },
      properties: { provisioningState: "Succeeded" },
    })

    const names = []
    for await (const g of resources.resourceGroups.list()) names.push(g.name)
    expect(names).toEqual(["DevTest"])

    expect((await resources.resourceGroups.checkExistence("devtest")).body).toBe(true)
    const admin = new ResourceManagementClient(adminCredential, emu.subscriptionId, armOptions)
    expect((await admin.resourceGroups.checkExistence("NoSuchGroup")).body).toBe(false)

    // The token came from IMDS exactly once across all of this: the SDK's cache, not the emulator, served the rest.
    expect(await countRequests("target=imds-token")).toBe(1)
  })
})
