import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises"
import { hostname, tmpdir } from "node:os"
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
import { StateFileError } from "../src/world/stateFileError.js"
import { parseWorld, WorldValidationError } from "../src/world/validate.js"

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "azmi-state-"))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

const readJson = async (path: string): Promise<World> => JSON.parse(await readFile(path, "utf8"))

/** What a restart would load now: the world file with its journal replayed. */
const onDisk = async (path: string): Promise<World> => {
  const world = await loadState(path)
  if (world === undefined) throw new Error(`no state at ${path}`)
  return world
}

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

  it("durable() resolves only once the change is in the file", async () => {
    const path = join(dir, "state.json")
    const { store, state } = await openPersistentWorld({ path, seed: defaultWorld() })
    store.putRoleAssignment(readerForVm)
    await state.durable()
    expect((await onDisk(path)).roleAssignments.map((a) => a.name)).toContain(readerForVm.name)
    await state.close()
    expect((await readJson(path)).roleAssignments.map((a) => a.name)).toContain(readerForVm.name)
  })

  it("a burst of changes in one turn costs one write", async () => {
    const path = join(dir, "state.json")
    const { store, state } = await openPersistentWorld({ path, seed: defaultWorld() })
    expect(state.writes).toBe(1)
    for (let i = 0; i < 50; i++) {
      store.putResourceGroup({ subscriptionId: DEFAULT_SUBSCRIPTION_ID, name: `rg-${i}`, location: "westus" })
    }
    expect(state.writes).toBe(1)
    await state.durable()
    expect(state.writes).toBe(2)
    expect((await onDisk(path)).resourceGroups).toHaveLength(51)
    await state.close()
    expect(state.writes).toBe(2)
    expect((await readJson(path)).resourceGroups).toHaveLength(51)
  })

  it("changes made while a write is under way share the next write (group commit)", async () => {
    const path = join(dir, "state.json")
    const { store, state } = await openPersistentWorld({ path, seed: defaultWorld() })
    store.putResourceGroup({ subscriptionId: DEFAULT_SUBSCRIPTION_ID, name: "first", location: "westus" })
    const first = state.durable()
    // The write of "first" starts in this check phase, before ours; its file I/O cannot finish until the
    // next poll phase, so all 20 changes below arrive while it is under way.
    const later = await new Promise<Array<Promise<void>>>((resolve) =>
      setImmediate(() =>
        resolve(
          Array.from({ length: 20 }, (_, i) => {
            store.putResourceGroup({
              subscriptionId: DEFAULT_SUBSCRIPTION_ID,
              name: `g${i}`,
              location: "westus",
            })
            return state.durable()
          }),
        ),
      ),
    )
    expect(state.writes).toBe(1)
    await Promise.all([first, ...later])
    expect((await onDisk(path)).resourceGroups).toHaveLength(22)
    await state.close()
    expect((await readJson(path)).resourceGroups).toHaveLength(22)
    // The seed, the write of "first", and one write for all 20 changes made while it was under way.
    expect(state.writes).toBe(3)
  })

  it("writes under way together replace the file in order: a slow older write never lands over a newer one", async () => {
    const path = join(dir, "state.json")
    // The first write is large (slow to write and fsync), the second tiny: the second's temp file is ready first.
    let calls = 0
    const file = new StateFile(path, () =>
      ++calls === 1 ? JSON.stringify({ v: 1, pad: "x".repeat(30_000_000) }) : JSON.stringify({ v: 2 }),
    )
    const version = () => JSON.parse(readFileSync(path, "utf8")).v
    file.changed()
    const older = file.durable()
    await new Promise((resolve) => setImmediate(resolve)) // the first write starts
    file.changed()
    const newer = file.durable()
    await newer
    expect(version()).toBe(2)
    await older
    await file.close()
    expect(file.writes).toBe(2)
    expect(version()).toBe(2)
  })

  it("close writes a pending change, is idempotent, and notes no change after it", async () => {
    const path = join(dir, "state.json")
    const { store, state } = await openPersistentWorld({ path, seed: defaultWorld() })
    store.putRoleAssignment(readerForVm)
    await state.close()
    await state.close()
    expect((await readJson(path)).roleAssignments.map((a) => a.name)).toContain(readerForVm.name)
    store.deleteRoleAssignment(readerForVm.name)
    await state.durable()
    expect((await readJson(path)).roleAssignments.map((a) => a.name)).toContain(readerForVm.name)
  })

  it("leaves no temp files behind and the file always parses as a valid world", async () => {
    const path = join(dir, "state.json")
    const { store, state } = await openPersistentWorld({ path, seed: defaultWorld() })
    for (let i = 0; i < 20; i++) {
      store.putResourceGroup({ subscriptionId: DEFAULT_SUBSCRIPTION_ID, name: `g${i}`, location: "westus" })
      if (i % 2 === 0) await state.durable()
      else await new Promise((resolve) => setImmediate(resolve))
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
  it("a failed write rejects the waiting durable(), is reported through onError, and stays pending", async () => {
    const sub = join(dir, "sub")
    await mkdir(sub)
    const path = join(sub, "state.json")
    const errors: Array<unknown> = []
    let world = defaultWorld()
    const file = new StateFile(path, () => JSON.stringify(world), { onError: (e) => errors.push(e) })
    await rm(sub, { recursive: true })
    file.changed()
    const error = await file.durable().catch((e: unknown) => e)
    expect((error as NodeJS.ErrnoException).code).toBe("ENOENT")
    expect(errors).toEqual([error])
    await mkdir(sub)
    world = { ...world, resourceGroups: [] }
    await file.durable()
    expect((await readJson(path)).resourceGroups).toEqual([])
    await file.close()
    expect(errors).toHaveLength(1)
  })

  it("a failed write with nobody waiting is reported, and close tries again", async () => {
    const sub = join(dir, "sub")
    await mkdir(sub)
    const path = join(sub, "state.json")
    const errors: Array<unknown> = []
    const file = new StateFile(path, () => JSON.stringify(defaultWorld()), { onError: (e) => errors.push(e) })
    await rm(sub, { recursive: true })
    file.changed()
    await expect.poll(() => errors.length).toBe(1)
    await mkdir(sub)
    await file.close()
    expect((await readJson(path)).tenants).toEqual(defaultWorld().tenants)
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
  it("a change whose write fails is answered 500, not success; once writes work again it is on disk", async () => {
    const sub = join(dir, "sub")
    await mkdir(sub)
    const path = join(sub, "state.json")
    const emu = await startEmulator({ state: path, armTls: false })
    const warnings: string[] = []
    const write = process.stderr.write
    process.stderr.write = ((text: string) => {
      warnings.push(text)
      return true
    }) as typeof process.stderr.write
    try {
      const form = new URLSearchParams({
        grant_type: "client_credentials",
        client_id: emu.admin.clientId,
        client_secret: emu.admin.clientSecret,
        scope: "https://management.azure.com/.default",
      })
      const token = (
        (await (
          await fetch(`${emu.loginUrl}/${emu.admin.tenantId}/oauth2/v2.0/token`, {
            method: "POST",
            body: form,
          })
        ).json()) as { access_token: string }
      ).access_token
      const put = (name: string) =>
        fetch(
          `${emu.armUrl}/subscriptions/${emu.subscriptionId}/resourceGroups/${name}?api-version=2021-04-01`,
          {
            method: "PUT",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify({ location: "westus" }),
          },
        )
      await rm(sub, { recursive: true })
      const failed = await put("Unwritten")
      expect(failed.status).toBe(500)
      expect(((await failed.json()) as { error: { code: string } }).error.code).toBe("InternalServerError")
      expect(warnings.join("")).toContain(`could not write state file ${path}`)
      await mkdir(sub)
      expect((await put("Written")).status).toBe(201)
      const names = (await readJson(path)).resourceGroups.map((g) => g.name)
      expect(names).toContain("Written")
      // A 500 means "outcome unknown", as from ARM: the change was made in memory and is on disk now.
      expect(names).toContain("Unwritten")
    } finally {
      process.stderr.write = write
      await emu.close()
    }
  })

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
  it("refuses a state file whose directory does not exist, naming it, and creates nothing", async () => {
    const path = join(dir, "nested", "deeper", "state.json")
    const error = await openPersistentWorld({ path, seed: defaultWorld() }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StateFileError)
    expect((error as StateFileError).reason).toBe("directory-missing")
    expect((error as Error).message).toContain(`directory ${join(dir, "nested", "deeper")} does not exist`)
    expect(await readdir(dir)).toEqual([])
  })

  it("refuses a state file whose directory is a file", async () => {
    await writeFile(join(dir, "file"), "")
    const error = await openPersistentWorld({
      path: join(dir, "file", "state.json"),
      seed: defaultWorld(),
    }).catch((e: unknown) => e)
    expect((error as StateFileError).reason).toBe("not-a-directory")
  })
})

describe("state file lock (one emulator per state file)", () => {
  const deadPid = async (): Promise<number> => {
    const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" })
    await new Promise((resolve) => child.on("close", resolve))
    return child.pid!
  }

  it("a second open of the same file is refused while the first holds it, and allowed after close", async () => {
    const path = join(dir, "state.json")
    const first = await openPersistentWorld({ path, seed: defaultWorld() })
    const error = await openPersistentWorld({ path, seed: defaultWorld() }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StateFileError)
    expect((error as StateFileError).reason).toBe("locked")
    expect((error as Error).message).toContain(`is in use by another emulator (pid ${process.pid})`)
    expect(JSON.parse(await readFile(`${path}.lock`, "utf8"))).toEqual({ pid: process.pid, host: hostname() })
    await first.state.close()
    await expect(readFile(`${path}.lock`)).rejects.toThrow("ENOENT")
    const second = await openPersistentWorld({ path, seed: defaultWorld() })
    await second.state.close()
  })

  it("a lock left by a process that is gone is taken over", async () => {
    const path = join(dir, "state.json")
    const pid = await deadPid()
    await writeFile(`${path}.lock`, JSON.stringify({ pid, host: hostname() }))
    const { state } = await openPersistentWorld({ path, seed: defaultWorld() })
    expect(JSON.parse(await readFile(`${path}.lock`, "utf8")).pid).toBe(process.pid)
    await state.close()
    expect(await readdir(dir)).toEqual(["state.json"])
  })

  it("a lock held by a running process, by another host, or not written by an emulator is refused and kept", async () => {
    const path = join(dir, "state.json")
    const locks = [
      {
        text: JSON.stringify({ pid: process.ppid, host: hostname() }),
        says: `another emulator (pid ${process.ppid})`,
      },
      {
        text: JSON.stringify({ pid: 4242, host: "elsewhere" }),
        says: "an emulator on host elsewhere (pid 4242)",
      },
      { text: "garbage", says: "not one this emulator wrote" },
    ]
    for (const lock of locks) {
      await writeFile(`${path}.lock`, lock.text)
      const error = await openPersistentWorld({ path, seed: defaultWorld() }).catch((e: unknown) => e)
      expect((error as StateFileError).reason).toBe("locked")
      expect((error as Error).message).toContain(lock.says)
      expect((error as Error).message).toContain(`delete ${path}.lock`)
      expect(await readFile(`${path}.lock`, "utf8")).toBe(lock.text)
      expect(await readdir(dir)).toEqual(["state.json.lock"])
    }
  })
})
