import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DEFAULT_SUBSCRIPTION_ID } from "../src/index.js"
import { json, READER_ID, start, type TestEmulator } from "./helpers.js"

const SUB = `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}`
const V = "api-version=2025-04-01"

let t: TestEmulator
let admin: string
beforeAll(async () => {
  t = await start()
  admin = await t.adminToken()
  for (const [name, tags] of [
    ["alpha", { env: "prod", team: "a" }],
    ["Bravo", { env: "dev" }],
    ["charlie", { Env: "prod" }],
    ["delta", {}],
  ] as const) {
    const res = await t.arm(`${SUB}/resourcegroups/${name}?${V}`, admin, {
      method: "PUT",
      body: { location: "eastus", tags },
    })
    expect(res.status).toBe(201)
  }
})
afterAll(() => t.close())

describe("resource group GET / HEAD", () => {
  it("GET returns the group with id in resourceGroups casing", async () => {
    const res = await t.arm(`${SUB}/resourcegroups/DevTest?${V}`, admin)
    expect(res.status).toBe(200)
    expect(await json(res)).toEqual({
      id: `${SUB}/resourceGroups/DevTest`,
      name: "DevTest",
      type: "Microsoft.Resources/resourceGroups",
      location: "westus",
      tags: { env: "dev" },
      properties: { provisioningState: "Succeeded" },
    })
  })

  it("accepts resourceGroups and resourcegroups, and names case-insensitively (case preserved)", async () => {
    for (const path of [
      `${SUB}/resourceGroups/devtest`,
      `${SUB}/resourcegroups/DEVTEST`,
      `${SUB}/RESOURCEGROUPS/DevTest`,
    ]) {
      const res = await t.arm(`${path}?${V}`, admin)
      expect(res.status, path).toBe(200)
      expect((await json(res)).name).toBe("DevTest")
    }
  })

  it("GET of a missing group → 404 ResourceGroupNotFound", async () => {
    const res = await t.arm(`${SUB}/resourcegroups/missing?${V}`, admin)
    expect(res.status).toBe(404)
    expect(await json(res)).toEqual({
      error: { code: "ResourceGroupNotFound", message: "Resource group 'missing' could not be found." },
    })
  })

  it("HEAD → 204 when it exists, 404 when not, no body", async () => {
    const yes = await t.arm(`${SUB}/resourcegroups/devtest?${V}`, admin, { method: "HEAD" })
    expect(yes.status).toBe(204)
    expect(await yes.text()).toBe("")
    const no = await t.arm(`${SUB}/resourcegroups/missing?${V}`, admin, { method: "HEAD" })
    expect(no.status).toBe(404)
  })
})

describe("resource group PUT / PATCH / DELETE", () => {
  it("PUT creates (201) then updates (200), keeping the latest name casing", async () => {
    const path = `${SUB}/resourcegroups/Echo?${V}`
    expect((await t.arm(path, admin, { method: "PUT", body: { location: "westeurope" } })).status).toBe(201)
    const again = await t.arm(`${SUB}/resourcegroups/ECHO?${V}`, admin, {
      method: "PUT",
      body: { location: "westeurope", tags: { a: "b" } },
    })
    expect(again.status).toBe(200)
    const body = await json(again)
    expect(body.name).toBe("ECHO")
    expect(body.id).toBe(`${SUB}/resourceGroups/ECHO`)
    expect(body.tags).toEqual({ a: "b" })
  })

  it("PUT without location → 400 LocationRequired", async () => {
    const res = await t.arm(`${SUB}/resourcegroups/nolocation?${V}`, admin, { method: "PUT", body: {} })
    expect(res.status).toBe(400)
    expect((await json(res)).error.code).toBe("LocationRequired")
  })

  it("PUT with a different location for an existing group → 409 InvalidResourceGroupLocation", async () => {
    const res = await t.arm(`${SUB}/resourcegroups/DevTest?${V}`, admin, {
      method: "PUT",
      body: { location: "eastus" },
    })
    expect(res.status).toBe(409)
    expect((await json(res)).error.code).toBe("InvalidResourceGroupLocation")
  })

  it("PUT with an invalid name → 400 InvalidResourceGroup", async () => {
    for (const name of ["bad%20name", "ends-with-dot.", "a".repeat(91), "semi%3Bcolon"]) {
      const res = await t.arm(`${SUB}/resourcegroups/${name}?${V}`, admin, {
        method: "PUT",
        body: { location: "x" },
      })
      expect(res.status, name).toBe(400)
      expect((await json(res)).error.code).toBe("InvalidResourceGroup")
    }
  })

  it("PUT with invalid JSON → 400 InvalidRequestContent", async () => {
    const res = await t.arm(`${SUB}/resourcegroups/badjson?${V}`, admin, { method: "PUT", body: "{not json" })
    expect(res.status).toBe(400)
    expect((await json(res)).error.code).toBe("InvalidRequestContent")
  })

  it("PATCH replaces tags", async () => {
    const res = await t.arm(`${SUB}/resourcegroups/delta?${V}`, admin, {
      method: "PATCH",
      body: { tags: { x: "1" } },
    })
    expect(res.status).toBe(200)
    expect((await json(res)).tags).toEqual({ x: "1" })
  })

  it("DELETE removes the group (200), then 404", async () => {
    await t.arm(`${SUB}/resourcegroups/foxtrot?${V}`, admin, { method: "PUT", body: { location: "westus" } })
    expect((await t.arm(`${SUB}/resourcegroups/FOXTROT?${V}`, admin, { method: "DELETE" })).status).toBe(200)
    expect((await t.arm(`${SUB}/resourcegroups/foxtrot?${V}`, admin)).status).toBe(404)
    expect((await t.arm(`${SUB}/resourcegroups/foxtrot?${V}`, admin, { method: "DELETE" })).status).toBe(404)
  })

  it("changes are visible in the live world", async () => {
    await t.arm(`${SUB}/resourcegroups/golf?${V}`, admin, { method: "PUT", body: { location: "westus" } })
    expect(t.emu.world.findResourceGroup(DEFAULT_SUBSCRIPTION_ID, "GOLF")?.name).toBe("golf")
    expect(t.emu.world.toJSON().resourceGroups.some((g) => g.name === "golf")).toBe(true)
  })

  it("unsupported methods → 405", async () => {
    expect(
      (await t.arm(`${SUB}/resourcegroups/DevTest?${V}`, admin, { method: "POST", body: {} })).status,
    ).toBe(405)
  })
})

