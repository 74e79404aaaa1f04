import { describe, expect, it } from "vitest"
import type { RouteRequest } from "../src/http.js"
import { ImdsTokenEndpoint } from "../src/imds/token.js"
import type { AccessTokenClaims, IssuedToken, TokenIssuer } from "../src/token/issuer.js"
import { WorldStore } from "../src/world/model.js"

/** An issuer whose signatures complete only when the test says so, to hold requests in flight. */
const gatedIssuer = () => {
  const gates: Array<() => void> = []
  let issued = 0
  const issuer = {
    issue: (claims: AccessTokenClaims, lifetime: number, nowMs: number): Promise<IssuedToken> =>
      new Promise((resolve) => {
        const n = ++issued
        const iat = Math.floor(nowMs / 1000) - 300
        gates.push(() => resolve({ token: `token-${n}-${claims.aud}`, iat, nbf: iat, exp: iat + lifetime }))
      }),
  }
  return {
    issuer: issuer as unknown as TokenIssuer,
    issuedCount: () => issued,
    openAll: () => {
      for (const open of gates.splice(0)) open()
    },
  }
}

const request = (query: string): RouteRequest => ({
  method: "GET",
  rawPath: "/metadata/identity/oauth2/token",
  path: "/metadata/identity/oauth2/token",
  rawQuery: query,
  query: new URLSearchParams(query),
  headers: { metadata: "true" },
  body: "",
  remoteAddress: "127.0.0.1",
})

describe("IMDS token cache", () => {
  it("concurrent cold requests for one (identity, resource) share one issuance", async () => {
    const store = new WorldStore()
    const gate = gatedIssuer()
    const endpoint = new ImdsTokenEndpoint({
      store,
      issuer: gate.issuer,
      now: Date.now,
      vm: () => store.vms()[0],
    })
    const q = "api-version=2018-02-01&resource=https://management.azure.com/"
    const replies = Array.from({ length: 5 }, () => endpoint.handle(request(q)))
    const other = endpoint.handle(request("api-version=2018-02-01&resource=https://vault.azure.net"))
    await new Promise((r) => setImmediate(r))
    expect(gate.issuedCount()).toBe(2)
    gate.openAll()
    const tokens = (await Promise.all(replies)).map((r) => JSON.parse(r.body).access_token)
    expect(new Set(tokens)).toEqual(new Set(["token-1-https://management.azure.com/"]))
    expect(JSON.parse((await other).body).access_token).toBe("token-2-https://vault.azure.net")
  })

  it("bypass_cache does not join an issuance in flight", async () => {
    const store = new WorldStore()
    const gate = gatedIssuer()
    const endpoint = new ImdsTokenEndpoint({
      store,
      issuer: gate.issuer,
      now: Date.now,
      vm: () => store.vms()[0],
    })
    const q = "api-version=2018-02-01&resource=https://management.azure.com/"
    const first = endpoint.handle(request(q))
    const bypass = endpoint.handle(request(`${q}&bypass_cache=true`))
    await new Promise((r) => setImmediate(r))
    expect(gate.issuedCount()).toBe(2)
    gate.openAll()
    expect(JSON.parse((await first).body).access_token).not.toBe(JSON.parse((await bypass).body).access_token)
  })
})
