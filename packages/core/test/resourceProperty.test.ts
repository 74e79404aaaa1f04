import { HttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Layer } from "effect"
import fc from "fast-check"
import { checkEndpoint } from "../src/Config.js"
import { IdentitySelector } from "../src/IdentitySelector.js"
import * as Imds from "../src/Imds.js"
import { toResource } from "../src/internal/resource.js"
import { makeFake, token } from "./fixtures/fakeHttp.js"

const sentResource = (resourceOrScope: string) =>
  Effect.gen(function* () {
    const fake = makeFake((_n, r) => ({ status: 200, body: token(r.at) }))
    const resource = yield* toResource(resourceOrScope)
    const source = yield* Imds.make({ endpoint: "http://127.0.0.1:1" }).pipe(
      Effect.provide(Layer.succeed(HttpClient.HttpClient, fake.client)),
    )
    yield* source.requestToken(resource, IdentitySelector.SystemAssigned())
    const url = fake.requests[0]!.url
    return { resource: url.searchParams.getAll("resource"), keys: [...url.searchParams.keys()] }
  })

describe("resource handling (property)", () => {
  it.effect(
    "any valid https resource is sent exactly once and byte for byte; a scope loses only its /.default",
    () =>
      Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            fc.webUrl({ withQueryParameters: true, withFragments: true }),
            fc.boolean(),
            async (url, asScope) => {
              const input = asScope ? `${url}/.default` : url
              const out = await Effect.runPromise(Effect.either(sentResource(input)))
              if (Either.isLeft(out)) return false
              expect(out.right.resource).toEqual([url])
              expect(out.right.keys.filter((k) => k === "api-version")).toHaveLength(1)
              return true
            },
          ),
          { numRuns: 200 },
        ),
      ),
  )

  it.effect("strings with whitespace or control characters never reach the network", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.string(),
          fc.constantFrom(" ", "\n", "\t", "\u0000", "\u007f", "\r"),
          fc.string(),
          async (a, bad, b) => {
            const exit = await Effect.runPromiseExit(toResource(`https://x${a}${bad}${b}`))
            return Exit.isFailure(exit)
          },
        ),
        { numRuns: 200 },
      ),
    ),
  )

  it.effect("no IPv4 host outside 127/8 and 169.254/16 passes the endpoint rule", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(fc.ipV4(), async (ip) => {
          const exit = await Effect.runPromiseExit(
            checkEndpoint("AZMI_IMDS_ENDPOINT", `http://${ip}:80`, false, "origin"),
          )
          const local = ip.startsWith("127.") || ip.startsWith("169.254.")
          return Exit.isSuccess(exit) === local
        }),
        { numRuns: 500 },
      ),
    ),
  )

  it.effect(
    "no domain name other than localhost passes the endpoint rule, with or without user info tricks",
    () =>
      Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            fc.domain(),
            fc.constantFrom("", "127.0.0.1@", "169.254.169.254."),
            async (domain, trick) => {
              const exit = await Effect.runPromiseExit(
                checkEndpoint("AZMI_IMDS_ENDPOINT", `http://${trick}${domain}`, false, "origin"),
              )
              return Exit.isFailure(exit) || domain === "localhost"
            },
          ),
          { numRuns: 300 },
        ),
      ),
  )
})
