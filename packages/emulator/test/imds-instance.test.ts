import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DEFAULT_SUBSCRIPTION_ID, DEFAULT_TENANT_ID, DEFAULT_VM_ID } from "../src/index.js"
import { json, start, type TestEmulator } from "./helpers.js"

let t: TestEmulator
beforeAll(async () => {
  t = await start({ armTls: false })
})
afterAll(() => t.close())

const allStrings = (node: unknown): boolean =>
  typeof node === "string" ||
  (Array.isArray(node)
    ? node.every(allStrings)
    : typeof node === "object" && node !== null && Object.values(node).every(allStrings))

describe("/metadata/instance", () => {
  it("returns compute and network with every primitive a string", async () => {
    const res = await t.imds("/metadata/instance?api-version=2025-04-07")
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toMatch(/^application\/json/)
    const body = await json(res)
    expect(Object.keys(body)).toEqual(["compute", "network"])
    expect(body.compute).toMatchObject({
      name: "myVM",
      location: "westus",
      osType: "Linux",
      vmId: DEFAULT_VM_ID,
      subscriptionId: DEFAULT_SUBSCRIPTION_ID,
      resourceGroupName: "DevTest",
      resourceId: `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourceGroups/DevTest/providers/Microsoft.Compute/virtualMachines/myVM`,
      azEnvironment: "AzurePublicCloud",
      platformFaultDomain: "0",
    })
    expect(body.network.interface[0].ipv4.ipAddress[0].privateIpAddress).toBe("10.0.0.4")
    expect(allStrings(body)).toBe(true)
  })

  it("shows only the fields the requested api-version knows", async () => {
    const old = await json(await t.imds("/metadata/instance/compute?api-version=2017-04-02"))
    expect(old.vmId).toBe(DEFAULT_VM_ID)
    expect(old.subscriptionId).toBeUndefined()
    expect(old.resourceId).toBeUndefined()
    const mid = await json(await t.imds("/metadata/instance/compute?api-version=2019-03-11"))
    expect(mid.resourceId).toBeDefined()
    expect(mid.tagsList).toBeUndefined()
  })

  it("filters by sub-path, including array indexes", async () => {
    const compute = await json(await t.imds("/metadata/instance/compute?api-version=2021-02-01"))
    expect(compute.name).toBe("myVM")
    const nic = await json(await t.imds("/metadata/instance/network/interface/0?api-version=2021-02-01"))
    expect(nic.macAddress).toBe("000D3A5E2B1C")
  })

  it("serves leaves with format=text", async () => {
    const res = await t.imds("/metadata/instance/compute/vmId?api-version=2021-02-01&format=text")
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/)
    expect(await res.text()).toBe(DEFAULT_VM_ID)
    const ip = await t.imds(
      "/metadata/instance/network/interface/0/ipv4/ipAddress/0/privateIpAddress?api-version=2021-02-01&format=text",
    )
    expect(await ip.text()).toBe("10.0.0.4")
  })

  it("rejects format=json on a leaf (400)", async () => {
    const res = await t.imds("/metadata/instance/compute/vmId?api-version=2021-02-01&format=json")
    expect(res.status).toBe(400)
    expect(typeof (await json(res)).error).toBe("string")
  })

  it("lists child keys for a non-leaf with format=text", async () => {
    const res = await t.imds("/metadata/instance?api-version=2021-02-01&format=text")
    expect(await res.text()).toBe("compute/\nnetwork/")
  })

  it("answers 404 for elements that do not exist", async () => {
    expect((await t.imds("/metadata/instance/compute/nope?api-version=2021-02-01")).status).toBe(404)
    expect((await t.imds("/metadata/instance/network/interface/7?api-version=2021-02-01")).status).toBe(404)
  })

  it("requires api-version and lists the newest versions in the error", async () => {
    const res = await t.imds("/metadata/instance")
    expect(res.status).toBe(400)
    expect(await json(res)).toEqual({
      error:
        "Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds",
      "newest-versions": ["2025-04-07", "2024-07-17", "2024-03-15"],
    })
    expect((await t.imds("/metadata/instance?api-version=2016-01-01")).status).toBe(400)
  })

  it("requires the Metadata header", async () => {
    const res = await t.imds("/metadata/instance?api-version=2021-02-01", { headers: {} })
    expect(res.status).toBe(400)
    expect(await json(res)).toEqual({ error: "Bad request. Required metadata header not specified" })
  })

  it("rejects X-Forwarded-For, duplicate parameters and non-GET", async () => {
    const xff = await t.imds("/metadata/instance?api-version=2021-02-01", {
      headers: { Metadata: "true", "X-Forwarded-For": "1.2.3.4" },
    })
    expect(xff.status).toBe(400)
    expect((await t.imds("/metadata/instance?api-version=2021-02-01&api-version=2021-02-01")).status).toBe(
      400,
    )
    expect((await t.imds("/metadata/instance?api-version=2021-02-01", { method: "POST" })).status).toBe(405)
  })
})

describe("/metadata/versions and /metadata/identity/info", () => {
  it("lists every api-version, oldest first, without needing api-version", async () => {
    const body = await json(await t.imds("/metadata/versions"))
    expect(body.apiVersions[0]).toBe("2017-03-01")
    expect(body.apiVersions).toContain("2018-02-01")
    expect(body.apiVersions.at(-1)).toBe("2025-04-07")
  })

  it("versions needs the Metadata header too", async () => {
    expect((await t.imds("/metadata/versions", { headers: {} })).status).toBe(400)
  })

  it("identity/info returns the identity's tenant", async () => {
    const res = await t.imds("/metadata/identity/info?api-version=2018-02-01")
    expect(res.status).toBe(200)
    expect(await json(res)).toEqual({ tenantId: DEFAULT_TENANT_ID })
  })

  it("identity/info requires the header and a valid api-version", async () => {
    expect((await t.imds("/metadata/identity/info?api-version=2018-02-01", { headers: {} })).status).toBe(400)
    expect((await t.imds("/metadata/identity/info")).status).toBe(400)
  })
})

describe("request log and faults on IMDS routes", () => {
  it("records each IMDS request with its target and status", async () => {
    t.emu.requests.reset()
    await t.imds("/metadata/instance?api-version=2021-02-01")
    await t.imds(
      "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/",
    )
    await t.imds("/metadata/identity/oauth2/token", { headers: {} })
    expect(t.emu.requests.count({ target: "imds-instance" })).toBe(1)
    expect(t.emu.requests.count({ target: "imds-token" })).toBe(2)
    expect(t.emu.requests.list().map((r) => r.status)).toEqual([200, 200, 400])
  })

  it("applies injected faults to the token route and then answers normally", async () => {
    t.emu.faults.inject({ target: "imds-token", status: 503, count: 2 })
    const q = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/"
    expect((await t.imds(q)).status).toBe(503)
    expect((await t.imds(q)).status).toBe(503)
    expect((await t.imds(q)).status).toBe(200)
  })

  it("mangles the token body on request (missing expires_on)", async () => {
    t.emu.faults.inject({ target: "imds-token", malformed: "missing-expires-on" })
    const body = await json(
      await t.imds(
        "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/",
      ),
    )
    expect(body.access_token).toBeDefined()
    expect(body.expires_on).toBeUndefined()
  })
})
