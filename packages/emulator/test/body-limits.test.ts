/**
 * Request-body limits hold for every method and every framing: a body over the limit is 413 whether it comes
 * with a Content-Length or chunked, on a GET as on a PUT, on IMDS, ARM/login and the control API — and an
 * endless body is cut off (connection closed), not read forever.
 */
import { request as httpRequest } from "node:http"
import { request as httpsRequest } from "node:https"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { start, type TestEmulator } from "./helpers.js"

let t: TestEmulator
beforeAll(async () => {
  t = await start()
})
afterAll(async () => {
  await t.close()
})

const MIB = 1024 * 1024

interface Sent {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  /** Bytes of body the client managed to send before the answer (or the close). */
  readonly sent: number
}

/**
 * Send `method url` with a body of `size` bytes (Infinity: until the server answers or closes), chunked unless
 * `contentLength`. Resolves with the answer's status, or 0 if the connection closed without one.
 */
const send = (
  method: string,
  url: string,
  size: number,
  options: { contentLength?: boolean; headers?: Record<string, string> } = {},
): Promise<Sent> =>
  new Promise((resolve, reject) => {
    const u = new URL(url)
    const make = u.protocol === "https:" ? httpsRequest : httpRequest
    const req = make(u, {
      method,
      ...(u.protocol === "https:" ? { ca: t.emu.caCert } : {}),
      headers: {
        metadata: "true",
        // Node frames a GET/DELETE body only when told to.
        ...(options.contentLength === true
          ? { "content-length": String(size) }
          : { "transfer-encoding": "chunked" }),
        ...options.headers,
      },
    })
    let sent = 0
    let done = false
    const chunk = Buffer.alloc(16 * 1024, "a")
    const finish = (s: Sent) => {
      if (done) return
      done = true
      req.destroy()
      resolve(s)
    }
    req.on("response", (res) => {
      res.resume()
      res.on("end", () => finish({ status: res.statusCode ?? 0, headers: res.headers, sent }))
    })
    req.on("error", (e: NodeJS.ErrnoException) => {
      // The server may close while the client is still writing the body it refused.
      if (e.code === "ECONNRESET" || e.code === "EPIPE") finish({ status: 0, headers: {}, sent })
      else reject(e)
    })
    req.on("close", () => finish({ status: 0, headers: {}, sent }))
    const pump = () => {
      while (!done && sent < size) {
        const piece = size - sent >= chunk.length ? chunk : chunk.subarray(0, size - sent)
        sent += piece.length
        if (sent > 256 * MIB) return reject(new Error("the server read 256 MiB of an over-limit body"))
        if (!req.write(piece)) return req.once("drain", pump)
      }
      if (!done && sent >= size) req.end()
    }
    pump()
  })

describe("request bodies over the limit", () => {
  const over = MIB + 1
  const cases = () => [
    {
      what: "IMDS instance GET",
      method: "GET",
      url: `${t.emu.imdsUrl}/metadata/instance?api-version=2021-02-01`,
    },
    {
      what: "IMDS token GET",
      method: "GET",
      url: `${t.emu.imdsUrl}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/`,
    },
    { what: "IMDS token POST", method: "POST", url: `${t.emu.imdsUrl}/metadata/identity/oauth2/token` },
    {
      what: "ARM GET",
      method: "GET",
      url: `${t.emu.armUrl}/subscriptions/${t.emu.subscriptionId}/resourcegroups/DevTest?api-version=2021-04-01`,
    },
    {
      what: "ARM PUT",
      method: "PUT",
      url: `${t.emu.armUrl}/subscriptions/${t.emu.subscriptionId}/resourcegroups/Big?api-version=2021-04-01`,
    },
    { what: "login GET", method: "GET", url: `${t.emu.loginUrl}/common/discovery/v2.0/keys` },
  ]

  for (const framing of ["chunked", "content-length"] as const) {
    it(`are 413 on every server and method (${framing})`, async () => {
      for (const c of cases()) {
        const r = await send(c.method, c.url, over, { contentLength: framing === "content-length" })
        expect(r.status, `${c.what} (${framing})`).toBe(413)
      }
    })
  }

  it("the control API's 64 KiB limit holds for chunked bodies and for GET", async () => {
    for (const method of ["GET", "POST", "DELETE"]) {
      const r = await send(method, `${t.emu.controlUrl}/_emulator/faults`, 64 * 1024 + 1)
      expect(r.status, method).toBe(413)
    }
  })

  it("a body just under the limit is read as usual", async () => {
    const r = await send("GET", `${t.emu.imdsUrl}/metadata/instance?api-version=2021-02-01`, MIB)
    expect(r.status).toBe(200)
  })

  it("an endless chunked body gets 413 and the connection closed (it is not read forever)", async () => {
    for (const url of [
      `${t.emu.imdsUrl}/metadata/instance?api-version=2021-02-01`,
      `${t.emu.armUrl}/subscriptions/${t.emu.subscriptionId}/resourcegroups/DevTest?api-version=2021-04-01`,
      `${t.emu.controlUrl}/_emulator/requests`,
    ]) {
      const r = await send("GET", url, Number.POSITIVE_INFINITY)
      // What this pins is that the exchange ends (send rejects past 256 MiB). The 413 itself may be lost to the
      // client: closing a socket with unread input resets it, and the reset can overtake the answer.
      expect([413, 0], url).toContain(r.status)
      if (r.status === 413) expect(r.headers.connection, url).toBe("close")
    }
  })
})
