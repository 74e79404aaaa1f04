import { generateKeyPair, SignJWT } from "jose"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DEFAULT_SUBSCRIPTION_ID, DEFAULT_TENANT_ID, defaultWorld, type World } from "../src/index.js"
import { fakeClock, json, start, type TestEmulator } from "./helpers.js"

const RG = `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourcegroups/DevTest?api-version=2025-04-01`
const challenge = (tenant: string, description: string) =>
  `Bearer authorization_uri="https://login.windows.net/${tenant}", error="invalid_token", error_description="${description}"`

const OTHER_TENANT = "33333333-3333-4333-8333-333333333333"
const OTHER_SP = {
  displayName: "other-tenant-app",
  clientId: "44444444-4444-4444-8444-444444444444",
  objectId: "55555555-5555-4555-8555-555555555555",
  secret: "other-secret",
  tenantId: OTHER_TENANT,
}
const world: World = {
  ...defaultWorld(),
  tenants: [...defaultWorld().tenants, { tenantId: OTHER_TENANT }],
  servicePrincipals: [...defaultWorld().servicePrincipals, OTHER_SP],
}

const clock = fakeClock()
let t: TestEmulator
let admin: string
beforeAll(async () => {
  t = await start({ world, clock: clock.now })
  admin = await t.adminToken()
})
afterAll(() => t.close())

describe("ARM authentication (401s with WWW-Authenticate)", () => {
  it("missing Authorization → 401 AuthenticationFailed", async () => {
    const res = await t.arm(RG, undefined)
    expect(res.status).toBe(401)
    expect(await json(res)).toEqual({
      error: {
        code: "AuthenticationFailed",
        message: "Authentication failed. The 'Authorization' header is missing.",
      },
    })
    expect(res.headers.get("www-authenticate")).toBe(
      challenge(DEFAULT_TENANT_ID, "The authentication failed because of missing 'Authorization' header."),
    )
  })

  it("non-Bearer Authorization → 401 AuthenticationFailed (invalid format)", async () => {
    const res = await t.arm(RG, undefined, { headers: { authorization: "Basic abc" } })
    expect(res.status).toBe(401)
    expect((await json(res)).error.code).toBe("AuthenticationFailed")
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer authorization_uri=/)
  })

  it("garbage token → 401 InvalidAuthenticationToken", async () => {
    const res = await t.arm(RG, "not.a.jwt")
    expect(res.status).toBe(401)
    expect((await json(res)).error.code).toBe("InvalidAuthenticationToken")
  })

  it("token signed by another key → 401 InvalidAuthenticationToken", async () => {
    const { privateKey } = await generateKeyPair("RS256")
    const now = Math.floor(clock.now() / 1000)
    const forged = await new SignJWT({
      aud: "https://management.azure.com/",
      iss: `https://sts.windows.net/${DEFAULT_TENANT_ID}/`,
      tid: DEFAULT_TENANT_ID,
      oid: t.emu.admin.objectId,
      appid: t.emu.admin.clientId,
    })
      .setProtectedHeader({ alg: "RS256" })
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(privateKey)
    const res = await t.arm(RG, forged)
    expect(res.status).toBe(401)
    expect((await json(res)).error.code).toBe("InvalidAuthenticationToken")
  })

  it("wrong audience → 401 InvalidAuthenticationTokenAudience naming the four audiences", async () => {
    const res = await t.arm(RG, await t.vmToken("https://vault.azure.net"))
    expect(res.status).toBe(401)
    expect((await json(res)).error).toEqual({
      code: "InvalidAuthenticationTokenAudience",
      message:
        "The access token has been obtained for wrong audience or resource 'https://vault.azure.net'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'.",
    })
  })

  it("accepts each of the four ARM audiences", async () => {
    for (const aud of [
      "https://management.core.windows.net/",
      "https://management.core.windows.net",
      "https://management.azure.com/",
      "https://management.azure.com",
    ]) {
      // 403, not 401: authenticated, just not yet authorised.
      expect((await t.arm(RG, await t.vmToken(aud))).status, aud).toBe(403)
    }
  })

  it("expired token → 401 ExpiredAuthenticationToken with ARM's date format", async () => {
    const res = await t.login(`/${DEFAULT_TENANT_ID}/oauth2/v2.0/token`, {
      form: {
        grant_type: "client_credentials",
        client_id: t.emu.admin.clientId,
        client_secret: t.emu.admin.clientSecret,
        scope: "https://management.azure.com/.default",
      },
    })
    const token = (await json(res)).access_token
    clock.advance(3600 * 1000)
    const expired = await t.arm(RG, token)
    clock.advance(-3600 * 1000)
    expect(expired.status).toBe(401)
    const { error } = await json(expired)
    expect(error.code).toBe("ExpiredAuthenticationToken")
    expect(error.message).toMatch(
      /^The access token expiry UTC time '\d{1,2}\/\d{1,2}\/\d{4} \d{1,2}:\d{2}:\d{2} (AM|PM)' is earlier than current UTC time '\d{1,2}\/\d{1,2}\/\d{4} \d{1,2}:\d{2}:\d{2} (AM|PM)'\.$/,
    )
    expect(expired.headers.get("www-authenticate")).toMatch(/error="invalid_token"/)
  })

  it("token not yet valid (nbf in the future) → 401 InvalidAuthenticationToken", async () => {
    const token = await t.adminToken()
    clock.advance(-3600 * 1000)
    const res = await t.arm(RG, token)
    clock.advance(3600 * 1000)
    expect(res.status).toBe(401)
    expect((await json(res)).error.code).toBe("InvalidAuthenticationToken")
  })

  it("token from another tenant → 401 InvalidAuthenticationTokenTenant", async () => {
    const res = await t.login(`/${OTHER_TENANT}/oauth2/v2.0/token`, {
      form: {
        grant_type: "client_credentials",
        client_id: OTHER_SP.clientId,
        client_secret: OTHER_SP.secret,
        scope: "https://management.azure.com/.default",
      },
    })
    expect(res.status).toBe(200)
    const arm = await t.arm(RG, (await json(res)).access_token)
    expect(arm.status).toBe(401)
    const { error } = await json(arm)
    expect(error.code).toBe("InvalidAuthenticationTokenTenant")
    expect(error.message).toMatch(
      new RegExp(
        `^The access token is from the wrong issuer 'https://sts.windows.net/${OTHER_TENANT}/'. It must match the tenant 'https://sts.windows.net/${DEFAULT_TENANT_ID}/' associated with this subscription.`,
      ),
    )
    expect(arm.headers.get("www-authenticate")).toBe(
      challenge(
        DEFAULT_TENANT_ID,
        "The access token is from the wrong issuer. It must match the tenant associated with this subscription. Please use correct authority to get the token.",
      ),
    )
  })
})

