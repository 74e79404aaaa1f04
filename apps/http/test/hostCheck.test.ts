// DNS rebinding: a page in a browser on this machine makes its own name resolve to 127.0.0.1 and sends
// same-origin requests (any header, Metadata: true included). Its Host is its own name, so azmi-http
// answers only a Host that names the listener.
import { Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { defaultConfig } from "../src/config.js"
import { hostCheckOf, hostName } from "../src/hostCheck.js"
import { sub, tokenSecret, useTestApp } from "./fixtures.js"

const setup = useTestApp()
const tokenPath =
  "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F"
const group = `/v1/subscriptions/${sub}/resourceGroups/DevTest`
const rebound = "http://rebind.attacker.example:8080"

describe("a DNS-rebinding request", () => {
  it("gets no token: 421, and the token provider is never asked", async () => {
    const { app, tokenCalls } = setup({ config: { imds: true } })
    const res = await app.request(`${rebound}${tokenPath}`, { headers: { Metadata: "true" } })
    expect(res.status).toBe(421)
    const text = await res.text()
    expect(text).not.toContain(tokenSecret)
    expect(JSON.parse(text)).toMatchObject({ error: "invalid_request" })
    expect(tokenCalls).toEqual([])
  })

  it("gets no group: 421 on the routed path and on the hot path of a cached read, and ARM is never asked for it", async () => {
    const { app, calls } = setup()
    const rebinding = await app.request(`${rebound}${group}`)
    expect(rebinding.status).toBe(421)
    expect(((await rebinding.json()) as { error: { code: string } }).error.code).toBe("MisdirectedRequest")
    expect(calls).toEqual([])
    // Cached through a legitimate request, the group is still refused to the rebinding page.
    expect((await app.request(group)).status).toBe(200)
    const cached = await app.request(`${rebound}${group}`)
    expect(cached.status).toBe(421)
    expect(await cached.text()).not.toContain("DevTest")
    expect(calls).toHaveLength(1)
  })

  it("gets nothing from the broker either, even with its header", async () => {
    const secret = "broker-secret-0123456789abcdef"
    const { app, tokenCalls } = setup({ config: { identityHeader: Redacted.make(secret) } })
    const res = await app.request(
      `${rebound}/msi/token?resource=https%3A%2F%2Fmanagement.azure.com%2F&api-version=2019-08-01`,
      { headers: { "X-IDENTITY-HEADER": secret } },
    )
    expect(res.status).toBe(421)
    expect(tokenCalls).toEqual([])
  })

  it("is refused on every route, /healthz included", async () => {
    const { app } = setup({ config: { imds: true } })
    for (const path of [
      "/healthz",
      "/readyz",
      "/metrics",
      "/openapi.json",
      "/v1/instance",
      "/metadata/instance",
    ])
      expect([path, (await app.request(`${rebound}${path}`)).status]).toEqual([path, 421])
  })
})

describe("a Host that names the listener", () => {
  it.each([
    "http://127.0.0.1:8080",
    "http://localhost:8080",
    "http://[::1]:8080",
    "http://127.0.0.2",
    "http://LOCALHOST.",
  ])("%s is answered", async (origin) => {
    const { app } = setup({ config: { imds: true } })
    expect((await app.request(`${origin}${tokenPath}`, { headers: { Metadata: "true" } })).status).toBe(200)
  })

  it("a configured name is answered (AZMI_HTTP_ALLOWED_HOSTS), and IMDS's address with --imds", async () => {
    const { app } = setup({ config: { imds: true, allowedHosts: ["azmi.internal"] } })
    for (const origin of ["http://azmi.internal:8080", "http://169.254.169.254"])
      expect((await app.request(`${origin}${tokenPath}`, { headers: { Metadata: "true" } })).status).toBe(200)
  })
})

describe("hostCheckOf", () => {
  const check = hostCheckOf({ ...defaultConfig, allowedHosts: ["Azmi.Internal"] })
  it.each<[string | undefined, string | undefined, boolean]>([
    ["127.0.0.1:8080", undefined, true],
    ["localhost", undefined, true],
    ["[::1]:80", undefined, true],
    ["azmi.internal:9", undefined, true],
    ["azmi.internal.", undefined, true],
    ["rebind.attacker.example", "127.0.0.1", false],
    ["localhost.attacker.example", "127.0.0.1", false],
    ["127.0.0.1.nip.io", "127.0.0.1", false],
    // An address the connection was really made to names the listener (a kubelet probe on the pod IP).
    ["10.1.2.3:8081", "10.1.2.3", true],
    ["10.1.2.3:8081", "::ffff:10.1.2.3", true],
    ["10.1.2.4:8081", "10.1.2.3", false],
    ["10.1.2.3", undefined, false],
    ["169.254.169.254", undefined, false],
    ["", undefined, false],
    [undefined, undefined, false],
  ])("Host %j on a connection to %j: %s", (host, local, accepted) => {
    expect(check.accepts(host, local)).toBe(accepted)
  })

  it("a name configured as the listen host is answered; a wildcard listen address names nothing", () => {
    expect(hostCheckOf({ ...defaultConfig, host: "azmi.lan" }).accepts("azmi.lan:8080", undefined)).toBe(true)
    expect(hostCheckOf({ ...defaultConfig, host: "0.0.0.0" }).accepts("0.0.0.0", undefined)).toBe(false)
  })

  it("hostName strips port, brackets and a trailing dot, and lowers the case", () => {
    expect(hostName("Example.COM.:443")).toBe("example.com")
    expect(hostName("[::1]:8080")).toBe("::1")
  })
})
