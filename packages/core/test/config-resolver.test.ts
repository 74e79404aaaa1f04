/**
 * The one configuration resolver: a flag and its variable are one setting (read by one rule, the flag
 * winning), options win over both, and every refusal names what the user actually set. The rules that
 * were written twice — the ARM endpoint, loopback hosts, switches, whole numbers — are one rule each.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either, Exit } from "effect"
import fc from "fast-check"
import * as ArmClient from "../src/ArmClient.js"
import { AzmiConfig, type ConfigOptions } from "../src/Config.js"
import { isLinkLocalHost, isLocalHost, isLoopbackHost } from "../src/Endpoints.js"
import { IdentitySelector } from "../src/IdentitySelector.js"

const resolve = (env: Record<string, string>, options: ConfigOptions = {}) =>
  AzmiConfig.make(options).pipe(
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
  )

const failure = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined

describe("a flag and its variable are one setting", () => {
  it.effect("the flag wins over the variable, and setBy names the flag", () =>
    Effect.gen(function* () {
      const c = yield* resolve(
        { AZMI_IMDS_ENDPOINT: "http://127.0.0.1:1", AZMI_ARM_ENDPOINT: "https://127.0.0.1:2" },
        {
          flags: { "--imds-endpoint": "http://127.0.0.1:8080/", "--arm-endpoint": "https://127.0.0.1:8443/" },
        },
      )
      expect(c.source).toEqual({ _tag: "Imds", endpoint: "http://127.0.0.1:8080" })
      expect(c.armEndpoint).toBe("https://127.0.0.1:8443")
      expect(c.setBy).toMatchObject({ imdsEndpoint: "--imds-endpoint", armEndpoint: "--arm-endpoint" })
    }),
  )

  it.effect("a refused flag is named as the flag, with the variable it stands for", () =>
    Effect.gen(function* () {
      const flag = failure(
        yield* Effect.exit(resolve({}, { flags: { "--imds-endpoint": "http://10.0.0.1" } })),
      )
      expect(flag).toMatchObject({
        _tag: "InvalidConfiguration",
        variable: "--imds-endpoint",
        standsFor: "AZMI_IMDS_ENDPOINT",
      })
      expect((flag as Error).message).toMatch(
        /^Invalid configuration --imds-endpoint \(AZMI_IMDS_ENDPOINT\): host 10\.0\.0\.1 is neither loopback nor link-local/,
      )
      const arm = failure(
        yield* Effect.exit(resolve({}, { flags: { "--arm-endpoint": "http://arm.example" } })),
      )
      expect(arm).toMatchObject({ variable: "--arm-endpoint", standsFor: "AZMI_ARM_ENDPOINT" })
      // The same value in the variable is named by the variable alone.
      const env = failure(yield* Effect.exit(resolve({ AZMI_ARM_ENDPOINT: "http://arm.example" })))
      expect(env).toMatchObject({ variable: "AZMI_ARM_ENDPOINT" })
      expect((env as { standsFor?: string }).standsFor).toBeUndefined()
      expect((env as Error).message).toMatch(/^Invalid configuration AZMI_ARM_ENDPOINT: must use https/)
    }),
  )

  it.effect("an option wins over its flag and is named as the option", () =>
    Effect.gen(function* () {
      const c = yield* resolve(
        {},
        { imdsEndpoint: "http://127.0.0.1:3", flags: { "--imds-endpoint": "http://127.0.0.1:4" } },
      )
      expect(c.source).toEqual({ _tag: "Imds", endpoint: "http://127.0.0.1:3" })
      expect(c.setBy.imdsEndpoint).toBe("imdsEndpoint")
      const refused = failure(yield* Effect.exit(resolve({}, { deadlineMs: 0 })))
      expect(refused).toMatchObject({ variable: "deadlineMs", standsFor: "AZMI_DEADLINE_MS" })
    }),
  )

  it.effect("an IMDS endpoint given as a flag wins over App Service's variables; the variable does not", () =>
    Effect.gen(function* () {
      const app = { IDENTITY_ENDPOINT: "http://127.0.0.1:41741/msi/token", IDENTITY_HEADER: "h" }
      const byFlag = yield* resolve(app, { flags: { "--imds-endpoint": "http://127.0.0.1:5" } })
      expect(byFlag.source).toEqual({ _tag: "Imds", endpoint: "http://127.0.0.1:5" })
      const byVariable = yield* resolve({ ...app, AZMI_IMDS_ENDPOINT: "http://127.0.0.1:5" })
      expect(byVariable.source._tag).toBe("AppService")
    }),
  )

  it.effect("a blank flag counts as unset, like a blank variable, and is not replaced by the variable", () =>
    Effect.gen(function* () {
      const c = yield* resolve(
        { AZMI_IMDS_ENDPOINT: "http://127.0.0.1:6", AZMI_DEADLINE_MS: " " },
        { flags: { "--imds-endpoint": "" } },
      )
      expect(c.source).toEqual({ _tag: "Imds", endpoint: "http://169.254.169.254" })
      expect(c.setBy.imdsEndpoint).toBeUndefined()
      expect(c.deadlineMs).toBe(120_000)
    }),
  )

  it.effect("an identity chosen by a shell's flag is named by that flag when it is refused", () =>
    Effect.gen(function* () {
      const e = failure(
        yield* Effect.exit(
          resolve(
            {},
            { identity: IdentitySelector.ClientId({ clientId: "nope" }), identitySetBy: "--client-id" },
          ),
        ),
      )
      expect(e).toMatchObject({ _tag: "InvalidConfiguration", variable: "--client-id" })
    }),
  )
})

describe("one rule each", () => {
  // Both the resolver and ArmClient (which also takes an endpoint directly) apply the service URL rule.
  const armEndpoints = fc.oneof(
    fc.webUrl({ withQueryParameters: true, withFragments: true }),
    fc
      .tuple(
        fc.constantFrom("http", "https", "ftp"),
        fc.constantFrom(
          "127.0.0.1",
          "127.8.9.10",
          "localhost",
          "[::1]",
          "[::ffff:127.0.0.1]",
          "169.254.169.254",
          "[fe80::1]",
          "10.0.0.1",
          "u:p@127.0.0.1",
          "arm.example",
        ),
        fc.constantFrom("", ":8443", "/", "/x/", "/?a=1", "#f"),
      )
      .map(([scheme, host, rest]) => `${scheme}://${host}${rest}`),
  )

  it("the ARM endpoint: the resolver and ArmClient.parseEndpoint accept and normalise exactly the same URLs", () => {
    fc.assert(
      fc.property(armEndpoints, (url) => {
        const client = ArmClient.parseEndpoint(url)
        const config = Effect.runSync(Effect.either(resolve({ AZMI_ARM_ENDPOINT: url })))
        expect(Either.isRight(config)).toBe(Either.isRight(client))
        if (Either.isRight(config) && Either.isRight(client))
          expect(config.right.armEndpoint).toBe(client.right)
        if (Either.isLeft(config) && Either.isLeft(client)) {
          expect(config.left).toMatchObject({ variable: "AZMI_ARM_ENDPOINT", reason: client.left.reason })
        }
      }),
      { numRuns: 300 },
    )
  })

  it.effect("plain http to ARM or the token issuer only on loopback: a link-local host is a network", () =>
    Effect.gen(function* () {
      for (const env of [
        { AZMI_ARM_ENDPOINT: "http://169.254.1.1:8443" },
        { AZURE_AUTHORITY_HOST: "http://169.254.1.1" },
      ]) {
        const [variable] = Object.keys(env)
        expect(failure(yield* Effect.exit(resolve(env)))).toMatchObject({ variable })
      }
      expect(Either.isLeft(ArmClient.parseEndpoint("http://169.254.1.1:8443"))).toBe(true)
      expect((yield* resolve({ AZMI_ARM_ENDPOINT: "http://[::ffff:127.0.0.1]:8443" })).armEndpoint).toBe(
        "http://[::ffff:7f00:1]:8443",
      )
    }),
  )

  it("loopback and link-local hosts: one predicate each, in any form URL parsing normalises", () => {
    for (const host of [
      "localhost",
      "LOCALHOST",
      "127.1",
      "127.0.0.1",
      "2130706433",
      "::1",
      "[::1]",
      "::ffff:127.0.0.1",
    ])
      expect([host, isLoopbackHost(host), isLocalHost(host)]).toEqual([host, true, true])
    for (const host of ["169.254.169.254", "[fe80::1]", "fe80::1", "[::ffff:169.254.0.1]"])
      expect([host, isLoopbackHost(host), isLinkLocalHost(host), isLocalHost(host)]).toEqual([
        host,
        false,
        true,
        true,
      ])
    for (const host of ["0.0.0.0", "::", "10.0.0.1", "127.example.com", "[fec0::1]", "a host"])
      expect([host, isLocalHost(host)]).toEqual([host, false])
  })

  it.effect(
    "a switch is on/off or refused: AZMI_ALLOW_REMOTE_ENDPOINTS=sure is an error, not silently off",
    () =>
      Effect.gen(function* () {
        expect(failure(yield* Effect.exit(resolve({ AZMI_ALLOW_REMOTE_ENDPOINTS: "sure" })))).toMatchObject({
          variable: "AZMI_ALLOW_REMOTE_ENDPOINTS",
        })
        for (const off of ["0", "false", "NO", "off", ""])
          expect((yield* resolve({ AZMI_ALLOW_REMOTE_ENDPOINTS: off })).allowNonLocalEndpoints).toBe(false)
        for (const on of ["1", "TRUE", "yes", "On"])
          expect((yield* resolve({ AZMI_ALLOW_REMOTE_ENDPOINTS: on })).allowNonLocalEndpoints).toBe(true)
      }),
  )

  it.effect("milliseconds are digits only, as every whole-number setting (no exponent, hex or sign)", () =>
    Effect.gen(function* () {
      for (const raw of ["1e3", "0x10", "+5", "5.0"]) {
        expect(failure(yield* Effect.exit(resolve({ AZMI_DEADLINE_MS: raw }))), raw).toMatchObject({
          variable: "AZMI_DEADLINE_MS",
        })
      }
      expect((yield* resolve({ AZMI_DEADLINE_MS: " 2500 " })).deadlineMs).toBe(2500)
    }),
  )
})
