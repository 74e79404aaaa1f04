/**
 * Secrets stay secret, across every surface: scenarios run through the core (every Effect log line at
 * Debug, error messages, hints, `Cause.pretty`, JSON of errors), the built CLI (stdout and stderr with
 * `--debug` / `--verbose`) and azmi-http (access log, core logs at Debug, response bodies), success and
 * failure paths alike (retries, a 401 refresh, 403, a wrong client secret). The tokens the emulator issues
 * are collected on the wire by recording proxies in front of IMDS and ARM/login; then no output may
 * contain any of them (nor their signatures, nor anything JWT-shaped) unless that output asked for the
 * token as data, and no output may ever contain the client secret, a wrong secret, the API key or the
 * broker's identity header.
 */
import { createServer, request as httpRequest, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { Azmi, ResourceGroups, TokenProvider } from "@azmi/core"
import { type Emulator, startEmulator } from "@azmi/emulator"
import { createApp, defaultConfig, type HttpConfig, HttpServices } from "@azmi/http"
import {
  Cause,
  Effect,
  Exit,
  HashMap,
  Layer,
  List,
  Logger,
  LogLevel,
  ManagedRuntime,
  Option,
  Redacted,
  Stream,
} from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { readerWorld, runAzmi } from "./reliability-support.js"

const API_KEY = "secrets-suite-api-key-abcdefghijkl"
const IDENTITY_HEADER = "secrets-suite-identity-header-xyz"
const WRONG_SECRET = "wrong-secret-value-that-must-not-leak"

interface Output {
  readonly where: string
  readonly text: string
  /** Tokens this output asked for as data (e.g. `azmi token` stdout, the broker's body). */
  readonly allowed?: ReadonlyArray<string>
  /** It printed whatever token it was asked for: any issued token is allowed here. */
  readonly printsToken?: boolean
}

const outputs: Array<Output> = []
const issued = new Set<string>()

/** An HTTP proxy to `target` that records every `access_token` it sees in a response. */
const recordingProxy = async (target: string): Promise<{ url: string; server: Server }> => {
  const upstream = new URL(target)
  const server = createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      const forward = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (up) => {
          const body: Array<Buffer> = []
          up.on("data", (c: Buffer) => body.push(c))
          up.on("end", () => {
            const text = Buffer.concat(body).toString("utf8")
            for (const m of text.matchAll(/"access_token"\s*:\s*"([^"]+)"/g))
              if (m[1] !== undefined) issued.add(m[1])
            res.writeHead(up.statusCode ?? 502, up.headers)
            res.end(text)
          })
        },
      )
      forward.on("error", () => res.destroy())
      forward.end(Buffer.concat(chunks))
    })
  })
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

let emu: Emulator
let imds: { url: string; server: Server }
let arm: { url: string; server: Server }
beforeAll(async () => {
  emu = await startEmulator({
    world: readerWorld(),
    armTls: false,
    limits: { imdsRequestsPerSecond: Number.POSITIVE_INFINITY, imdsConcurrency: Number.POSITIVE_INFINITY },
  })
  imds = await recordingProxy(emu.imdsUrl)
  arm = await recordingProxy(emu.armUrl)
})
afterAll(async () => {
  await Promise.all([imds, arm].map((p) => new Promise((r) => p?.server.close(r))))
  await emu?.close()
})

const expiredBody = JSON.stringify({
  error: {
    code: "ExpiredAuthenticationToken",
    message: "The access token expiry UTC time '1/1/2020 0:00:00 AM' is earlier than current UTC time.",
  },
})

/** A logger that keeps every line: message, annotations, spans and the cause, rendered. */
const capturingLogger = (where: string) =>
  Logger.make(({ logLevel, message, annotations, cause, spans }) => {
    const text = [
      logLevel.label,
      Array.isArray(message) ? message.map(String).join(" ") : String(message),
      JSON.stringify(Object.fromEntries(HashMap.toEntries(annotations)), (_k, v) =>
        typeof v === "bigint" ? String(v) : v,
      ),
      List.toArray(spans)
        .map((s) => s.label)
        .join(","),
      Cause.isEmpty(cause) ? "" : Cause.pretty(cause),
    ].join(" | ")
    outputs.push({ where, text })
  })

/** Everything a failure can show a person or a log. */
const errorTexts = (where: string, exit: Exit.Exit<unknown, unknown>) => {
  if (Exit.isSuccess(exit)) return
  outputs.push({ where: `${where} (Cause.pretty)`, text: Cause.pretty(exit.cause) })
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) {
    const e = failure.value as { message?: string; hint?: string }
    outputs.push({
      where: `${where} (error)`,
      text: [String(failure.value), e.message, e.hint, JSON.stringify(failure.value)].join("\n"),
    })
  }
}