describe("resource group list", () => {
  const list = async (query = "") => json(await t.arm(`${SUB}/resourcegroups?${V}${query}`, admin))

  it("lists every group with resourceGroups ids", async () => {
    const body = await list()
    const names = body.value.map((g: { name: string }) => g.name)
    for (const n of ["DevTest", "alpha", "Bravo", "charlie", "delta"]) expect(names).toContain(n)
    expect(body.nextLink).toBeUndefined()
    for (const g of body.value) expect(g.id).toBe(`${SUB}/resourceGroups/${g.name}`)
  })

  it("$top pages with a nextLink carrying $skiptoken, until no nextLink", async () => {
    const all = (await list()).value.map((g: { name: string }) => g.name)
    const seen: string[] = []
    let next: string | undefined = `${SUB}/resourcegroups?${V}&%24top=2`
    let pages = 0
    while (next !== undefined) {
      const res = await t.arm(next, admin)
      expect(res.status).toBe(200)
      const body = await json(res)
      expect(body.value.length).toBeLessThanOrEqual(2)
      seen.push(...body.value.map((g: { name: string }) => g.name))
      if (body.nextLink !== undefined) {
        expect(body.nextLink.startsWith(`${t.emu.armUrl}${SUB}/resourcegroups?`)).toBe(true)
        expect(body.nextLink).toMatch(/%24skiptoken=/)
        next = body.nextLink.slice(t.emu.armUrl.length)
      } else next = undefined
      pages++
    }
    expect(pages).toBe(Math.ceil(all.length / 2))
    expect(seen).toEqual(all)
  })

  it("$filter by tag name (case-insensitive) and value", async () => {
    const byName = (await list(`&$filter=${encodeURIComponent("tagName eq 'env'")}`)).value.map(
      (g: { name: string }) => g.name,
    )
    expect(byName.sort()).toEqual(["Bravo", "DevTest", "alpha", "charlie"].sort())
    const byValue = (
      await list(`&$filter=${encodeURIComponent("tagName eq 'env' and tagValue eq 'prod'")}`)
    ).value.map((g: { name: string }) => g.name)
    expect(byValue.sort()).toEqual(["alpha", "charlie"])
  })

  it("an unsupported $filter → 400", async () => {
    const res = await t.arm(`${SUB}/resourcegroups?${V}&$filter=${encodeURIComponent("name eq 'x'")}`, admin)
    expect(res.status).toBe(400)
  })

  it("an invalid $top or $skiptoken → 400", async () => {
    expect((await t.arm(`${SUB}/resourcegroups?${V}&$top=0`, admin)).status).toBe(400)
    expect((await t.arm(`${SUB}/resourcegroups?${V}&$top=abc`, admin)).status).toBe(400)
    expect((await t.arm(`${SUB}/resourcegroups?${V}&$skiptoken=%%%`, admin)).status).toBe(400)
  })

  it("a caller with only group-scoped Reader sees just that group", async () => {
    const vm = t.emu.vm.systemAssigned!.principalId
    const put = await t.arm(
      `${SUB}/resourceGroups/alpha/providers/Microsoft.Authorization/roleAssignments/7a7a7a7a-0000-4000-8000-000000000001?api-version=2022-04-01`,
      admin,
      {
        method: "PUT",
        body: { properties: { roleDefinitionId: READER_ID(DEFAULT_SUBSCRIPTION_ID), principalId: vm } },
      },
    )
    expect(put.status).toBe(201)
    const res = await t.arm(`${SUB}/resourcegroups?${V}`, await t.vmToken())
    expect(res.status).toBe(200)
    expect((await json(res)).value.map((g: { name: string }) => g.name)).toEqual(["alpha"])
  })
})

describe("subscriptions", () => {
  it("GET a subscription", async () => {
    const res = await t.arm(`${SUB}?api-version=2022-12-01`, admin)
    expect(res.status).toBe(200)
    expect(await json(res)).toMatchObject({
      id: SUB,
      subscriptionId: DEFAULT_SUBSCRIPTION_ID,
      displayName: "Emulated subscription",
      state: "Enabled",
      tenantId: t.emu.tenantId,
    })
  })

  it("lists the subscriptions the caller has access to", async () => {
    const body = await json(await t.arm("/subscriptions?api-version=2022-12-01", admin))
    expect(body.value.map((s: { subscriptionId: string }) => s.subscriptionId)).toEqual([
      DEFAULT_SUBSCRIPTION_ID,
    ])
  })
})
