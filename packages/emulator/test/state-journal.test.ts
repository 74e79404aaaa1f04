/**
 * The state journal: changes are appended to `FILE.journal` (one fdatasync per batch) instead of rewriting the
 * world file; a restart replays it on the world file. "A crash" here is a copy of the files as they are on disk
 * while the first emulator still runs (it keeps its lock), opened in a fresh directory.
 */
import {
  appendFile,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  writeFile,
} from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { contentDigest, journalPath, parseJournal } from "../src/world/journal.js"
import {
  DEFAULT_RESOURCE_GROUP,
  DEFAULT_SUBSCRIPTION_ID,
  DEFAULT_VM_PRINCIPAL_ID,
  defaultWorld,
  type Host,
  READER_ROLE_ID,
  roleDefinitionResourceId,
  type World,
  WorldStore,
} from "../src/world/model.js"
import { loadState, openPersistentWorld } from "../src/world/persist.js"
import { WorldValidationError } from "../src/world/validate.js"
import { appServiceAndCluster, workloadApp } from "./world-fixtures.js"

const SUB = DEFAULT_SUBSCRIPTION_ID
let dir: string
let path: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "azmi-journal-"))
  path = join(dir, "state.json")
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

const readJson = async (p: string): Promise<World> => JSON.parse(await readFile(p, "utf8"))

/** The files as a crash would leave them now: copied (world file and journal, if any) into a new directory. */
const crashCopy = async (): Promise<string> => {
  const to = await mkdtemp(join(dir, "crash-"))
  await copyFile(path, join(to, "state.json"))
  await copyFile(journalPath(path), journalPath(join(to, "state.json"))).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== "ENOENT") throw e
  })
  return join(to, "state.json")
}

const assignment = (name: string, group: string) => ({
  name,
  scope: `/subscriptions/${SUB}/resourceGroups/${group}`,
  roleDefinitionId: roleDefinitionResourceId(READER_ROLE_ID),
  principalId: DEFAULT_VM_PRINCIPAL_ID,
  principalType: "ServicePrincipal" as const,
})
const A1 = "11111111-1111-4111-8111-111111111111"
const A2 = "22222222-2222-4222-8222-222222222222"
const A3 = "33333333-3333-4333-8333-333333333333"

/** One of every kind of change the store makes (issue 13's hosts and federated credentials included). */
const everyKindOfChange = (store: WorldStore): void => {
  store.putResourceGroup({ subscriptionId: SUB, name: "Prod", location: "eastus", tags: { a: "1" } })
  store.putResourceGroup({ subscriptionId: SUB, name: "PROD", location: "eastus", tags: { a: "2" } })
  store.putResourceGroup({ subscriptionId: SUB, name: "Doomed", location: "westus" })
  store.putRoleAssignment(assignment(A1, "Doomed"))
  store.putRoleAssignment(assignment(A2, "Prod"))
  store.putRoleAssignment(assignment(A3, "Prod"))
  store.deleteRoleAssignment(A3)
  // Takes A1 with it.
  store.deleteResourceGroup(SUB, "doomed")
  store.putServicePrincipal(workloadApp())
  // In the default group, and in one made in this journal.
  const [web, cluster] = appServiceAndCluster()
  store.putHost(cluster as Host)
  store.putHost({ ...(web as Host), resourceGroup: "Prod" })
}