const runCore = async <A>(
  where: string,
  options: Azmi.AzmiOptions,
  effect: Effect.Effect<A, unknown, Azmi.AzmiServices>,
) => {
  const exit = await Effect.runPromiseExit(
    effect.pipe(
      Effect.provide(Azmi.layer(options)),
      Effect.provide(Logger.replace(Logger.defaultLogger, capturingLogger(where))),
      Logger.withMinimumLogLevel(LogLevel.All),
    ),
  )
  errorTexts(where, exit)
  return exit
}

const group = Effect.flatMap(ResourceGroups, (g) => g.get(emu.subscriptionId, "DevTest"))

const admin = () => ({
  AZURE_TENANT_ID: emu.admin.tenantId,
  AZURE_CLIENT_ID: emu.admin.clientId,
  AZURE_CLIENT_SECRET: emu.admin.clientSecret,
  AZURE_AUTHORITY_HOST: arm.url,
})

describe("secrets", () => {
  it("core scenarios, logs at Debug", async () => {
    const mi: Azmi.AzmiOptions = {
      imdsEndpoint: imds.url,
      armEndpoint: arm.url,
      credential: "managed-identity",
    }
    expect(Exit.isSuccess(await runCore("core: read", mi, group))).toBe(true)
    emu.faults.inject({ target: "imds-token", status: 503, count: 1 })
    emu.faults.inject({ target: "arm", status: 401, body: expiredBody, count: 1 })
    expect(Exit.isSuccess(await runCore("core: 503 then 401-refresh", mi, group))).toBe(true)
    emu.faults.inject({ target: "arm", status: 403, count: 1 })
    expect(Exit.isFailure(await runCore("core: 403", mi, group))).toBe(true)
    emu.faults.inject({ target: "arm", malformed: "invalid-json", count: 1 })
    expect(Exit.isFailure(await runCore("core: malformed ARM", mi, group))).toBe(true)
    // The token as data: it is the value, not something logged.
    const token = await runCore(
      "core: getToken",
      mi,
      Effect.flatMap(TokenProvider, (tp) => tp.getToken("https://management.azure.com/")),
    )
    expect(Exit.isSuccess(token)).toBe(true)
    if (Exit.isSuccess(token)) {
      expect(Redacted.isRedacted(token.value.token)).toBe(true)
      outputs.push({
        where: "core: String(AccessToken)",
        text: `${String(token.value.token)} ${JSON.stringify(token.value)}`,
      })
    }

    const sp = {
      armEndpoint: arm.url,
      credential: "client-secret" as const,
      tenantId: emu.admin.tenantId,
      clientId: emu.admin.clientId,
      authorityHost: arm.url,
    }
    const list = Effect.flatMap(ResourceGroups, (g) => Stream.runCollect(g.list(emu.subscriptionId)))
    expect(
      Exit.isSuccess(
        await runCore("core: service principal", { ...sp, clientSecret: emu.admin.clientSecret }, list),
      ),
    ).toBe(true)
    expect(
      Exit.isFailure(await runCore("core: wrong secret", { ...sp, clientSecret: WRONG_SECRET }, list)),
    ).toBe(true)
  })

  it("CLI scenarios, stdout and stderr with --debug / --verbose", async () => {
    const env = { AZMI_IMDS_ENDPOINT: imds.url, AZMI_ARM_ENDPOINT: arm.url, HOME: "/nonexistent-home" }
    const sub = ["--subscription", emu.subscriptionId]
    const cli = async (
      where: string,
      args: ReadonlyArray<string>,
      extra: Record<string, string> = {},
      printsToken = false,
    ) => {
      const run = await runAzmi(args, { ...env, ...extra })
      outputs.push({ where: `${where} stdout`, text: run.stdout, printsToken })
      outputs.push({ where: `${where} stderr`, text: run.stderr })
      return run
    }
    expect((await cli("azmi token", ["token"], {}, true)).code).toBe(0)
    expect((await cli("azmi token --decode --debug", ["token", "--decode", "--debug"])).code).toBe(0)
    expect(
      (await cli("azmi group show --debug", ["group", "show", "-g", "DevTest", ...sub, "--debug"])).code,
    ).toBe(0)
    emu.faults.inject({ target: "imds-token", status: 503, count: 1 })
    emu.faults.inject({ target: "arm", status: 401, body: expiredBody, count: 1 })
    expect(
      (
        await cli("azmi group show --verbose (faults)", [
          "group",
          "show",
          "-g",
          "DevTest",
          ...sub,
          "--verbose",
        ])
      ).code,
    ).toBe(0)
    emu.faults.inject({ target: "arm", status: 403, count: 1 })
    expect(
      (await cli("azmi group show --debug (403)", ["group", "show", "-g", "DevTest", ...sub, "--debug"]))
        .code,
    ).toBe(4)
    expect(
      (await cli("azmi group list --debug (admin)", ["group", "list", ...sub, "--debug"], admin())).code,
    ).toBe(0)
    const wrong = await cli("azmi group list --debug (wrong secret)", ["group", "list", ...sub, "--debug"], {
      ...admin(),
      AZURE_CLIENT_SECRET: WRONG_SECRET,
    })
    expect(wrong.code).toBe(4)
    const roles = await cli(
      "azmi role assignment list --debug",
      ["role", "assignment", "list", "--scope", `/subscriptions/${emu.subscriptionId}`, "--debug"],
      admin(),
    )
    expect(roles.code, roles.stderr).toBe(0)
  }, 60_000)

  it("HTTP scenarios: access log, core logs at Debug, response bodies", async () => {
    const config: HttpConfig = {
      ...defaultConfig,
      imdsEndpoint: imds.url,
      armEndpoint: arm.url,
      apiKey: Redacted.make(API_KEY),
      identityHeader: Redacted.make(IDENTITY_HEADER),
      cacheTtlMs: 0,
    }
    const options: Azmi.AzmiOptions = {
      imdsEndpoint: imds.url,
      armEndpoint: arm.url,
      credential: "managed-identity",
    }
    const runtime = ManagedRuntime.make(
      Layer.mergeAll(
        HttpServices.layer(config, Azmi.layer(options), (identity) => Azmi.layer({ ...options, identity })),
        Logger.replace(Logger.defaultLogger, capturingLogger("http: core log")),
        Logger.minimumLogLevel(LogLevel.All),
      ) as Layer.Layer<HttpServices.HttpServices>,
    )
    const app = createApp({
      runtime,
      config,
      log: (line) => outputs.push({ where: "http: access log", text: line }),
    })
    const get = async (where: string, path: string, headers: Record<string, string>, allowToken = false) => {
      const res = await app.request(path, { headers })
      const text = await res.text()
      outputs.push({
        where: `${where} → ${res.status}`,
        text: `${JSON.stringify([...res.headers])}\n${text}`,
        printsToken: allowToken,
      })
      return res.status
    }
    try {
      const auth = { authorization: `Bearer ${API_KEY}` }
      const groupPath = `/v1/subscriptions/${emu.subscriptionId}/resourceGroups/DevTest`
      expect(await get("http: group", groupPath, auth)).toBe(200)
      emu.faults.inject({ target: "arm", status: 401, body: expiredBody, count: 1 })
      expect(await get("http: group after 401", groupPath, auth)).toBe(200)
      emu.faults.inject({ target: "arm", status: 403, count: 1 })
      expect(await get("http: group 403", groupPath, auth)).toBe(403)
      expect(await get("http: no key", groupPath, {})).toBe(401)
      expect(await get("http: wrong key", groupPath, { authorization: `Bearer ${WRONG_SECRET}` })).toBe(401)
      const broker = "/msi/token?resource=https%3A%2F%2Fmanagement.azure.com%2F&api-version=2019-08-01"
      expect(await get("http: broker", broker, { "x-identity-header": IDENTITY_HEADER }, true)).toBe(200)
      expect(await get("http: broker wrong header", broker, { "x-identity-header": WRONG_SECRET })).toBe(401)
      expect(await get("http: readyz", "/readyz", {})).toBe(200)
      expect(await get("http: metrics", "/metrics", {})).toBe(200)
      await get("http: own group", "/v1/resourceGroup", auth)
    } finally {
      await runtime.dispose()
    }
  })

  it("no output contains a token it did not ask for, nor any secret", () => {
    const tokens = [...issued]
    // The scanners work: tokens were issued, and the outputs that asked for one do show it.
    expect(tokens.length).toBeGreaterThanOrEqual(3)
    const asked = outputs.filter((o) => o.printsToken === true)
    expect(asked.length).toBeGreaterThanOrEqual(2)
    for (const o of asked)
      expect(
        tokens.some((t) => o.text.includes(t)),
        o.where,
      ).toBe(true)
    expect(outputs.length).toBeGreaterThan(50)

    const secrets = [emu.admin.clientSecret, WRONG_SECRET, API_KEY, IDENTITY_HEADER]
    const jwt = /eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}/g
    for (const o of outputs) {
      for (const secret of secrets)
        expect(o.text.includes(secret), `${o.where} contains a secret`).toBe(false)
      if (o.printsToken === true) continue
      for (const t of tokens) {
        expect(o.text.includes(t), `${o.where} contains an issued token`).toBe(false)
        const signature = t.split(".")[2] ?? ""
        expect(o.text.includes(signature), `${o.where} contains a token signature`).toBe(false)
      }
      expect(o.text.match(jwt), `${o.where} contains something JWT-shaped`).toBeNull()
    }
    console.log(
      `secrets: ${outputs.length} outputs scanned for ${tokens.length} issued tokens and ${secrets.length} secrets`,
    )
  })
})
