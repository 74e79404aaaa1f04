import { createServer, IncomingMessage, type Server, ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { Socket } from "node:net"
import { Agent, fetch as undiciFetch } from "undici"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { handleControl, isLoopbackAddress } from "../src/control.js"
import { startEmulator } from "../src/emulator.js"
import { FaultController } from "../src/faults.js"
import { RequestLog } from "../src/requestLog.js"
import type { Emulator } from "../src/types.js"

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON bodies
const json = (r: Response): Promise<any> => r.json()

const faults = new FaultController()
const requests = new RequestLog()
const world = { toJSON: () => ({ tenants: [{ tenantId: "t" }] }) }
let server: Server
let base: string
let fellThrough = 0

beforeAll(async () => {
  server = createServer(async (req, res) => {
    if (await handleControl(req, res, { faults, requests, world, durable: async () => {} })) return
    fellThrough++
    res.writeHead(200).end("azure route")
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
})

beforeEach(() => {
  faults.clear()
  requests.reset()
  fellThrough = 0
})

const post = (path: string, body: string) =>
  fetch(`${base}${path}`, { method: "POST", body, headers: { "content-type": "application/json" } })

describe("control API", () => {
  it("leaves non-control paths to the caller", async () => {
    const res = await fetch(`${base}/metadata/identity/oauth2/token`)
    expect(await res.text()).toBe("azure route")
    const res2 = await fetch(`${base}/_emulatorx`)
    expect(await res2.text()).toBe("azure route")
    expect(fellThrough).toBe(2)
  })

  it("POST /_emulator/faults injects a fault and returns its id", async () => {
    const res = await post(
      "/_emulator/faults",
      JSON.stringify({ target: "imds-token", status: 503, count: "Infinity" }),
    )
    expect(res.status).toBe(201)
    const { id } = await json(res)
    expect(id).toMatch(/^[0-9a-f-]{36}$/)
    expect(faults.take("imds-token", "/metadata/identity/oauth2/token")?.status).toBe(503)
    const list = await json(await fetch(`${base}/_emulator/faults`))
    expect(list.faults).toEqual([
      {
        id,
        spec: { target: "imds-token", status: 503, count: "Infinity" },
        remaining: "Infinity",
        applied: 1,
      },
    ])
    expect(fellThrough).toBe(0)
  })

  it("rejects an invalid fault with 400 naming the field", async () => {
    const res = await post("/_emulator/faults", JSON.stringify({ target: "imds-token", status: "503" }))
    expect(res.status).toBe(400)
    expect(await json(res)).toEqual({
      error: { code: "InvalidFaultSpec", message: "faultSpec.status: must be an integer 100..599" },
    })
    expect(faults.list()).toEqual([])
  })

  it("rejects a body that is not JSON with 400", async () => {
    const res = await post("/_emulator/faults", "{target:")
    expect(res.status).toBe(400)
    expect((await json(res)).error.code).toBe("InvalidJson")
  })

  it("rejects a body over 64 KiB with 413", async () => {
    const res = await post(
      "/_emulator/faults",
      JSON.stringify({ target: "arm", body: "x".repeat(70_000), status: 500 }),
    )
    expect(res.status).toBe(413)
    await res.text()
    expect(faults.list()).toEqual([])
  })

  it("DELETE /_emulator/faults clears; DELETE /_emulator/faults/{id} removes one", async () => {
    const a = faults.inject({ target: "arm", status: 500 })
    faults.inject({ target: "arm", status: 501 })
    const one = await fetch(`${base}/_emulator/faults/${a.id}`, { method: "DELETE" })
    expect(one.status).toBe(204)
    expect(faults.list().map((f) => f.spec.status)).toEqual([501])
    const again = await fetch(`${base}/_emulator/faults/${a.id}`, { method: "DELETE" })
    expect(again.status).toBe(404)
    await again.text()
    const garbled = await fetch(`${base}/_emulator/faults/%E0%A4%A`, { method: "DELETE" })
    expect(garbled.status).toBe(404)
    await garbled.text()
    const all = await fetch(`${base}/_emulator/faults`, { method: "DELETE" })
    expect(all.status).toBe(204)
    expect(faults.list()).toEqual([])
  })

  it("GET /_emulator/requests lists records with counts, filterable", async () => {
    const r = { at: 1, method: "GET", query: "", status: 200 }
    requests.record({ ...r, target: "imds-token", path: "/metadata/identity/oauth2/token" })
    requests.record({ ...r, target: "imds-token", path: "/metadata/identity/oauth2/token", status: 429 })
    requests.record({ ...r, target: "arm", path: "/subscriptions/s/resourcegroups/DevTest" })
    const all = await json(await fetch(`${base}/_emulator/requests`))
    expect(all.requests).toHaveLength(3)
    expect(all.counts).toEqual({
      total: 3,
      byTarget: {
        "imds-token": 2,
        "imds-instance": 0,
        arm: 1,
        login: 0,
        "app-service-token": 0,
        "arc-token": 0,
        "service-fabric-token": 0,
        "cloud-shell-token": 0,
        "azure-ml-token": 0,
        "aks-oidc": 0,
      },
      byStatus: { "200": 2, "429": 1 },
    })
    const filtered = await json(await fetch(`${base}/_emulator/requests?target=imds-token&status=429`))
    expect(filtered.counts.total).toBe(1)
    expect(filtered.requests).toEqual([
      { ...r, target: "imds-token", path: "/metadata/identity/oauth2/token", status: 429 },
    ])
    const bad = await fetch(`${base}/_emulator/requests?target=nope`)
    expect(bad.status).toBe(400)
    await bad.text()
  })

  it("DELETE /_emulator/requests resets the log", async () => {
    requests.record({ at: 1, target: "arm", method: "GET", path: "/", query: "", status: 200 })
    const res = await fetch(`${base}/_emulator/requests`, { method: "DELETE" })
    expect(res.status).toBe(204)
    expect(requests.count()).toBe(0)
  })

  it("GET /_emulator/world returns the world", async () => {
    expect(await json(await fetch(`${base}/_emulator/world`))).toEqual({ tenants: [{ tenantId: "t" }] })
  })

  it("answers 405 with Allow for a wrong method and 404 for an unknown path", async () => {
    const put = await fetch(`${base}/_emulator/world`, { method: "PUT", body: "{}" })
    expect(put.status).toBe(405)
    expect(put.headers.get("allow")).toBe("GET")
    await put.text()
    const unknown = await fetch(`${base}/_emulator/nothing`)
    expect(unknown.status).toBe(404)
    expect((await json(unknown)).error.code).toBe("NotFound")
  })

  it("refuses a non-loopback client with 403", async () => {
    const socket = new Socket()
    Object.defineProperty(socket, "remoteAddress", { value: "10.1.2.3" })
    const req = new IncomingMessage(socket)
    req.method = "DELETE"
    req.url = "/_emulator/faults"
    const res = new ServerResponse(req)
    let written = ""
    res.assignSocket(socket)
    socket.write = ((chunk: string | Uint8Array) => {
      written += chunk.toString()
      return true
    }) as typeof socket.write
    faults.inject({ target: "arm", status: 500 })
    expect(await handleControl(req, res, { faults, requests, world, durable: async () => {} })).toBe(true)
    expect(res.statusCode).toBe(403)
    expect(written).toContain("loopback clients only")
    expect(faults.list()).toHaveLength(1)
    socket.destroy()
  })
})

describe("isLoopbackAddress", () => {
  it.each([
    ["127.0.0.1", true],
    ["127.8.9.10", true],
    ["::1", true],
    ["::ffff:127.0.0.1", true],
    ["10.0.0.1", false],
    ["169.254.169.254", false],
    ["::ffff:192.168.1.1", false],
    ["fe80::1", false],
    [undefined, false],
  ])("%s → %s", (address, expected) => {
    expect(isLoopbackAddress(address)).toBe(expected)
  })
})

describe("control API on a running emulator", () => {
  let emu: Emulator
  let dispatcher: Agent
  const tokenPath =
    "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/"

  beforeAll(async () => {
    emu = await startEmulator()
    dispatcher = new Agent({ connect: { ca: emu.caCert } })
  })
  afterAll(async () => {
    await emu.close()
    await dispatcher.close()
  })
  beforeEach(async () => {
    await fetch(`${emu.controlUrl}/_emulator/faults`, { method: "DELETE" })
    await fetch(`${emu.controlUrl}/_emulator/requests`, { method: "DELETE" })
  })

  const token = () => fetch(`${emu.imdsUrl}${tokenPath}`, { headers: { Metadata: "true" } })
  const inject = async (spec: unknown) => {
    const res = await post(spec)
    expect(res.status).toBe(201)
    return json(res)
  }
  const post = (spec: unknown) =>
    fetch(`${emu.controlUrl}/_emulator/faults`, { method: "POST", body: JSON.stringify(spec) })

  it("scripts IMDS token failures for the next N requests and counts them exactly", async () => {
    await inject({ target: "imds-token", status: 503, retryAfter: 1, count: 2 })
    const statuses = []
    for (let i = 0; i < 3; i++) {
      const res = await token()
      statuses.push(res.status)
      if (res.status === 503) expect(res.headers.get("retry-after")).toBe("1")
      await res.text()
    }
    expect(statuses).toEqual([503, 503, 200])
    const log = await json(await fetch(`${emu.controlUrl}/_emulator/requests?target=imds-token`))
    expect(log.counts.total).toBe(3)
    expect(log.counts.byStatus).toEqual({ "200": 1, "503": 2 })
    // Control calls themselves are not Azure traffic.
    expect(emu.requests.count()).toBe(3)
  })

  it("mangles the token body (missing expires_on) and resets instance-metadata connections", async () => {
    await inject({ target: "imds-token", malformed: "missing-expires-on" })
    const res = await token()
    expect(res.status).toBe(200)
    const body = await json(res)
    expect(body).not.toHaveProperty("expires_on")
    expect(body.access_token).toEqual(expect.any(String))

    await inject({ target: "imds-instance", reset: true })
    await expect(
      fetch(`${emu.imdsUrl}/metadata/instance?api-version=2021-02-01`, { headers: { Metadata: "true" } }),
    ).rejects.toThrow()
    expect(emu.requests.count({ target: "imds-instance", status: 0 })).toBe(1)
  })

  it("throttles ARM with an ARM-shaped 429 and Retry-After", async () => {
    await inject({ target: "arm", status: 429, retryAfter: 7, pathIncludes: "resourcegroups" })
    const res = await undiciFetch(
      `${emu.armUrl}/subscriptions/${emu.subscriptionId}/resourcegroups/DevTest?api-version=2021-04-01`,
      { dispatcher },
    )
    expect(res.status).toBe(429)
    expect(res.headers.get("retry-after")).toBe("7")
    expect(res.headers.get("x-ms-request-id")).toMatch(/^[0-9a-f-]{36}$/)
    const body = (await res.json()) as { error: { code: string; message: string } }
    expect(body.error.code).toBe("SubscriptionRequestsThrottled")
    expect(body.error.message).toContain(emu.subscriptionId)
    expect(emu.requests.count({ target: "arm", status: 429 })).toBe(1)
  })

  it("rejects an invalid fault and serves the world", async () => {
    const bad = await post({ target: "imds-token", count: 0, status: 500 })
    expect(bad.status).toBe(400)
    expect((await json(bad)).error.message).toBe(
      'faultSpec.count: must be a positive integer or Infinity (the string "Infinity" in JSON)',
    )
    const world = await json(await fetch(`${emu.controlUrl}/_emulator/world`))
    expect(world.resourceGroups.map((g: { name: string }) => g.name)).toEqual(["DevTest"])
  })
})
