/**
 * Test helpers: start an emulator, talk to its IMDS over HTTP and to ARM/login over HTTPS trusting its CA.
 */
import { Agent, fetch, type Response } from "undici"
import { type Emulator, READER_ROLE_ID, type StartEmulatorOptions, startEmulator } from "../src/index.js"

export const ARM_RESOURCE = "https://management.azure.com/"
export const READER_ID = (sub: string) =>
  `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/${READER_ROLE_ID}`

export interface TestEmulator {
  readonly emu: Emulator
  readonly dispatcher: Agent
  /** Raw IMDS GET of `pathAndQuery` (with `Metadata: true` unless headers say otherwise). */
  imds(pathAndQuery: string, init?: { method?: string; headers?: Record<string, string> }): Promise<Response>
  /** IMDS token for the default identity (or with extra query), returning the access token. */
  vmToken(resource?: string, extraQuery?: string): Promise<string>
  /** Client-credentials token of the admin service principal for ARM. */
  adminToken(): Promise<string>
  arm(
    path: string,
    token: string | undefined,
    init?: { method?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<Response>
  login(
    path: string,
    init?: { method?: string; form?: Record<string, string>; headers?: Record<string, string> },
  ): Promise<Response>
  close(): Promise<void>
}

/**
 * Starts an emulator for a test. Limits are off unless given (or `defaultLimits` keeps the real defaults),
 * so suites that fire many requests are not throttled by accident.
 */
export const start = async (
  options: StartEmulatorOptions = {},
  defaultLimits = false,
): Promise<TestEmulator> => {
  const emu = await startEmulator(
    defaultLimits
      ? options
      : {
          ...options,
          limits: {
            imdsRequestsPerSecond: Infinity,
            imdsConcurrency: Infinity,
            armReadBucket: Infinity,
            ...options.limits,
          },
        },
  )
  const dispatcher = new Agent({ connect: { ca: emu.caCert } })
  const t: TestEmulator = {
    emu,
    dispatcher,
    imds: (pathAndQuery, init = {}) =>
      fetch(`${emu.imdsUrl}${pathAndQuery}`, {
        method: init.method ?? "GET",
        headers: init.headers ?? { Metadata: "true" },
      }),
    vmToken: async (resource = ARM_RESOURCE, extraQuery = "") => {
      const res = await t.imds(
        `/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(resource)}${extraQuery}`,
      )
      const body = (await res.json()) as { access_token?: string }
      if (res.status !== 200 || body.access_token === undefined) throw new Error(`IMDS ${res.status}`)
      return body.access_token
    },
    adminToken: async () => {
      const res = await t.login(`/${emu.admin.tenantId}/oauth2/v2.0/token`, {
        form: {
          grant_type: "client_credentials",
          client_id: emu.admin.clientId,
          client_secret: emu.admin.clientSecret,
          scope: "https://management.azure.com/.default",
        },
      })
      const body = (await res.json()) as { access_token?: string }
      if (res.status !== 200 || body.access_token === undefined) throw new Error(`login ${res.status}`)
      return body.access_token
    },
    arm: (path, token, init = {}) =>
      fetch(`${emu.armUrl}${path}`, {
        method: init.method ?? "GET",
        dispatcher,
        headers: {
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          ...(init.body === undefined ? {} : { "content-type": "application/json" }),
          ...init.headers,
        },
        ...(init.body === undefined
          ? {}
          : { body: typeof init.body === "string" ? init.body : JSON.stringify(init.body) }),
      }),
    login: (path, init = {}) =>
      fetch(`${emu.loginUrl}${path}`, {
        method: init.method ?? (init.form === undefined ? "GET" : "POST"),
        dispatcher,
        headers: {
          ...(init.form === undefined ? {} : { "content-type": "application/x-www-form-urlencoded" }),
          ...init.headers,
        },
        ...(init.form === undefined ? {} : { body: new URLSearchParams(init.form).toString() }),
      }),
    close: async () => {
      await emu.close()
      await dispatcher.close()
    },
  }
  return t
}

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON bodies
export const json = (r: Response): Promise<any> => r.json()

/** Base64url JSON payload of a JWT (no verification). */
export const jwtPayload = (token: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8"))

/** A controllable clock for the emulator (epoch ms). */
export const fakeClock = (startMs = Date.UTC(2026, 0, 15, 12, 0, 0)) => {
  let t = startMs
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms
    },
  }
}
