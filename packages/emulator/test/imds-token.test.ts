import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  DEFAULT_SUBSCRIPTION_ID,
  DEFAULT_TENANT_ID,
  DEFAULT_VM_CLIENT_ID,
  DEFAULT_VM_PRINCIPAL_ID,
  defaultWorld,
  type World,
} from "../src/index.js"
import { fakeClock, json, jwtPayload, start, type TestEmulator } from "./helpers.js"

const TOKEN = "/metadata/identity/oauth2/token"
const ARM = "resource=https%3A%2F%2Fmanagement.azure.com%2F"
const Q = `?api-version=2018-02-01&${ARM}`

describe("IMDS token endpoint: request rules", () => {
  let t: TestEmulator
  beforeAll(async () => {
    t = await start({ armTls: false })
  })
  afterAll(() => t.close())

  it("answers a well-formed request with 200 and every field a string", async () => {
    const res = await t.imds(`${TOKEN}${Q}`)
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8")
    const body = await json(res)
    expect(Object.keys(body)).toEqual([
      "access_token",
      "client_id",
      "expires_in",
      "expires_on",
      "ext_expires_in",
      "not_before",
      "resource",
      "token_type",
    ])
    for (const v of Object.values(body)) expect(typeof v).toBe("string")
    expect(body.client_id).toBe(DEFAULT_VM_CLIENT_ID)
    expect(body.token_type).toBe("Bearer")
    expect(Number(body.expires_on) - Number(body.not_before)).toBe(86_700)
  })

  it("requires the Metadata header (400)", async () => {
    const res = await t.imds(`${TOKEN}${Q}`, { headers: {} })
    expect(res.status).toBe(400)
    expect(await json(res)).toEqual({
      error: "invalid_request",
      error_description: "Required metadata header not specified",
    })
  })

  it("requires Metadata to be exactly lower-case true", async () => {
    for (const value of ["True", "TRUE", "1", "yes"]) {
      const res = await t.imds(`${TOKEN}${Q}`, { headers: { Metadata: value } })
      expect(res.status, value).toBe(400)
    }
  })

  it("answers the SDK probe (no query, no header) with a 400 at once", async () => {
    const res = await t.imds(TOKEN, { headers: {} })
    expect(res.status).toBe(400)
    expect((await json(res)).error_description).toBe("Required metadata header not specified")
  })

  it("rejects X-Forwarded-For", async () => {
    const res = await t.imds(`${TOKEN}${Q}`, { headers: { Metadata: "true", "X-Forwarded-For": "10.0.0.1" } })
    expect(res.status).toBe(400)
    expect((await json(res)).error).toBe("invalid_request")
  })

  it("rejects duplicate query parameters", async () => {
    const res = await t.imds(`${TOKEN}${Q}&resource=https%3A%2F%2Fvault.azure.net`)
    expect(res.status).toBe(400)
    expect((await json(res)).error_description).toMatch(/Duplicate query parameter/)
  })

  it("allows GET only (405 with Allow)", async () => {
    for (const method of ["POST", "PUT", "DELETE"]) {
      const res = await t.imds(`${TOKEN}${Q}`, { method })
      expect(res.status, method).toBe(405)
      expect(res.headers.get("allow")).toBe("GET")
    }
  })

  it("requires api-version", async () => {
    const res = await t.imds(`${TOKEN}?${ARM}`)
    expect(res.status).toBe(400)
    expect((await json(res)).error_description).toMatch(/api-version is invalid or was not specified/)
  })

  it("rejects unknown api-versions and those older than 2018-02-01", async () => {
    for (const v of ["2099-01-01", "banana", "2017-12-01"]) {
      const res = await t.imds(`${TOKEN}?api-version=${v}&${ARM}`)
      expect(res.status, v).toBe(400)
    }
    expect((await t.imds(`${TOKEN}?api-version=2025-04-07&${ARM}`)).status).toBe(200)
  })

  it("requires resource", async () => {
    const res = await t.imds(`${TOKEN}?api-version=2018-02-01`)
    expect(res.status).toBe(400)
    expect((await json(res)).error_description).toBe("Required query variable 'resource' is missing")
  })

  it("rejects an unknown resource with invalid_resource and the AADSTS500011 text", async () => {
    const res = await t.imds(`${TOKEN}?api-version=2018-02-01&resource=https%3A%2F%2Fexample.com%2F`)
    expect(res.status).toBe(400)
    const body = await json(res)
    expect(body.error).toBe("invalid_resource")
    expect(body.error_description).toBe(
      `AADSTS500011: The resource principal named https://example.com/ was not found in the tenant named ${DEFAULT_TENANT_ID}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
    )
  })

  it("accepts the four ARM audiences and other well-known resources, echoing resource verbatim", async () => {
    for (const resource of [
      "https://management.azure.com/",
      "https://management.azure.com",
      "https://management.core.windows.net/",
      "https://management.core.windows.net",
      "https://vault.azure.net",
      "https://storage.azure.com/",
    ]) {
      const res = await t.imds(`${TOKEN}?api-version=2018-02-01&resource=${encodeURIComponent(resource)}`)
      expect(res.status, resource).toBe(200)
      const body = await json(res)
      expect(body.resource).toBe(resource)
      expect(jwtPayload(body.access_token).aud).toBe(resource)
    }
  })

  it("rejects more than one identity selector", async () => {
    const res = await t.imds(
      `${TOKEN}${Q}&client_id=${DEFAULT_VM_CLIENT_ID}&object_id=${DEFAULT_VM_PRINCIPAL_ID}`,
    )
    expect(res.status).toBe(400)
    expect((await json(res)).error).toBe("invalid_request")
  })

  it("accepts a trailing slash on the path (as @azure/identity sends it)", async () => {
    expect((await t.imds(`${TOKEN}/${Q}`)).status).toBe(200)
  })

  it("treats /metadata case-insensitively and tolerates //metadata", async () => {
    expect((await t.imds(`/METADATA/identity/oauth2/token${Q}`)).status).toBe(200)
    expect((await t.imds(`//metadata/identity/oauth2/token${Q}`)).status).toBe(200)
  })

  it("answers unknown IMDS paths with 404", async () => {
    expect((await t.imds(`/metadata/identity/oauth2/nope${Q}`)).status).toBe(404)
    expect((await t.imds(`/other${Q}`)).status).toBe(404)
  })
})

describe("IMDS token endpoint: token contents and cache", () => {
  const clock = fakeClock()
  let t: TestEmulator
  beforeAll(async () => {
    t = await start({ clock: clock.now, armTls: false })
  })
  afterAll(() => t.close())

  it("issues a v1 token with the managed identity's claims", async () => {
    const body = await json(await t.imds(`${TOKEN}${Q}`))
    const claims = jwtPayload(body.access_token)
    expect(claims).toMatchObject({
      aud: "https://management.azure.com/",
      iss: `https://sts.windows.net/${DEFAULT_TENANT_ID}/`,
      appid: DEFAULT_VM_CLIENT_ID,
      oid: DEFAULT_VM_PRINCIPAL_ID,
      sub: DEFAULT_VM_PRINCIPAL_ID,
      tid: DEFAULT_TENANT_ID,
      idtyp: "app",
      ver: "1.0",
      xms_mirid: `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourcegroups/DevTest/providers/Microsoft.Compute/virtualMachines/myVM`,
    })
    expect(claims.exp).toBe(Number(body.expires_on))
    expect(claims.nbf).toBe(Number(body.not_before))
    expect(typeof claims.uti).toBe("string")
    expect(Number(body.expires_in)).toBe(86_400)
  })

  it("serves the cached token with a counting-down expires_in", async () => {
    const first = await json(
      await t.imds(`${TOKEN}?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net`),
    )
    clock.advance(100_000)
    const second = await json(
      await t.imds(`${TOKEN}?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net`),
    )
    expect(second.access_token).toBe(first.access_token)
    expect(second.expires_on).toBe(first.expires_on)
    expect(Number(first.expires_in) - Number(second.expires_in)).toBe(100)
  })

  it("caches per resource string (verbatim)", async () => {
    const a = await json(
      await t.imds(`${TOKEN}?api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com`),
    )
    const b = await json(
      await t.imds(`${TOKEN}?api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com%2F`),
    )
    expect(a.access_token).not.toBe(b.access_token)
    expect(a.resource).toBe("https://storage.azure.com")
    expect(b.resource).toBe("https://storage.azure.com/")
  })

  it("bypass_cache=true issues a fresh token", async () => {
    const q = `${TOKEN}?api-version=2018-02-01&resource=https%3A%2F%2Fgraph.microsoft.com`
    const first = await json(await t.imds(q))
    clock.advance(5_000)
    const fresh = await json(await t.imds(`${q}&bypass_cache=true`))
    expect(fresh.access_token).not.toBe(first.access_token)
    expect(Number(fresh.expires_on) - Number(first.expires_on)).toBe(5)
    expect(Number(fresh.expires_in)).toBe(86_400)
  })

  it("re-issues a cached token once it is about to expire", async () => {
    const q = `${TOKEN}?api-version=2018-02-01&resource=https%3A%2F%2Fdatabase.windows.net%2F`
    const first = await json(await t.imds(q))
    clock.advance((86_400 - 200) * 1000)
    const later = await json(await t.imds(q))
    expect(later.access_token).not.toBe(first.access_token)
  })
})

const UAMI_A = {
  name: "id-a",
  subscriptionId: DEFAULT_SUBSCRIPTION_ID,
  resourceGroup: "DevTest",
  principalId: "aaaaaaaa-0000-4000-8000-000000000001",
  clientId: "aaaaaaaa-0000-4000-8000-0000000000c1",
}
const UAMI_B = {
  name: "id-b",
  subscriptionId: DEFAULT_SUBSCRIPTION_ID,
  resourceGroup: "DevTest",
  principalId: "bbbbbbbb-0000-4000-8000-000000000001",
  clientId: "bbbbbbbb-0000-4000-8000-0000000000c1",
}
const uamiId = (u: typeof UAMI_A) =>
  `/subscriptions/${u.subscriptionId}/resourceGroups/${u.resourceGroup}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${u.name}`

const worldWith = (systemAssigned: boolean, attached: Array<typeof UAMI_A>): World => {
  const base = defaultWorld()
  const [vm] = base.vms
  return {
    ...base,
    userAssignedIdentities: [UAMI_A, UAMI_B],
    vms: [
      {
        ...vm!,
        systemAssigned: systemAssigned ? vm!.systemAssigned! : null,
        userAssigned: attached.map(uamiId),
      },
    ],
  }
}

describe("IMDS token endpoint: identity selection", () => {
  // One emulator; each test swaps in its world (which also clears IMDS's token cache).
  let t: TestEmulator
  beforeAll(async () => {
    t = await start({ armTls: false })
  })
  afterAll(() => t.close())

  it("system-assigned by default; client_id, object_id, msi_res_id and mi_res_id select a UAMI", async () => {
    t.emu.world.replace(worldWith(true, [UAMI_A, UAMI_B]))
    const byDefault = await json(await t.imds(`${TOKEN}${Q}`))
    expect(byDefault.client_id).toBe(DEFAULT_VM_CLIENT_ID)
    const byClient = await json(await t.imds(`${TOKEN}${Q}&client_id=${UAMI_B.clientId}`))
    expect(byClient.client_id).toBe(UAMI_B.clientId)
    expect(jwtPayload(byClient.access_token).oid).toBe(UAMI_B.principalId)
    expect(jwtPayload(byClient.access_token).xms_mirid).toBe(
      uamiId(UAMI_B).replace("resourceGroups", "resourcegroups"),
    )
    const byObject = await json(await t.imds(`${TOKEN}${Q}&object_id=${UAMI_A.principalId}`))
    expect(byObject.client_id).toBe(UAMI_A.clientId)
    expect(byObject.object_id).toBe(UAMI_A.principalId)
    const byRes = await json(await t.imds(`${TOKEN}${Q}&msi_res_id=${encodeURIComponent(uamiId(UAMI_A))}`))
    expect(byRes.client_id).toBe(UAMI_A.clientId)
    expect(byRes.msi_res_id).toBe(uamiId(UAMI_A))
    const byOld = await json(
      await t.imds(`${TOKEN}${Q}&mi_res_id=${encodeURIComponent(uamiId(UAMI_B).toLowerCase())}`),
    )
    expect(byOld.client_id).toBe(UAMI_B.clientId)
  })

  it("an id not attached to the VM gets 400 Identity not found", async () => {
    t.emu.world.replace(worldWith(true, [UAMI_A]))
    const res = await t.imds(`${TOKEN}${Q}&client_id=${UAMI_B.clientId}`)
    expect(res.status).toBe(400)
    expect(await json(res)).toEqual({ error: "invalid_request", error_description: "Identity not found" })
  })

  it("without system-assigned, the only UAMI is used", async () => {
    t.emu.world.replace(worldWith(false, [UAMI_A]))
    expect((await json(await t.imds(`${TOKEN}${Q}`))).client_id).toBe(UAMI_A.clientId)
  })

  it("without system-assigned and several UAMIs, a selector is required", async () => {
    t.emu.world.replace(worldWith(false, [UAMI_A, UAMI_B]))
    const res = await t.imds(`${TOKEN}${Q}`)
    expect(res.status).toBe(400)
    expect(await json(res)).toEqual({
      error: "invalid_request",
      error_description:
        "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request",
    })
  })

  it("a VM with no identity gets 400 Identity not found", async () => {
    t.emu.world.replace(worldWith(false, []))
    const res = await t.imds(`${TOKEN}${Q}`)
    expect(res.status).toBe(400)
    expect((await json(res)).error_description).toBe("Identity not found")
  })
})

describe("IMDS limits", () => {
  it("answers 429 beyond the requests-per-second limit and recovers a second later", async () => {
    const clock = fakeClock()
    const t = await start({
      clock: clock.now,
      armTls: false,
      limits: { imdsRequestsPerSecond: 3, imdsConcurrency: Infinity },
    })
    try {
      const statuses: number[] = []
      for (let i = 0; i < 5; i++) statuses.push((await t.imds(`${TOKEN}${Q}`)).status)
      expect(statuses).toEqual([200, 200, 200, 429, 429])
      const body = await json(await t.imds(`${TOKEN}${Q}`))
      expect(body.error).toBe("too_many_requests")
      clock.advance(1_001)
      expect((await t.imds(`${TOKEN}${Q}`)).status).toBe(200)
      expect(t.emu.requests.count({ target: "imds-token", status: 429 })).toBe(3)
    } finally {
      await t.close()
    }
  })

  it("defaults to 20 requests per second", async () => {
    const clock = fakeClock()
    const t = await start({ clock: clock.now, armTls: false }, true)
    try {
      const statuses: number[] = []
      // Sequential requests: the concurrency limit (5) never bites, only the per-second one.
      for (let i = 0; i < 21; i++) statuses.push((await t.imds(`${TOKEN}${Q}`)).status)
      expect(statuses.filter((s) => s === 200)).toHaveLength(20)
      expect(statuses[20]).toBe(429)
    } finally {
      await t.close()
    }
  })

  it("answers 429 beyond the concurrency limit", async () => {
    const t = await start({ armTls: false, limits: { imdsRequestsPerSecond: Infinity, imdsConcurrency: 2 } })
    try {
      // Two of three concurrent requests are held for a second (whichever arrive first take the slow fault),
      // so the remaining one arrives while both slots are taken.
      t.emu.faults.inject({ target: "imds-token", latencyMs: 1000, count: 2 })
      const statuses = (await Promise.all([1, 2, 3].map(() => t.imds(`${TOKEN}${Q}`)))).map((r) => r.status)
      expect(statuses.sort()).toEqual([200, 200, 429])
      expect((await t.imds(`${TOKEN}${Q}`)).status).toBe(200)
    } finally {
      await t.close()
    }
  })
})
