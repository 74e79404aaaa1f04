/**
 * End to end: azmi-http speaking IMDS's own protocol (AZMI_HTTP_IMDS=1) to unmodified IMDS clients — the
 * seed's `curl`, azure-identity for Python (Debian's python3-azure) and @azure/identity, both through
 * AZURE_POD_IDENTITY_AUTHORITY_HOST — against the emulator's IMDS: many clients, one upstream request per
 * identity; identities kept apart; the upstream's errors passed through; DNS-rebinding requests refused.
 */
import { connect } from "node:net"
import { defaultWorld, type Emulator, startEmulator } from "@azmi/emulator"
import { decodeJwt } from "jose"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import {
  azureIdentityTokensThrough,
  type HttpChild,
  runClient as run,
  seedCurlThrough,
  startHttp,
} from "./http-support.js"

/** Debian's Python: the pyenv `python3` on PATH lacks Debian's packages. */
const PYTHON = "/usr/bin/python3"
const uami = {
  name: "app-identity",
  subscriptionId: "98f51385-2edc-4b79-bed9-7718de4cb861",
  resourceGroup: "DevTest",
  principalId: "6f1c0d2e-3b4a-4c5d-8e9f-0a1b2c3d4e5f",
  clientId: "7a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
}
const uamiId = `/subscriptions/${uami.subscriptionId}/resourceGroups/${uami.resourceGroup}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${uami.name}`

let emu: Emulator
let http: HttpChild

beforeAll(async () => {
  const base = defaultWorld()
  const vm = base.vms[0] as (typeof base.vms)[number]
  const world = { ...base, userAssignedIdentities: [uami], vms: [{ ...vm, userAssigned: [uamiId] }] }
  emu = await startEmulator({ world, limits: { imdsRequestsPerSecond: Infinity, imdsConcurrency: Infinity } })
  http = await startHttp(emu, { AZMI_HTTP_IMDS: "1", AZMI_HTTP_API_KEY: "e2e-api-key-0123456789abcdef" })
})

afterAll(async () => {
  await http?.stop()
  await emu?.close()
})

beforeEach(() => emu.requests.reset())

const tokenRequests = () => emu.requests.count({ target: "imds-token" })