describe("the state journal", () => {
  it("a change is made durable by an append to FILE.journal; the world file is not rewritten", async () => {
    const { store, state } = await openPersistentWorld({ path, seed: defaultWorld() })
    const seeded = await readFile(path, "utf8")
    store.putResourceGroup({ subscriptionId: SUB, name: "Prod", location: "eastus" })
    await state.durable()
    expect(await readFile(path, "utf8")).toBe(seeded)
    const journal = await readFile(journalPath(path), "utf8")
    expect(parseJournal(journal, contentDigest(seeded), "test")).toEqual([
      {
        kind: "resourceGroup.put",
        resourceGroup: { subscriptionId: SUB, name: "Prod", location: "eastus" },
      },
    ])
    expect(state.compactions).toBe(1) // the seed
    // It holds what the world file holds: the service principals' secrets among them.
    expect((await stat(journalPath(path))).mode & 0o777).toBe(0o600)
    await state.close()
  })

  it("every kind of change is replayed after a crash: groups (and the assignments a delete takes), assignments, service principals with federated credentials, hosts", async () => {
    const { store, state } = await openPersistentWorld({ path, seed: defaultWorld() })
    everyKindOfChange(store)
    await state.durable()
    const before = store.toJSON()
    expect(before.hosts).toHaveLength(2)
    expect(before.roleAssignments.map((a) => a.name)).toEqual(
      expect.not.arrayContaining([A1, A3]) as unknown as string[],
    )

    const crashed = await crashCopy()
    const after = await openPersistentWorld({
      path: crashed,
      seed: { ...defaultWorld(), resourceGroups: [] },
    })
    expect(after.loaded).toBe(true)
    expect(after.store.toJSON()).toEqual(before)
    // The start folded the journal into the world file: a plain, complete world again.
    expect(await readJson(crashed)).toEqual(before)
    await expect(readFile(journalPath(crashed))).rejects.toThrow("ENOENT")
    await after.state.close()
    await state.close()
  })

  it("a journal replays to the same world as the store that wrote it, step by step (replay = the mutations)", async () => {
    // The same changes applied to a fresh store from their recorded form give the same world.
    const store = new WorldStore(defaultWorld())
    const recorded: Array<Parameters<WorldStore["apply"]>[0]> = []
    store.onChange((c) => {
      if (c.kind !== "world.replace") recorded.push(JSON.parse(JSON.stringify(c)))
    })
    everyKindOfChange(store)
    const replayed = new WorldStore(defaultWorld())
    for (const c of recorded) replayed.apply(c)
    expect(replayed.toJSON()).toEqual(store.toJSON())
  })

  it("a torn last batch (a crash mid-append) is ignored; every batch before it is there", async () => {
    const { store, state } = await openPersistentWorld({ path, seed: defaultWorld() })
    store.putResourceGroup({ subscriptionId: SUB, name: "Acked", location: "eastus" })
    await state.durable()
    for (const torn of [
      '{"seq":2,"changes":[{"kind":"resourceGroup.put","resou',
      '{"seq":2,"cha\u0000\u0000\n',
    ]) {
      const crashed = await crashCopy()
      await appendFile(journalPath(crashed), torn)
      expect((await loadState(crashed))?.resourceGroups.map((g) => g.name)).toEqual([
        DEFAULT_RESOURCE_GROUP,
        "Acked",
      ])
    }
    await state.close()
  })

  it("a bad line before the last is damage, not a torn write: the state is refused, naming the journal and line, and left untouched", async () => {
    const { store, state } = await openPersistentWorld({ path, seed: defaultWorld() })
    store.putResourceGroup({ subscriptionId: SUB, name: "One", location: "eastus" })
    await state.durable()
    store.putResourceGroup({ subscriptionId: SUB, name: "Two", location: "eastus" })
    await state.durable()
    const crashed = await crashCopy()
    const lines = (await readFile(journalPath(crashed), "utf8")).split("\n").slice(0, -1)
    const cases = [
      { line: 2, text: "garbage", says: "journal line 2: not valid JSON" },
      { line: 2, text: '{"seq":7,"changes":[]}', says: 'journal line 2: must be batch {"seq":1' },
      {
        line: 3,
        text: '{"seq":2,"changes":[{"kind":"resourceGroup.put","resourceGroup":{"subscriptionId":"nope","name":"x","location":"w"}}]}',
        says: "journal line 3: changes[0].resourceGroup.subscriptionId: must be a GUID",
      },
      {
        line: 3,
        text: '{"seq":2,"changes":[{"kind":"vm.put"}]}',
        says: "journal line 3: changes[0].kind: must be one of resourceGroup.put",
      },
      { line: 1, text: '{"base":"x"}', says: "journal line 1: not a journal header" },
    ]
    for (const c of cases) {
      const damaged = lines.map((l, i) => (i === c.line - 1 ? c.text : l)).join("\n")
      await writeFile(journalPath(crashed), `${damaged}\n{"seq":3,"changes":[]}\n`)
      const error = await openPersistentWorld({ path: crashed, seed: defaultWorld() }).catch(
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(WorldValidationError)
      expect((error as Error).message).toContain(`${crashed} (journal ${journalPath(crashed)})`)
      expect((error as Error).message).toContain(c.says)
      expect(await readFile(journalPath(crashed), "utf8")).toBe(`${damaged}\n{"seq":3,"changes":[]}\n`)
    }
    await state.close()
  })

  it("a replayed world is validated as a whole: a journaled assignment at a scope that does not exist is refused", async () => {
    await writeFile(path, `${JSON.stringify(defaultWorld())}\n`)
    const header = {
      format: "azmi-emulator state journal 1",
      base: contentDigest(await readFile(path, "utf8")),
    }
    const change = { kind: "roleAssignment.put", roleAssignment: assignment(A1, "NoSuchGroup") }
    await writeFile(
      journalPath(path),
      `${JSON.stringify(header)}\n${JSON.stringify({ seq: 1, changes: [change] })}\n`,
    )
    await expect(openPersistentWorld({ path, seed: defaultWorld() })).rejects.toThrow(
      /journal .*world\.roleAssignments\[1\]\.scope/s,
    )
  })

  it("a journal that exists but cannot be read (a directory) is refused as the journal's problem, naming the journal; the world file's own read problem names the world file", async () => {
    await writeFile(path, JSON.stringify(defaultWorld()))
    await mkdir(journalPath(path))
    const error = await loadState(path).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(WorldValidationError)
    expect((error as Error).message).toBe(
      `Invalid world file ${path} (journal ${journalPath(path)}):\njournal: cannot read the file (EISDIR)`,
    )
    const worldDir = join(dir, "world-dir.json")
    await mkdir(worldDir)
    await expect(loadState(worldDir)).rejects.toThrow(
      `Invalid world file ${worldDir}:\nworld: cannot read the file (EISDIR)`,
    )
  })

  it("a journal written for other content of the world file (stale: the crash came after a compaction's rename) is ignored and removed", async () => {
    const world = defaultWorld()
    await writeFile(path, JSON.stringify(world))
    const header = { format: "azmi-emulator state journal 1", base: contentDigest("older content") }
    const change = {
      kind: "resourceGroup.put",
      resourceGroup: { subscriptionId: SUB, name: "FromStale", location: "westus" },
    }
    await writeFile(
      journalPath(path),
      `${JSON.stringify(header)}\n${JSON.stringify({ seq: 1, changes: [change] })}\n`,
    )
    const { store, state } = await openPersistentWorld({ path, seed: defaultWorld() })
    expect(store.toJSON()).toEqual(world)
    await expect(readFile(journalPath(path))).rejects.toThrow("ENOENT")
    await state.close()
  })

  it("once the journal outgrows the world file (and the limit), the next write folds it in: the world file is complete and the journal starts over", async () => {
    const { store, state } = await openPersistentWorld({ path, seed: defaultWorld(), compactAfterBytes: 1 })
    const worldBytes = (await readFile(path)).length
    let i = 0
    // Each change's record is ~110 bytes: the world file's size is reached well within 200.
    while (state.compactions === 1 && i < 200) {
      store.putResourceGroup({ subscriptionId: SUB, name: `g${i++}`, location: "westus" })
      await state.durable()
      // Up to the world file's size, changes are appended.
      if (state.compactions === 1)
        expect((await readFile(journalPath(path))).length).toBeLessThan(worldBytes + 400)
    }
    expect(state.compactions).toBe(2)
    expect(i).toBeGreaterThan(5)
    expect((await readJson(path)).resourceGroups).toHaveLength(i + 1)
    await expect(readFile(journalPath(path))).rejects.toThrow("ENOENT")
    store.putResourceGroup({ subscriptionId: SUB, name: "after", location: "westus" })
    await state.durable()
    const crashed = await crashCopy()
    expect((await loadState(crashed))?.resourceGroups).toHaveLength(i + 2)
    await state.close()
  })

  it("a change the journal cannot record (the whole world replaced) rewrites the world file", async () => {
    const { store, state } = await openPersistentWorld({ path, seed: defaultWorld() })
    store.putResourceGroup({ subscriptionId: SUB, name: "Journaled", location: "westus" })
    await state.durable()
    store.replace({ ...defaultWorld(), resourceGroups: [] })
    await state.durable()
    expect(state.compactions).toBe(2)
    expect((await readJson(path)).resourceGroups).toEqual([])
    await expect(readFile(journalPath(path))).rejects.toThrow("ENOENT")
    await state.close()
  })

  it("a journal deleted under the running emulator is noticed: the change is not acknowledged, and the next write rewrites the world file", async () => {
    const errors: unknown[] = []
    const { store, state } = await openPersistentWorld({
      path,
      seed: defaultWorld(),
      onError: (e) => errors.push(e),
    })
    store.putResourceGroup({ subscriptionId: SUB, name: "First", location: "westus" })
    await state.durable()
    await rm(journalPath(path))
    store.putResourceGroup({ subscriptionId: SUB, name: "Second", location: "westus" })
    await expect(state.durable()).rejects.toThrow(`${journalPath(path)} was removed while in use`)
    expect(errors).toHaveLength(1)
    await state.durable()
    const crashed = await crashCopy()
    expect((await loadState(crashed))?.resourceGroups.map((g) => g.name)).toEqual([
      DEFAULT_RESOURCE_GROUP,
      "First",
      "Second",
    ])
    await state.close()
  })

  it("close folds the journal into the world file and removes it; a start with no journal reads the world file alone", async () => {
    const { store, state } = await openPersistentWorld({ path, seed: defaultWorld() })
    store.putResourceGroup({ subscriptionId: SUB, name: "Prod", location: "westus" })
    await state.durable()
    expect((await readdir(dir)).sort()).toEqual(["state.json", "state.json.journal", "state.json.lock"])
    const before = store.toJSON()
    await state.close()
    expect(await readdir(dir)).toEqual(["state.json"])
    expect(await readJson(path)).toEqual(before)
  })
})