describe("ARM request validation", () => {
  it("api-version is required → 400 MissingApiVersionParameter", async () => {
    const res = await t.arm(`/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourcegroups/DevTest`, admin)
    expect(res.status).toBe(400)
    expect(await json(res)).toEqual({
      error: {
        code: "MissingApiVersionParameter",
        message: "The api-version query parameter (?api-version=) is required for all requests.",
      },
    })
  })

  it("an unknown api-version → 400 InvalidApiVersionParameter listing the supported ones", async () => {
    const res = await t.arm(
      `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourcegroups/DevTest?api-version=2001-01-01`,
      admin,
    )
    expect(res.status).toBe(400)
    const { error } = await json(res)
    expect(error.code).toBe("InvalidApiVersionParameter")
    expect(error.message).toMatch(
      /^The api-version '2001-01-01' is invalid\. The supported versions are '2025-04-01,2025-03-01,/,
    )
  })

  it("a malformed subscription id → 400 InvalidSubscriptionId", async () => {
    const res = await t.arm("/subscriptions/not-a-guid/resourcegroups/DevTest?api-version=2025-04-01", admin)
    expect(res.status).toBe(400)
    expect((await json(res)).error).toEqual({
      code: "InvalidSubscriptionId",
      message: "The provided subscription identifier 'not-a-guid' is malformed or invalid.",
    })
  })

  it("an unknown subscription → 404 SubscriptionNotFound", async () => {
    const sub = "66666666-6666-4666-8666-666666666666"
    const res = await t.arm(`/subscriptions/${sub}/resourcegroups/DevTest?api-version=2025-04-01`, admin)
    expect(res.status).toBe(404)
    expect((await json(res)).error).toEqual({
      code: "SubscriptionNotFound",
      message: `The subscription '${sub}' could not be found.`,
    })
  })

  it("authentication comes before api-version validation", async () => {
    expect(
      (await t.arm(`/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourcegroups/DevTest`, undefined)).status,
    ).toBe(401)
  })

  it("sets ARM's standard headers and echoes the correlation id", async () => {
    const res = await t.arm(RG, admin, { headers: { "x-ms-correlation-request-id": "corr-123" } })
    expect(res.status).toBe(200)
    expect(res.headers.get("x-ms-request-id")).toMatch(/^[0-9a-f-]{36}$/)
    expect(res.headers.get("x-ms-correlation-request-id")).toBe("corr-123")
    expect(res.headers.get("x-ms-ratelimit-remaining-subscription-reads")).toMatch(/^\d+$/)
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8")
  })

  it("unknown resource types → 404", async () => {
    const res = await t.arm(`/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/foo/bar?api-version=2025-04-01`, admin)
    expect(res.status).toBe(404)
  })
})

describe("ARM read throttling", () => {
  it("token bucket: 429 SubscriptionRequestsThrottled with Retry-After once empty, refills over time", async () => {
    const c = fakeClock()
    const small = await start({ clock: c.now, limits: { armReadBucket: 3, armReadRefillPerSecond: 1 } })
    try {
      const token = await small.adminToken()
      const remaining: Array<string | null> = []
      for (let i = 0; i < 3; i++) {
        const res = await small.arm(RG, token)
        expect(res.status).toBe(200)
        remaining.push(res.headers.get("x-ms-ratelimit-remaining-subscription-reads"))
      }
      expect(remaining).toEqual(["2", "1", "0"])
      const throttled = await small.arm(RG, token)
      expect(throttled.status).toBe(429)
      expect(throttled.headers.get("retry-after")).toBe("1")
      expect((await json(throttled)).error).toEqual({
        code: "SubscriptionRequestsThrottled",
        message: `Number of 'read' requests for subscription '${DEFAULT_SUBSCRIPTION_ID}' actor '${small.emu.admin.objectId}' exceeded. Please try again after '1' seconds.`,
      })
      // Writes are not read-throttled.
      const put = await small.arm(
        `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourcegroups/other?api-version=2025-04-01`,
        token,
        {
          method: "PUT",
          body: { location: "westus" },
        },
      )
      expect(put.status).toBe(201)
      c.advance(1000)
      expect((await small.arm(RG, token)).status).toBe(200)
    } finally {
      await small.close()
    }
  })

  it("defaults to a 250-request bucket", async () => {
    const c = fakeClock()
    const d = await start({ clock: c.now, armTls: true }, true)
    try {
      const res = await d.arm(RG, await d.adminToken())
      expect(res.headers.get("x-ms-ratelimit-remaining-subscription-reads")).toBe("249")
    } finally {
      await d.close()
    }
  })
})
