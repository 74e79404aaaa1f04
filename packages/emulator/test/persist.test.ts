import { readFileSync } from "node:fs"
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { startEmulator } from "../src/emulator.js"
import {
  DEFAULT_RESOURCE_GROUP,
  DEFAULT_SUBSCRIPTION_ID,
  DEFAULT_VM_PRINCIPAL_ID,
  defaultWorld,
  READER_ROLE_ID,
  roleDefinitionResourceId,
  type World,
} from "../src/world/model.js"
import { loadState, openPersistentWorld, StateFile, writeFileAtomic } from "../src/world/persist.js"
import { parseWorld, WorldValidationError } from "../src/world/validate.js"

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "azmi-state-"))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

const readJson = async (path: string): Promise<World> => JSON.parse(await readFile(path, "utf8"))

const readerForVm = {
  name: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
  scope: `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourceGroups/${DEFAULT_RESOURCE_GROUP}`,
  roleDefinitionId: roleDefinitionResourceId(READER_ROLE_ID),
  principalId: DEFAULT_VM_PRINCIPAL_ID,
  principalType: "ServicePrincipal" as const,
}

describe("openPersistentWorld", () => {
  it("seeds a missing state file and writes it at once, owner-only", async () => {
    const path = join(dir, "state.json")
    const { state, loaded } = await openPersistentWorld({ path, seed: defaultWorld() })
    expect(loaded).toBe(false)
    expect(await readJson(path)).toEqual(defaultWorld())
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    await state.close()
  })

  it("a restart loses nothing: role assignments and groups survive close and reopen", async () => {
    const path = join(dir, "state.json")
    const first = await openPersistentWorld({ path, seed: defaultWorld() })
    first.store.putRoleAssignment(readerForVm)
    first.store.putResourceGroup({
      subscriptionId: DEFAULT_SUBSCRIPTION_ID,
      name: "Prod",
      location: "eastus",
    })
    first.store.putResourceGroup({
      subscriptionId: DEFAULT_SUBSCRIPTION_ID,
      name: "Scratch",
      location: "eastus",
    })
    first.store.deleteResourceGroup(DEFAULT_SUBSCRIPTION_ID, "scratch")
    const before = first.store.toJSON()
    await first.state.close()

    // A different seed proves the file, not the seed, is what a restart uses.
    const second = await openPersistentWorld({ path, seed: { ...defaultWorld(), resourceGroups: [] } })
    expect(second.loaded).toBe(true)
    expect(second.store.toJSON()).toEqual(before)
    expect(second.store.findRoleAssignment(readerForVm.name)?.principalId).toBe(DEFAULT_VM_PRINCIPAL_ID)
    expect(second.store.findResourceGroup(DEFAULT_SUBSCRIPTION_ID, "PROD")?.location).toBe("eastus")
    expect(second.store.findResourceGroup(DEFAULT_SUBSCRIPTION_ID, "Scratch")).toBeUndefined()
    await second.state.close()
  })

  it("writes a change after the debounce without waiting for close", async () => {
    const path = join(dir, "state.json")
    const { store, state } = await openPersistentWorld({ path, seed: defaultWorld(), debounceMs: 5 })
    store.putRoleAssignment(readerForVm)
    await expect
      .poll(async () => (await readJson(path)).roleAssignments.some((a) => a.name === readerForVm.name))
      .toBe(true)
    await state.close()
  })

  it("coalesces a burst of changes into one write", async () => {
    const path = join(dir, "state.json")
    const { store, state } = await openPersistentWorld({ path, seed: defaultWorld(), debounceMs: 60_000 })
    expect(state.writes).toBe(1)
    for (let i = 0; i < 50; i++) {
      store.putResourceGroup({ subscriptionId: DEFAULT_SUBSCRIPTION_ID, name: `rg-${i}`, location: "westus" })
    }
    expect(state.writes).toBe(1)
    await state.close()
    expect(state.writes).toBe(2)
    expect((await readJson(path)).resourceGroups).toHaveLength(51)
  })

  it("close flushes a pending change even with a long debounce, and is idempotent", async () => {
    const path = join(dir, "state.json")
    const { store, state } = await openPersistentWorld({ path, seed: defaultWorld(), debounceMs: 60_000 })
    store.putRoleAssignment(readerForVm)
    await state.close()
    await state.close()
    expect((await readJson(path)).roleAssignments.map((a) => a.name)).toContain(readerForVm.name)
    store.deleteRoleAssignment(readerForVm.name)
    await state.flush()
    expect((await readJson(path)).roleAssignments.map((a) => a.name)).toContain(readerForVm.name)
  })

  it("leaves no temp files behind and the file always parses as a valid world", async () => {
    const path = join(dir, "state.json")
    const { store, state } = await openPersistentWorld({ path, seed: defaultWorld(), debounceMs: 0 })
    for (let i = 0; i < 20; i++) {
      store.putResourceGroup({ subscriptionId: DEFAULT_SUBSCRIPTION_ID, name: `g${i}`, location: "westus" })
      await new Promise((resolve) => setImmediate(resolve))
      expect(() => parseWorld(JSON.parse(readFileSync(path, "utf8")))).not.toThrow()
    }
    await state.close()
    expect(await readdir(dir)).toEqual(["state.json"])
    expect(parseWorld(await readJson(path)).resourceGroups).toHaveLength(21)
  })

  it("refuses an invalid state file, naming it and the field, and leaves it untouched", async () => {
    const path = join(dir, "state.json")
    const broken = { ...defaultWorld(), vms: [{ ...defaultWorld().vms[0], vmId: "nope" }] }
    await writeFile(path, JSON.stringify(broken))
    const error = await openPersistentWorld({ path, seed: defaultWorld() }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(WorldValidationError)
    expect((error as Error).message).toContain(path)
    expect((error as Error).message).toContain("world.vms[0].vmId: must be a GUID")
    expect(JSON.parse(await readFile(path, "utf8"))).toEqual(broken)
  })

  it("refuses a state file that is not JSON", async () => {
    const path = join(dir, "state.json")
    await writeFile(path, "{")
    await expect(openPersistentWorld({ path, seed: defaultWorld() })).rejects.toThrow("not valid JSON")
  })
})

describe("StateFile failures", () => {
  it("reports a failed background write through onError and keeps the change pending", async () => {
    const sub = join(dir, "sub")
    await mkdir(sub)
    const path = join(sub, "state.json")
    const errors: Array<unknown> = []
    let world = defaultWorld()
    const file = new StateFile(path, () => world, { debounceMs: 0, onError: (e) => errors.push(e) })
    await rm(sub, { recursive: true })
    file.schedule()
    await expect.poll(() => errors.length).toBe(1)
    expect((errors[0] as NodeJS.ErrnoException).code).toBe("ENOENT")
    await mkdir(sub)
    world = { ...world, resourceGroups: [] }
    await file.close()
    expect((await readJson(path)).resourceGroups).toEqual([])
  })
})

describe("loadState and writeFileAtomic", () => {
  it("loadState is undefined for a missing file", async () => {
    expect(await loadState(join(dir, "none.json"))).toBeUndefined()
  })

  it("writeFileAtomic replaces the whole file", async () => {
    const path = join(dir, "f.json")
    await writeFileAtomic(path, "a".repeat(1000))
    await writeFileAtomic(path, "b")
    expect(await readFile(path, "utf8")).toBe("b")
    expect(await readdir(dir)).toEqual(["f.json"])
  })
})

describe("state through a running emulator", () => {
  it("everything ARM accepts survives a restart (odd locations, any tags, assignments, deletions)", async () => {
    const path = join(dir, "state.json")
    const first = await startEmulator({ state: path, armTls: false })
    const tokenRes = await fetch(`${first.loginUrl}/${first.admin.tenantId}/oauth2/v2.0/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "client_credentials",
        client_id: first.admin.clientId,
        client_secret: first.admin.clientSecret,
        scope: "https://management.azure.com/.default",
      }),
    })
    const admin = ((await tokenRes.json()) as { access_token: string }).access_token
    const arm = (method: string, p: string, body?: unknown) =>
      fetch(`${first.armUrl}${p}`, {
        method,
        headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
    const sub = `/subscriptions/${first.subscriptionId}`
    const odd = await arm("PUT", `${sub}/resourcegroups/Odd.Group(1)?api-version=2021-04-01`, {
      location: "West Europe",
      tags: { "a/b?<>": "x".repeat(300), empty: "" },
    })
    expect(odd.status).toBe(201)
    expect(
      (await arm("PUT", `${sub}/resourceGroups/Gone?api-version=2021-04-01`, { location: "eastus" })).status,
    ).toBe(201)
    expect((await arm("DELETE", `${sub}/resourceGroups/Gone?api-version=2021-04-01`)).status).toBeLessThan(
      300,
    )
    const assignment = await arm(
      "PUT",
      `${sub}/resourceGroups/Odd.Group(1)/providers/Microsoft.Authorization/roleAssignments/${readerForVm.name}?api-version=2022-04-01`,
      {
        properties: {
          roleDefinitionId: `${sub}/providers/Microsoft.Authorization/roleDefinitions/${READER_ROLE_ID}`,
          principalId: DEFAULT_VM_PRINCIPAL_ID,
          principalType: "ServicePrincipal",
        },
      },
    )
    expect(assignment.status).toBe(201)
    const before = first.world.toJSON()
    await first.close()

    const second = await startEmulator({ state: path, armTls: false })
    try {
      expect(second.world.toJSON()).toEqual(before)
      expect(
        second.world.findResourceGroup(second.subscriptionId, "odd.group(1)")?.tags?.["a/b?<>"],
      ).toHaveLength(300)
      expect(second.world.findResourceGroup(second.subscriptionId, "Gone")).toBeUndefined()
      expect(second.world.findRoleAssignment(readerForVm.name)?.principalId).toBe(DEFAULT_VM_PRINCIPAL_ID)
    } finally {
      await second.close()
    }
  })
})

describe("state file location", () => {
  it("creates missing parent directories", async () => {
    const path = join(dir, "nested", "deeper", "state.json")
    const { state } = await openPersistentWorld({ path, seed: defaultWorld() })
    await state.close()
    expect((await readJson(path)).tenants).toEqual(defaultWorld().tenants)
  })
})
