import { describe, expect, it } from "vitest"
import {
  DEFAULT_ADMIN_OBJECT_ID,
  DEFAULT_SUBSCRIPTION_ID,
  defaultWorld,
  OWNER_ROLE_ID,
  READER_ROLE_ID,
  type WorldChange,
  WorldStore,
} from "../src/index.js"

describe("defaultWorld", () => {
  it("mirrors the seed quickstart", () => {
    const w = defaultWorld()
    expect(w.tenants[0]?.tenantId).toBe("72f988bf-86f1-41af-91ab-2d7cd011db47")
    expect(w.subscriptions).toHaveLength(1)
    expect(w.resourceGroups).toEqual([
      { subscriptionId: DEFAULT_SUBSCRIPTION_ID, name: "DevTest", location: "westus", tags: { env: "dev" } },
    ])
    expect(w.vms[0]).toMatchObject({
      name: "myVM",
      resourceGroup: "DevTest",
      osType: "Linux",
      userAssigned: [],
    })
    expect(w.vms[0]?.systemAssigned).toBeTruthy()
    // The only assignment: the admin is Owner of the subscription; the VM has no role yet.
    expect(w.roleAssignments).toHaveLength(1)
    expect(w.roleAssignments[0]).toMatchObject({
      principalId: DEFAULT_ADMIN_OBJECT_ID,
      scope: `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}`,
    })
    expect(w.roleAssignments[0]?.roleDefinitionId.endsWith(OWNER_ROLE_ID)).toBe(true)
  })

  it("returns a fresh copy each time", () => {
    const a = defaultWorld()
    ;(a.resourceGroups as unknown[]).length = 0
    expect(defaultWorld().resourceGroups).toHaveLength(1)
  })
})

describe("WorldStore", () => {
  it("looks names up case-insensitively and keeps the latest casing", () => {
    const store = new WorldStore()
    expect(store.findResourceGroup(DEFAULT_SUBSCRIPTION_ID.toUpperCase(), "devtest")?.name).toBe("DevTest")
    const { created } = store.putResourceGroup({
      subscriptionId: DEFAULT_SUBSCRIPTION_ID,
      name: "DEVTEST",
      location: "westus",
    })
    expect(created).toBe(false)
    expect(store.findResourceGroup(DEFAULT_SUBSCRIPTION_ID, "devtest")?.name).toBe("DEVTEST")
    expect(store.resourceGroups(DEFAULT_SUBSCRIPTION_ID)).toHaveLength(1)
  })

  it("notifies listeners of every change and stops after unsubscribe", () => {
    const store = new WorldStore()
    const seen: WorldChange["kind"][] = []
    const off = store.onChange((c) => seen.push(c.kind))
    store.putResourceGroup({ subscriptionId: DEFAULT_SUBSCRIPTION_ID, name: "x", location: "westus" })
    store.putRoleAssignment({
      name: "a",
      scope: `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourceGroups/x`,
      roleDefinitionId: READER_ROLE_ID,
      principalId: "p",
      principalType: "ServicePrincipal",
    })
    store.deleteRoleAssignment("A")
    store.deleteResourceGroup(DEFAULT_SUBSCRIPTION_ID, "X")
    store.replace(defaultWorld())
    off()
    store.putResourceGroup({ subscriptionId: DEFAULT_SUBSCRIPTION_ID, name: "y", location: "westus" })
    expect(seen).toEqual([
      "resourceGroup.put",
      "roleAssignment.put",
      "roleAssignment.delete",
      "resourceGroup.delete",
      "world.replace",
    ])
  })

  it("deleting a group removes the role assignments scoped inside it", () => {
    const store = new WorldStore()
    store.putResourceGroup({ subscriptionId: DEFAULT_SUBSCRIPTION_ID, name: "tmp", location: "westus" })
    store.putRoleAssignment({
      name: "in-group",
      scope: `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourceGroups/TMP`,
      roleDefinitionId: READER_ROLE_ID,
      principalId: "p",
      principalType: "ServicePrincipal",
    })
    store.deleteResourceGroup(DEFAULT_SUBSCRIPTION_ID, "tmp")
    expect(store.findRoleAssignment("in-group")).toBeUndefined()
    expect(store.roleAssignments()).toHaveLength(1)
  })

  it("toJSON is a deep copy", () => {
    const store = new WorldStore()
    const snapshot = store.toJSON()
    store.putResourceGroup({ subscriptionId: DEFAULT_SUBSCRIPTION_ID, name: "later", location: "westus" })
    expect(snapshot.resourceGroups).toHaveLength(1)
    expect(store.toJSON().resourceGroups).toHaveLength(2)
  })

  it("toJSONText is the pretty JSON of toJSON, with a final newline", () => {
    const store = new WorldStore()
    store.putResourceGroup({ subscriptionId: DEFAULT_SUBSCRIPTION_ID, name: "later", location: "westus" })
    expect(store.toJSONText()).toBe(`${JSON.stringify(store.toJSON(), null, 2)}\n`)
  })

  it("finds built-in role definitions by GUID or full id", () => {
    const store = new WorldStore()
    expect(store.findRoleDefinition(READER_ROLE_ID)?.roleName).toBe("Reader")
    expect(
      store.findRoleDefinition(
        `/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/${OWNER_ROLE_ID}`,
      )?.roleName,
    ).toBe("Owner")
  })
})
