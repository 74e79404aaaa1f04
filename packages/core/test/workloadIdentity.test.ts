/**
 * Workload identity on fakes: the federated token file (an in-memory file system whose versions the
 * tests bump, as the kubelet's rotation does) and Entra (a scripted HttpClient), on the TestClock.
 */
import { HttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Logger, LogLevel, Redacted, TestClock } from "effect"
import type { TokenFileSystem } from "../src/internal/assertionFile.js"
import { TokenProvider } from "../src/TokenProvider.js"
import * as WorkloadIdentity from "../src/WorkloadIdentity.js"
import { makeFake, type Step } from "./fixtures/fakeHttp.js"

const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
const CLIENT = "a6e35b7f-9c0e-4f1a-8b3c-4d5e6f7a8b3e"
const ISSUER = "https://oidc.prod-aks.azure.com/0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d/"
const SUBJECT = "system:serviceaccount:payments:api"
const ARM = "https://management.azure.com/"
const PATH = "/var/run/secrets/azure/wi/token/azure-identity-token"
const config: WorkloadIdentity.WorkloadIdentityConfig = {
  _tag: "WorkloadIdentity",
  tokenFile: PATH,
  tenantId: TENANT,
  clientId: CLIENT,
  // As the webhook sets it: with a trailing slash.
  authorityHost: "https://login.microsoftonline.com/",
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")

/** A projected service-account token (unsigned: Entra's check is the emulator's business, not this file's). */
const saToken = (
  claims: { readonly iat: number; readonly exp: number; readonly [k: string]: unknown },
  tag = "",
) =>
  `${b64({ alg: "RS256", kid: "k1" })}.${b64({
    aud: ["api://AzureADTokenExchange"],
    iss: ISSUER,
    sub: SUBJECT,
    nbf: claims.iat,
    ...claims,
  })}.c2lnbmF0dXJl${tag}`

/** A token file the test rewrites: `rotate` is the kubelet's atomic replacement (a new version). */
const fakeFile = (initial: string) => {
  let text = initial
  let version = 1
  let reads = 0
  const fileSystem: TokenFileSystem = {
    version: () => Effect.sync(() => String(version)),
    read: () =>
      Effect.sync(() => {
        reads++
        return { text, version: String(version) }
      }),
  }
  return {
    fileSystem,
    rotate: (next: string) => {
      text = next
      version++
    },
    /** A rewrite the version does not show (a file system with coarse timestamps). */
    rewriteInPlace: (next: string) => {
      text = next
    },
    get reads() {
      return reads
    },
  }
}

const entraToken = (accessToken = "eyJ.entra-access-token.sig", expiresIn = 3599): Step => ({
  status: 200,
  body: { token_type: "Bearer", expires_in: expiresIn, ext_expires_in: expiresIn, access_token: accessToken },
})

const entraError = (status: number, error: string, code: number, text: string): Step => ({
  status,
  body: {
    error,
    error_description: `AADSTS${code}: ${text}\r\nTrace ID: 0f1e\r\nCorrelation ID: 1a2b\r\nTimestamp: 2026-01-01 00:00:00Z`,
    error_codes: [code],
  },
})

const setup = (initialToken: string, respond: (n: number) => Step) => {
  const file = fakeFile(initialToken)
  const fake = makeFake((n) => respond(n))
  const layer = WorkloadIdentity.layer(config, { fileSystem: file.fileSystem }).pipe(
    Layer.provide(Layer.succeed(HttpClient.HttpClient, fake.client)),
  )
  const assertionOf = (n: number) => new URLSearchParams(fake.requests[n]?.body).get("client_assertion")
  return { file, fake, layer, assertionOf }
}

const failure = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined

const minutes = (m: number) => m * 60_000

describe("WorkloadIdentity: the token request", () => {
  it.effect(
    "POSTs {authority}/{tenant}/oauth2/v2.0/token: client_credentials, client_id, the trimmed file as a jwt-bearer client_assertion, scope {resource}/.default",
    () => {
      const first = saToken({ iat: 0, exp: 3600 })
      const { fake, layer } = setup(`\n  ${first}\n`, () => entraToken())
      return Effect.gen(function* () {
        const tp = yield* TokenProvider
        const token = yield* tp.getToken(ARM)
        expect(fake.requests).toHaveLength(1)
        const r = fake.requests[0]!
        expect(r.method).toBe("POST")
        expect(r.url.href).toBe(`https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/token`)
        expect(r.headers["content-type"]).toBe("application/x-www-form-urlencoded")
        expect(Object.fromEntries(new URLSearchParams(r.body))).toEqual({
          client_id: CLIENT,
          client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
          client_assertion: first,
          scope: "https://management.azure.com/.default",
          grant_type: "client_credentials",
        })
        expect(Redacted.value(token.token)).toBe("eyJ.entra-access-token.sig")
        expect(token.expiresOn).toBe(3_599_000)
        expect(tp.description).toBe(
          `workload identity ${CLIENT} in tenant ${TENANT} via https://login.microsoftonline.com (federated token ${PATH})`,
        )
      }).pipe(Effect.provide(layer))
    },
  )

  it.effect(
    "1000 concurrent cold getToken calls → one token request and one file read; 1000 more in sequence → none",
    () => {
      const { file, fake, layer } = setup(saToken({ iat: 0, exp: 3600 }), () => ({
        ...entraToken(),
        delayMs: 200,
      }))
      return Effect.gen(function* () {
        const tp = yield* TokenProvider
        const cold = yield* Effect.fork(
          Effect.all(
            Array.from({ length: 1000 }, () => tp.getToken(ARM)),
            { concurrency: "unbounded" },
          ),
        )
        yield* TestClock.adjust("1 second")
        const tokens = yield* Fiber.join(cold)
        expect(new Set(tokens.map((t) => Redacted.value(t.token))).size).toBe(1)
        for (let i = 0; i < 1000; i++) yield* tp.getToken(ARM)
        yield* TestClock.adjust(minutes(50)) // still before refresh (55 min)
        yield* tp.getToken(ARM)
        expect(fake.requests).toHaveLength(1)
        expect(file.reads).toBe(1)
      }).pipe(Effect.provide(layer))
    },
  )

  it.effect(
    "a rotated file is picked up: the refresh at 55 min sends the token written at 30 min, though the held one had 23 h left; the file is read only then",
    () => {
      // 24 h projected tokens (the webhook's maximum), so only the file's change can explain a re-read.
      const first = saToken({ iat: 0, exp: 86_400 }, "A")
      const second = saToken({ iat: 1800, exp: 88_200 }, "B")
      const { file, fake, layer, assertionOf } = setup(first, (n) => entraToken(`eyJ.at-${n}.sig`))
      return Effect.gen(function* () {
        const tp = yield* TokenProvider
        yield* tp.getToken(ARM)
        yield* TestClock.adjust(minutes(30))
        file.rotate(second)
        yield* tp.getToken(ARM) // cached: no request, no read
        expect(fake.requests).toHaveLength(1)
        expect(file.reads).toBe(1)
        yield* TestClock.adjust(minutes(26)) // past refreshOn (expiry − 5 min)
        const held = yield* tp.getToken(ARM) // served at once; starts the background refresh
        expect(Redacted.value(held.token)).toBe("eyJ.at-1.sig")
        yield* TestClock.adjust(1)
        expect(fake.requests).toHaveLength(2)
        expect(assertionOf(0)).toBe(first)
        expect(assertionOf(1)).toBe(second)
        expect(file.reads).toBe(2)
        expect(Redacted.value((yield* tp.getToken(ARM)).token)).toBe("eyJ.at-2.sig")
      }).pipe(Effect.provide(layer))
    },
  )

  it.effect(
    "an unchanged file is not read again while its token is far from exp: two resources, one read",
    () => {
      const { file, fake, layer } = setup(saToken({ iat: 0, exp: 86_400 }), () => entraToken())
      return Effect.gen(function* () {
        const tp = yield* TokenProvider
        yield* tp.getToken(ARM)
        yield* TestClock.adjust(minutes(30))
        yield* tp.getToken("https://vault.azure.net")
        expect(fake.requests).toHaveLength(2)
        expect(file.reads).toBe(1)
      }).pipe(Effect.provide(layer))
    },
  )

  it.effect(
    "an assertion within 5 min of its exp is read again even when the file looks unchanged (coarse timestamps)",
    () => {
      // A 10-minute projected token, and access tokens of an hour: the next request is forced at 6 min.
      const first = saToken({ iat: 0, exp: 600 }, "A")
      const second = saToken({ iat: 300, exp: 4000 }, "B")
      const { file, fake, layer, assertionOf } = setup(first, () => entraToken())
      return Effect.gen(function* () {
        const tp = yield* TokenProvider
        yield* tp.getToken("https://vault.azure.net")
        yield* TestClock.adjust(minutes(4))
        // 6 min left: held, not read again.
        yield* tp.getToken("https://storage.azure.com/")
        expect(file.reads).toBe(1)
        expect(assertionOf(1)).toBe(first)
        file.rewriteInPlace(second)
        yield* TestClock.adjust(minutes(2)) // 4 min left on the held one
        yield* tp.getToken(ARM)
        expect(file.reads).toBe(2)
        expect(assertionOf(2)).toBe(second)
        expect(fake.requests).toHaveLength(3)
      }).pipe(Effect.provide(layer))
    },
  )

  it.effect(
    "never sends an expired assertion: a stale file is FederatedTokenExpired (refused by azmi), with no request made",
    () => {
      const { fake, layer } = setup(saToken({ iat: 0, exp: 3600 }), () => entraToken())
      return Effect.gen(function* () {
        yield* TestClock.adjust(minutes(61)) // the kubelet never rotated it
        const error = failure(yield* Effect.exit(Effect.flatMap(TokenProvider, (tp) => tp.getToken(ARM))))
        expect(error).toMatchObject({
          _tag: "FederatedTokenExpired",
          refusedBy: "azmi",
          path: PATH,
          expiresOn: 3_600_000,
          checkedAt: 3_660_000,
        })
        expect((error as WorkloadIdentity.Check["error"])?.hint).toMatch(
          /^The file is stale: the kubelet rewrites/,
        )
        expect(fake.requests).toHaveLength(0)
      }).pipe(Effect.provide(layer))
    },
  )

  it.effect(
    "one within 60 s of its exp is not sent either — also on a retry: attempts at 0 and ~1 s, the third (~3 s, 59 s left) is refused",
    () => {
      const { fake, layer } = setup(saToken({ iat: 0, exp: 62 }), () => ({ status: 503 }))
      return Effect.gen(function* () {
        const fiber = yield* Effect.fork(Effect.flatMap(TokenProvider, (tp) => tp.getToken(ARM)))
        yield* TestClock.adjust("3 minutes")
        const error = failure(yield* Fiber.await(fiber))
        expect(fake.requests).toHaveLength(2)
        expect(error).toMatchObject({ _tag: "FederatedTokenExpired", refusedBy: "azmi", expiresOn: 62_000 })
      }).pipe(Effect.provide(layer))
    },
  )

  it.effect(
    "a file that is not a JWT is FederatedTokenMalformed, nothing sent, its content not repeated",
    () => {
      const { fake, layer } = setup("not-a-jwt but a secret-looking-value", () => entraToken())
      return Effect.gen(function* () {
        const error = failure(
          yield* Effect.exit(Effect.flatMap(TokenProvider, (tp) => tp.getToken(ARM))),
        ) as {
          _tag: string
          message: string
        }
        expect(error).toMatchObject({ _tag: "FederatedTokenMalformed", refusedBy: "azmi" })
        expect(error.message).toBe(
          `The federated token in ${PATH} is not a usable JWT: it is not a signed JWT (three base64url parts: header.payload.signature); nothing was sent.`,
        )
        expect(JSON.stringify(error)).not.toContain("secret-looking-value")
        expect(fake.requests).toHaveLength(0)
      }).pipe(Effect.provide(layer))
    },
  )

  it.effect("a JWT without exp is FederatedTokenMalformed naming the claim", () => {
    const noExp = `${b64({ alg: "RS256" })}.${b64({ iss: ISSUER, sub: SUBJECT, aud: "api://AzureADTokenExchange" })}.c2ln`
    const { fake, layer } = setup(noExp, () => entraToken())
    return Effect.gen(function* () {
      const error = failure(yield* Effect.exit(Effect.flatMap(TokenProvider, (tp) => tp.getToken(ARM))))
      expect(error).toMatchObject({ _tag: "FederatedTokenMalformed", problem: "the exp claim is missing" })
      expect(fake.requests).toHaveLength(0)
    }).pipe(Effect.provide(layer))
  })
})

describe("WorkloadIdentity: Entra's refusals are typed errors with hints, not retried", () => {
  const refusal = (step: Step) => {
    const token = saToken({ iat: 0, exp: 3600 })
    const { fake, layer } = setup(token, () => step)
    return Effect.gen(function* () {
      const exit = yield* Effect.exit(Effect.flatMap(TokenProvider, (tp) => tp.getToken(ARM)))
      expect(fake.requests).toHaveLength(1)
      const error = failure(exit) as { _tag: string; message: string; hint: string | undefined }
      expect(`${error.message} ${error.hint} ${JSON.stringify(error)}`).not.toContain(token)
      return error
    }).pipe(Effect.provide(layer))
  }

  it.effect(
    "AADSTS70021 → FederatedCredentialNotFound: the exact az commands, from the assertion's own iss, sub and aud",
    () =>
      Effect.gen(function* () {
        // Entra's text is not where the facts come from: the assertion is.
        const error = yield* refusal(
          entraError(
            400,
            "invalid_request",
            70021,
            "No matching federated identity record found for presented assertion.",
          ),
        )
        expect(error).toMatchObject({
          _tag: "FederatedCredentialNotFound",
          tenantId: TENANT,
          clientId: CLIENT,
          issuer: ISSUER,
          subject: SUBJECT,
          audience: "api://AzureADTokenExchange",
        })
        expect(error.message).toBe(
          `The identity ${CLIENT} has no federated credential for issuer ${ISSUER}, subject ${SUBJECT} and audience api://AzureADTokenExchange (AADSTS70021).`,
        )
        expect(error.hint).toBe(
          `Someone allowed to change the identity (its Owner, or Managed Identity Contributor on it) must run: az identity federated-credential create --name kubernetes-payments-api --identity-name "$(az identity list --query "[?clientId=='${CLIENT}'].name | [0]" -o tsv)" --resource-group "$(az identity list --query "[?clientId=='${CLIENT}'].resourceGroup | [0]" -o tsv)" --issuer ${ISSUER} --subject ${SUBJECT} --audience api://AzureADTokenExchange — or, for an app registration: az ad app federated-credential create --id ${CLIENT} --parameters '{"name":"kubernetes-payments-api","issuer":"${ISSUER}","subject":"${SUBJECT}","audiences":["api://AzureADTokenExchange"]}'`,
        )
      }),
  )

  it.effect("AADSTS700024 → FederatedTokenExpired refused by Entra: the clock or a stale file", () =>
    Effect.gen(function* () {
      const error = yield* refusal(
        entraError(400, "invalid_client", 700024, "Client assertion is not within its valid time range."),
      )
      expect(error).toMatchObject({
        _tag: "FederatedTokenExpired",
        refusedBy: "entra",
        expiresOn: 3_600_000,
        checkedAt: 0,
      })
      expect(error.message).toMatch(/^Entra refused the federated token from .* \(AADSTS700024\)/)
      expect(error.hint).toMatch(/clock .* or the file is stale/)
    }),
  )

  it.effect("AADSTS700027 → FederatedTokenSignatureInvalid with Entra's reason and the issuer", () =>
    Effect.gen(function* () {
      const error = yield* refusal(
        entraError(
          401,
          "invalid_client",
          700027,
          "Client assertion contains an invalid signature. [Reason - The key was not found.]",
        ),
      )
      expect(error).toMatchObject({
        _tag: "FederatedTokenSignatureInvalid",
        issuer: ISSUER,
        reason: "The key was not found.",
      })
      expect(error.hint).toContain(`The cluster's issuer must be ${ISSUER}`)
    }),
  )

  it.effect("AADSTS90061 → FederatedIssuerUnreachable: Entra must read the issuer's discovery document", () =>
    Effect.gen(function* () {
      const error = yield* refusal(
        entraError(400, "invalid_request", 90061, "Request to External OIDC endpoint failed."),
      )
      expect(error).toMatchObject({ _tag: "FederatedIssuerUnreachable", issuer: ISSUER })
      expect(error.hint).toContain(`${ISSUER}.well-known/openid-configuration`)
    }),
  )

  it.effect("AADSTS50027 → FederatedTokenMalformed refused by Entra", () =>
    Effect.gen(function* () {
      const error = yield* refusal(
        entraError(400, "invalid_request", 50027, "JWT token is invalid or malformed."),
      )
      expect(error).toMatchObject({
        _tag: "FederatedTokenMalformed",
        refusedBy: "entra",
        problem: "JWT token is invalid or malformed.",
      })
    }),
  )

  it.effect("AADSTS700016 → ApplicationNotFound naming the client id and the webhook's annotation", () =>
    Effect.gen(function* () {
      const error = yield* refusal(
        entraError(
          400,
          "unauthorized_client",
          700016,
          `Application with identifier '${CLIENT}' was not found.`,
        ),
      )
      expect(error).toMatchObject({ _tag: "ApplicationNotFound", clientId: CLIENT, tenantId: TENANT })
      expect(error.hint).toContain("azure.workload.identity/client-id")
    }),
  )

  it.effect("another invalid_client → ClientAuthenticationFailed whose hint names the federated token", () =>
    Effect.gen(function* () {
      const error = yield* refusal(entraError(401, "invalid_client", 7000215, "Something else."))
      expect(error).toMatchObject({ _tag: "ClientAuthenticationFailed", credential: "workload-identity" })
      expect(error.hint).toContain("AZURE_FEDERATED_TOKEN_FILE")
    }),
  )
})

describe("WorkloadIdentity: secrets", () => {
  it.effect(
    "no log line (at every level), error or description carries the assertion or the access token",
    () => {
      const token = saToken({ iat: 0, exp: 3600 })
      const lines: Array<string> = []
      const capture = Logger.make(({ message, annotations }) => {
        lines.push(JSON.stringify({ message, annotations: Object.fromEntries(annotations) }))
      })
      const { layer } = setup(token, (n) =>
        n === 1
          ? { status: 503 }
          : n === 2
            ? entraToken("eyJ.access-secret.sig")
            : entraError(401, "invalid_client", 700027, "x"),
      )
      return Effect.gen(function* () {
        const tp = yield* TokenProvider
        const fiber = yield* Effect.fork(tp.getToken(ARM))
        yield* TestClock.adjust("5 seconds")
        yield* Fiber.join(fiber)
        const exit = yield* Effect.exit(tp.getToken("https://vault.azure.net"))
        expect(lines.length).toBeGreaterThan(2)
        for (const text of [...lines, tp.description, JSON.stringify(failure(exit)), String(failure(exit))]) {
          expect(text).not.toContain(token)
          expect(text).not.toContain("access-secret")
        }
      }).pipe(
        Effect.provide(layer),
        Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
        Logger.withMinimumLogLevel(LogLevel.All),
      )
    },
  )
})

describe("WorkloadIdentity.validate", () => {
  const check = (patch: Partial<WorkloadIdentity.WorkloadIdentityConfig>) =>
    Effect.runSync(Effect.either(WorkloadIdentity.validate({ ...config, ...patch })))

  it("normalises the authority (the webhook's trailing slash) and defaults it to the public cloud", () => {
    expect(check({})).toMatchObject({ right: { authorityHost: "https://login.microsoftonline.com" } })
    expect(check({ authorityHost: undefined })).toMatchObject({
      right: { authorityHost: "https://login.microsoftonline.com" },
    })
    expect(check({ tokenFile: `  ${PATH}\n` })).toMatchObject({ right: { tokenFile: PATH } })
  })

  it("an http authority is refused, even on loopback: the federated token would travel in clear", () => {
    for (const authorityHost of ["http://127.0.0.1:8443/", "http://login.microsoftonline.com"]) {
      expect(check({ authorityHost })).toMatchObject({
        left: { _tag: "InvalidConfiguration", variable: "AZURE_AUTHORITY_HOST" },
      })
    }
    expect(check({ authorityHost: "https://user:pw@login.microsoftonline.com" })).toMatchObject({
      left: { variable: "AZURE_AUTHORITY_HOST", reason: "must not contain user info (user@host)" },
    })
    expect(check({ authorityHost: "not a url" })).toMatchObject({
      left: { variable: "AZURE_AUTHORITY_HOST" },
    })
  })

  it("a client id that is not a GUID, a bad tenant or an empty path is InvalidConfiguration naming the variable", () => {
    expect(check({ clientId: "my-app" })).toMatchObject({ left: { variable: "AZURE_CLIENT_ID" } })
    expect(check({ tenantId: "a/b" })).toMatchObject({ left: { variable: "AZURE_TENANT_ID" } })
    expect(check({ tokenFile: " " })).toMatchObject({ left: { variable: "AZURE_FEDERATED_TOKEN_FILE" } })
  })
})

describe("WorkloadIdentity.checks (azmi doctor)", () => {
  it.effect("a missing file fails the first check, and the rest are not run", () =>
    Effect.gen(function* () {
      const checks = yield* WorkloadIdentity.checks({ ...config, tokenFile: "/nonexistent/azmi/token" })
      expect(checks).toHaveLength(1)
      expect(checks[0]).toMatchObject({
        check: "Federated token file readable",
        ok: false,
        error: { _tag: "FederatedTokenFileUnreadable", reason: "Missing" },
      })
      expect(checks[0]?.fix).toContain("azure.workload.identity/use")
      expect(checks[0]?.category).toBe("CredentialUnavailable")
    }),
  )

  it.effect("file readable, issuer and subject shown, not expired", () => {
    const file = fakeFile(saToken({ iat: 0, exp: 3600 }))
    return Effect.gen(function* () {
      yield* TestClock.adjust(minutes(20))
      const checks = yield* WorkloadIdentity.checks(config, { fileSystem: file.fileSystem })
      expect(checks).toEqual([
        { check: "Federated token file readable", ok: true, detail: `${PATH} (AZURE_FEDERATED_TOKEN_FILE)` },
        {
          check: "Federated token issuer and subject",
          ok: true,
          detail: `iss ${ISSUER}, sub ${SUBJECT}, aud api://AzureADTokenExchange (a federated credential on ${CLIENT} must name these)`,
        },
        {
          check: "Federated token not expired",
          ok: true,
          detail: "expires 1970-01-01T01:00:00.000Z (in 40 min)",
        },
      ])
    })
  })

  it.effect(
    "an expired token fails the last check with the typed error (its hint: the file is stale)",
    () => {
      const file = fakeFile(saToken({ iat: 0, exp: 3600 }))
      return Effect.gen(function* () {
        yield* TestClock.adjust(minutes(90))
        const checks = yield* WorkloadIdentity.checks(config, { fileSystem: file.fileSystem })
        expect(checks.map((c) => c.ok)).toEqual([true, true, false])
        expect(checks[2]?.error).toMatchObject({ _tag: "FederatedTokenExpired", refusedBy: "azmi" })
      })
    },
  )
})