describe("IMDS clients through azmi-http", () => {
  it("the seed's curl, character for character but for the address, gets IMDS's answer", async () => {
    const body = await seedCurlThrough(http.url)
    expect(body.client_id).toBe(emu.vm.systemAssigned?.clientId)
    expect(decodeJwt(body.access_token as string).oid).toBe(emu.vm.systemAssigned?.principalId)
    // …and the same curl again is answered from azmi-http's cache.
    await seedCurlThrough(http.url)
    expect(tokenRequests()).toBe(1)
  })

  it("eight azure-identity (Python) processes at once: every one gets the VM's token, IMDS is asked once", async () => {
    const script = [
      "from azure.identity import ManagedIdentityCredential",
      'print(ManagedIdentityCredential().get_token("https://storage.azure.com/.default").token)',
    ].join("\n")
    const tokens = await Promise.all(
      Array.from({ length: 8 }, () =>
        run(PYTHON, ["-c", script], { AZURE_POD_IDENTITY_AUTHORITY_HOST: http.url }),
      ),
    )
    for (const token of tokens) expect(decodeJwt(token.trim()).oid).toBe(emu.vm.systemAssigned?.principalId)
    expect(tokenRequests()).toBe(1)
  })

  it("fifty @azure/identity credentials at once (MSAL coalesces nothing): IMDS is asked once", async () => {
    const tokens = await azureIdentityTokensThrough(http.url, 50)
    expect(tokens).toHaveLength(1)
    expect(decodeJwt(tokens[0] as string).oid).toBe(emu.vm.systemAssigned?.principalId)
    expect(tokenRequests()).toBe(1)
  })

  it("identities are kept apart: the user-assigned identity (by client_id or msi_res_id) gets its own token", async () => {
    const python = (clientId: string) =>
      run(
        PYTHON,
        [
          "-c",
          `from azure.identity import ManagedIdentityCredential\nprint(ManagedIdentityCredential(client_id="${clientId}").get_token("https://management.azure.com/.default").token)`,
        ],
        { AZURE_POD_IDENTITY_AUTHORITY_HOST: http.url },
      )
    expect(decodeJwt((await python(uami.clientId)).trim()).oid).toBe(uami.principalId)
    const byId = await fetch(
      `${http.url}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent("https://management.azure.com/")}&msi_res_id=${encodeURIComponent(uamiId)}`,
      { headers: { Metadata: "true" } },
    )
    const body = (await byId.json()) as { access_token: string; msi_res_id: string; client_id: string }
    expect(decodeJwt(body.access_token).oid).toBe(uami.principalId)
    expect(body.msi_res_id).toBe(uamiId)
    expect(body.client_id).toBe(uami.clientId)
    const system = await fetch(
      `${http.url}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent("https://management.azure.com/")}`,
      { headers: { Metadata: "true" } },
    )
    expect(decodeJwt(((await system.json()) as { access_token: string }).access_token).oid).toBe(
      emu.vm.systemAssigned?.principalId,
    )
  })

  it("IMDS's own 400s pass through unchanged: an identity that is not on the VM, a resource nobody knows", async () => {
    const notAssigned = await fetch(
      `${http.url}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent("https://management.azure.com/")}&client_id=0b8f3d7c-5c1e-4a0e-9c51-6b1f1c2f4a11`,
      { headers: { Metadata: "true" } },
    )
    expect(notAssigned.status).toBe(400)
    expect(await notAssigned.json()).toEqual({
      error: "invalid_request",
      error_description: "Identity not found",
    })
    const unknown = await fetch(
      `${http.url}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent("https://nothing.example/")}`,
      { headers: { Metadata: "true" } },
    )
    expect(unknown.status).toBe(400)
    const body = (await unknown.json()) as { error: string; error_description: string }
    expect(body.error).toBe("invalid_resource")
    expect(body.error_description).toMatch(
      /^AADSTS500011: The resource principal named https:\/\/nothing\.example\//,
    )
  })

  it("IMDS throttling every request is not passed on while a valid token is cached", async () => {
    const url = `${http.url}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent("https://graph.microsoft.com")}`
    expect((await fetch(url, { headers: { Metadata: "true" } })).status).toBe(200)
    emu.faults.inject({ target: "imds-token", status: 429, count: Number.POSITIVE_INFINITY })
    try {
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => fetch(url, { headers: { Metadata: "true" } }).then((r) => r.status)),
      )
      expect(answers).toEqual(Array(20).fill(200))
    } finally {
      emu.faults.clear()
    }
  })

  it("instance metadata: a leaf as text, through the short-TTL cache (one IMDS read)", async () => {
    const location = await run(
      "curl",
      [
        "-s",
        "-H",
        "Metadata:true",
        `${http.url}/metadata/instance/compute/location?api-version=2021-02-01&format=text`,
      ],
      {},
    )
    expect(location).toBe("westus")
    const compute = (await (
      await fetch(`${http.url}/metadata/instance/compute?api-version=2021-02-01`, {
        headers: { Metadata: "true" },
      })
    ).json()) as { name: string; vmId: string }
    expect(compute).toMatchObject({ name: "myVM", subscriptionId: emu.subscriptionId })
    expect(emu.requests.count({ target: "imds-instance" })).toBe(1)
  })
})

/** One raw HTTP/1.1 exchange, so the test controls the Host header exactly (fetch does not let it). */
const raw = (port: number, head: string) =>
  new Promise<string>((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(head))
    let text = ""
    socket.setEncoding("utf8")
    socket.on("data", (d: string) => {
      text += d
    })
    socket.once("end", () => resolve(text))
    socket.once("error", reject)
  })

describe("DNS rebinding against azmi-http", () => {
  const port = () => Number(new URL(http.url).port)

  it("a page whose name was rebound to 127.0.0.1 gets no token (421), and IMDS is never asked", async () => {
    const answer = await raw(
      port(),
      "GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F HTTP/1.1\r\nHost: rebind.attacker.example:" +
        `${port()}\r\nMetadata: true\r\nConnection: close\r\n\r\n`,
    )
    expect(answer).toMatch(/^HTTP\/1\.1 421 /)
    expect(answer).not.toContain("access_token")
    expect(tokenRequests()).toBe(0)
  })

  it("…and no group, not even with the API key", async () => {
    const answer = await raw(
      port(),
      `GET /v1/subscriptions/${emu.subscriptionId}/resourceGroups/DevTest HTTP/1.1\r\nHost: rebind.attacker.example\r\nAuthorization: Bearer e2e-api-key-0123456789abcdef\r\nConnection: close\r\n\r\n`,
    )
    expect(answer).toMatch(/^HTTP\/1\.1 421 /)
    expect(answer).not.toContain('"location"')
    expect(emu.requests.count({ target: "arm" })).toBe(0)
  })

  it("the same requests naming the listener are answered", async () => {
    const answer = await raw(
      port(),
      `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F HTTP/1.1\r\nHost: 127.0.0.1:${port()}\r\nMetadata: true\r\nConnection: close\r\n\r\n`,
    )
    expect(answer).toMatch(/^HTTP\/1\.1 200 /)
    expect(answer).toContain('"access_token":"')
  })
})
