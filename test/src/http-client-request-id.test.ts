/**
 * End to end: a caller's `x-ms-client-request-id` reaches ARM unchanged through azmi-http (IMDS is the
 * emulator's; ARM is a recording stand-in on 127.0.0.1, so the request's headers can be read).
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { type Emulator, startEmulator } from "@azmi/emulator"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type HttpChild, startHttp } from "./http-support.js"

let emu: Emulator
let arm: Server
let http: HttpChild
const seen: Array<IncomingHttpHeaders> = []

beforeAll(async () => {
  emu = await startEmulator({ limits: { imdsRequestsPerSecond: Infinity, imdsConcurrency: Infinity } })
  arm = createServer((req, res) => {
    seen.push(req.headers)
    const name = decodeURIComponent((req.url ?? "").split("?")[0]?.split("/").pop() ?? "")
    res.writeHead(200, { "content-type": "application/json", "x-ms-request-id": "fake-arm-1" })
    res.end(
      JSON.stringify({
        id: `/subscriptions/${emu.subscriptionId}/resourceGroups/${name}`,
        name,
        location: "westus",
        properties: { provisioningState: "Succeeded" },
      }),
    )
  })
  await new Promise<void>((resolve) => arm.listen(0, "127.0.0.1", resolve))
  http = await startHttp(emu, {
    AZMI_ARM_ENDPOINT: `http://127.0.0.1:${(arm.address() as AddressInfo).port}`,
    AZMI_HTTP_CACHE_TTL_MS: "0",
  })
})

afterAll(async () => {
  await http?.stop()
  await new Promise((resolve) => arm?.close(resolve))
  await emu?.close()
})

describe("x-ms-client-request-id", () => {
  it("is passed on to ARM, echoed to the caller, and fresh when the caller sent none", async () => {
    const url = `${http.url}/v1/subscriptions/${emu.subscriptionId}/resourceGroups/DevTest`
    const res = await fetch(url, { headers: { "x-ms-client-request-id": "caller-42" } })
    expect(res.status).toBe(200)
    expect(res.headers.get("x-ms-client-request-id")).toBe("caller-42")
    expect(res.headers.get("x-ms-request-id")).toBe("fake-arm-1")
    expect(seen.at(-1)?.["x-ms-client-request-id"]).toBe("caller-42")

    expect((await fetch(url)).status).toBe(200)
    expect(seen.at(-1)?.["x-ms-client-request-id"]).toMatch(/^[0-9a-f-]{36}$/)
    // The bearer token went to ARM, but never came back or into a log line.
    expect(String(seen.at(-1)?.authorization)).toMatch(/^Bearer ey/)
    const token = String(seen.at(-1)?.authorization).slice("Bearer ".length)
    expect(http.lines.join("\n")).not.toContain(token)
  })
})
