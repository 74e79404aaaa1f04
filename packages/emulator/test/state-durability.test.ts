/**
 * End to end, `azmi-emulator --state`: a change is answered only once it is on disk. Eight concurrent writers
 * create, update and delete resource groups and create role assignments; the process is killed with SIGKILL
 * mid-load and restarted on the same file; every change that was acknowledged must be there.
 */
import { randomUUID } from "node:crypto"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DEFAULT_VM_PRINCIPAL_ID, READER_ROLE_ID, type World } from "../src/world/model.js"
import { adminToken, type StartedInfo, start, useBin } from "./bin-process.js"

const bin = useBin("state-durability")
let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "azmi-durable-"))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** What the clients were told: only these may be asserted after the crash. */
interface Acknowledged {
  readonly created: Set<string>
  /** Group → the tag value a PATCH was acknowledged with. */
  readonly patched: Map<string, string>
  /** Groups a DELETE was sent for (acknowledged or not): their fate is open unless acknowledged. */
  readonly deleting: Set<string>
  readonly deleted: Set<string>
  /** Role assignment name → the group it is scoped to. */
  readonly assignments: Map<string, string>
}

const WRITERS = 8

/** One writer's loop until the emulator goes away: PUT a group, sometimes PATCH it, delete an older one, assign a role. */
const writer = async (info: StartedInfo, token: string, w: number, acked: Acknowledged): Promise<void> => {
  const sub = `/subscriptions/${info.subscriptionId}`
  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${info.armUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
  try {
    for (let i = 0; ; i++) {
      const group = `w${w}-g${i}`
      const put = await call("PUT", `${sub}/resourceGroups/${group}?api-version=2021-04-01`, {
        location: "westus",
      })
      if (put.status !== 201) throw new Error(`PUT ${group}: ${put.status}`)
      acked.created.add(group)
      if (i % 6 === 2) {
        const patch = await call("PATCH", `${sub}/resourceGroups/${group}?api-version=2021-04-01`, {
          tags: { n: String(i) },
        })
        if (patch.status !== 200) throw new Error(`PATCH ${group}: ${patch.status}`)
        acked.patched.set(group, String(i))
      }
      if (i % 7 === 3) {
        const name = randomUUID()
        const assign = await call(
          "PUT",
          `${sub}/resourceGroups/${group}/providers/Microsoft.Authorization/roleAssignments/${name}?api-version=2022-04-01`,
          {
            properties: {
              roleDefinitionId: `${sub}/providers/Microsoft.Authorization/roleDefinitions/${READER_ROLE_ID}`,
              principalId: DEFAULT_VM_PRINCIPAL_ID,
              principalType: "ServicePrincipal",
            },
          },
        )
        if (assign.status !== 201) throw new Error(`PUT assignment: ${assign.status}`)
        acked.assignments.set(name, group)
      }
      if (i % 5 === 4) {
        const old = `w${w}-g${i - 1}`
        acked.deleting.add(old)
        const del = await call("DELETE", `${sub}/resourceGroups/${old}?api-version=2021-04-01`)
        if (del.status !== 200) throw new Error(`DELETE ${old}: ${del.status}`)
        acked.deleted.add(old)
      }
    }
  } catch (e) {
    // The kill ends every writer with a connection error; anything else is a failure of the test itself.
    if (!(e instanceof TypeError)) throw e
  }
}

describe("azmi-emulator --state durability", () => {
  it("SIGKILL mid-load (8 concurrent writers), restart on the same file: every acknowledged change is there", async () => {
    const state = join(dir, "state.json")
    const first = await start(bin, ["--state", state, "--no-tls"])
    const token = await adminToken(first.info)
    const acked: Acknowledged = {
      created: new Set(),
      patched: new Map(),
      deleting: new Set(),
      deleted: new Set(),
      assignments: new Map(),
    }
    const writers = Promise.all(
      Array.from({ length: WRITERS }, (_, w) => writer(first.info, token, w, acked)),
    )
    // Mid-load: enough acknowledged changes that a lost tail would show, with every writer still sending.
    await expect.poll(() => acked.created.size, { timeout: 20_000, interval: 5 }).toBeGreaterThanOrEqual(300)
    first.child.kill("SIGKILL")
    expect(await first.exited).toBeNull()
    await writers

    const second = await start(bin, ["--state", state, "--no-tls"])
    try {
      const world = (await (await fetch(`${second.info.controlUrl}/_emulator/world`)).json()) as World
      const groups = new Map(world.resourceGroups.map((g) => [g.name, g]))
      const lost = [...acked.created].filter((g) => !acked.deleting.has(g) && !groups.has(g))
      expect(lost, `acknowledged creates lost (of ${acked.created.size})`).toEqual([])
      const resurrected = [...acked.deleted].filter((g) => groups.has(g))
      expect(resurrected, "acknowledged deletes undone").toEqual([])
      const untagged = [...acked.patched].filter(
        ([g, n]) => !acked.deleting.has(g) && groups.get(g)?.tags?.n !== n,
      )
      expect(untagged, "acknowledged updates lost").toEqual([])
      const names = new Set(world.roleAssignments.map((a) => a.name))
      const lostAssignments = [...acked.assignments].filter(
        ([name, group]) => !acked.deleting.has(group) && !names.has(name),
      )
      expect(lostAssignments, "acknowledged role assignments lost").toEqual([])
      // The test saw a real mix of changes, not just creates.
      expect(acked.deleted.size).toBeGreaterThan(0)
      expect(acked.patched.size).toBeGreaterThan(0)
      expect(acked.assignments.size).toBeGreaterThan(0)
    } finally {
      second.child.kill("SIGTERM")
      expect(await second.exited).toBe(0)
    }
  })
})
