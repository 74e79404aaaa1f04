/**
 * `azmi-emulator` as its own process, for the end-to-end suites that must run a client with nothing but
 * the start-up line's `env` (its CA is in NODE_EXTRA_CA_CERTS, which Node reads only when a process
 * starts): spawn it, read the one JSON line (its `env` is exactly what a process on that host sees),
 * HTTPS to it trusting its CA, the admin's grants, and the request log through its control API.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { readFileSync } from "node:fs"
import { request } from "node:https"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"

const emulatorBin = join(
  dirname(createRequire(import.meta.url).resolve("@azmi/emulator/package.json")),
  "bin",
  "azmi-emulator.mjs",
)

export const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"

/** The start-up line (the fields these suites read). */
export interface StartLine {
  readonly armUrl: string
  readonly loginUrl: string
  readonly controlUrl: string
  readonly caCertPath: string
  readonly subscriptionId: string
  readonly admin: { tenantId: string; clientId: string; clientSecret: string }
  readonly host: { source: string; principalId: string; clientId: string; oidcIssuer?: string }
  readonly env: Record<string, string>
}

export interface RunningEmulator {
  readonly line: StartLine
  readonly child: ChildProcessWithoutNullStreams
  readonly exited: Promise<number | null>
  /** SIGTERM, and wait for the exit. */
  readonly stop: () => Promise<void>
  /** Requests the emulator answered, by its control API (`target` e.g. `arc-token`). */
  readonly count: (filter: { readonly target: string; readonly status?: number }) => Promise<number>
}

/** How long the emulator has to print its start-up line before it is killed and the start fails. */
const START_TIMEOUT_MS = 30_000

/**
 * `azmi-emulator --source <source>` (plus `args`), once its start-up line is out. A start that fails
 * (no line within {@link START_TIMEOUT_MS}, a line that is not JSON, a spawn error, an early exit)
 * rejects with the child already killed: nothing is left running for the caller to stop.
 */
export const spawnEmulator = (source: string, args: ReadonlyArray<string> = []): Promise<RunningEmulator> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [emulatorBin, "--source", source, ...args], {
      stdio: ["pipe", "pipe", "pipe"],
    })
    const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)))
    let stdout = ""
    let stderr = ""
    let settled = false
    const fail = (reason: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
      reject(new Error(`azmi-emulator --source ${source} ${reason}: ${stderr}`))
    }
    const timer = setTimeout(
      () => fail(`printed no start-up line within ${START_TIMEOUT_MS} ms`),
      START_TIMEOUT_MS,
    )
    child.once("error", (e) => fail(`could not be spawned (${e.message})`))
    child.stderr.on("data", (d) => {
      stderr += d
    })
    child.stdout.on("data", (d) => {
      if (settled) return
      stdout += d
      const nl = stdout.indexOf("\n")
      if (nl === -1) return
      let line: StartLine
      try {
        line = JSON.parse(stdout.slice(0, nl)) as StartLine
      } catch {
        fail(`printed a start-up line that is not JSON (${stdout.slice(0, Math.min(nl, 200))})`)
        return
      }
      settled = true
      clearTimeout(timer)
      resolve({
        line,
        child,
        exited,
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
          await exited
        },
        count: async (filter) => {
          const query = new URLSearchParams({
            target: filter.target,
            ...(filter.status === undefined ? {} : { status: String(filter.status) }),
          })
          const res = await fetch(`${line.controlUrl}/_emulator/requests?${query}`)
          if (!res.ok) throw new Error(`emulator control API: ${res.status}`)
          const body = (await res.json()) as { counts: { total: number } }
          return body.counts.total
        },
      })
    })
    void exited.then((code) => fail(`exited ${code}`))
  })

/** HTTPS to the emulator's ARM/login, trusting its CA. */
export const https = (
  url: string,
  ca: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? "GET", headers: init.headers, ca }, (res) => {
      let body = ""
      res.on("data", (d) => {
        body += d
      })
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on("error", reject)
    req.end(init.body)
  })

/** The admin gives `principalId` Reader on the subscription, through ARM like any client would. */
export const grantReader = async (line: StartLine, principalId: string): Promise<void> => {
  const ca = readFileSync(line.caCertPath, "utf8")
  const form = new URLSearchParams({
    grant_type: "client_credentials",
    client_id: line.admin.clientId,
    client_secret: line.admin.clientSecret,
    scope: "https://management.azure.com/.default",
  }).toString()
  const login = await https(`${line.loginUrl}/${line.admin.tenantId}/oauth2/v2.0/token`, ca, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: form,
  })
  const adminToken = (JSON.parse(login.body) as { access_token: string }).access_token
  const scope = `/subscriptions/${line.subscriptionId}`
  const put = await https(
    `${line.armUrl}${scope}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=2022-04-01`,
    ca,
    {
      method: "PUT",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({
        properties: {
          roleDefinitionId: `${scope}/providers/Microsoft.Authorization/roleDefinitions/${READER}`,
          principalId,
        },
      }),
    },
  )
  if (put.status !== 201) throw new Error(`role assignment: ${put.status} ${put.body}`)
}
