/**
 * Helpers for the azmi-http end-to-end tests: start the built `azmi-http` as a child process against
 * an emulator, collect every line it prints, and talk to the emulator's ARM as its admin.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from "node:child_process"
import { request as httpsRequest } from "node:https"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import type { Emulator } from "@azmi/emulator"
import { expect } from "vitest"
import { seedTokenCurl } from "./seed-quickstart.mjs"

const require = createRequire(import.meta.url)
/** The built bin of @azmi/http (what `npx azmi-http` runs). */
export const httpMain = join(dirname(require.resolve("@azmi/http/package.json")), "dist", "main.js")

export interface HttpChild {
  readonly url: string
  readonly child: ChildProcessWithoutNullStreams
  /** Every line printed so far, stdout and stderr. */
  readonly lines: Array<string>
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>
  /** SIGTERM (if still running) and wait for the exit. */
  readonly stop: () => Promise<number | null>
}

/** How long azmi-http has to print its URL before it is killed and the start fails. */
const START_TIMEOUT_MS = 30_000

/**
 * Starts `azmi-http` with exactly `env` as its environment (PATH included, or not: the caller's choice),
 * once it has printed its `{ "url" }` line. A start that fails (no line within {@link START_TIMEOUT_MS},
 * a first line that is not JSON, an early exit) rejects with the child already killed.
 */
export const spawnHttp = (env: Record<string, string>): Promise<HttpChild> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [httpMain], { env, stdio: ["pipe", "pipe", "pipe"] })
    const lines: Array<string> = []
    const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
    let started = false
    const fail = (reason: string) => {
      if (started) return
      started = true
      clearTimeout(timer)
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
      reject(new Error(reason))
    }
    const timer = setTimeout(
      () => fail(`azmi-http printed no URL within ${START_TIMEOUT_MS} ms:\n${lines.join("\n")}`),
      START_TIMEOUT_MS,
    )
    child.once("error", (e) => fail(`azmi-http could not be spawned: ${e.message}`))
    createInterface({ input: child.stderr }).on("line", (line) => lines.push(line))
    createInterface({ input: child.stdout }).on("line", (line) => {
      lines.push(line)
      if (started) return
      let url: string
      try {
        ;({ url } = JSON.parse(line) as { url: string })
      } catch {
        fail(`azmi-http printed ${line}`)
        return
      }
      started = true
      clearTimeout(timer)
      resolve({
        url,
        child,
        lines,
        exited,
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
          return exited
        },
      })
    })
    exited.then((code) => fail(`azmi-http exited with ${code} before listening:\n${lines.join("\n")}`))
  })

/** Starts `azmi-http` on 127.0.0.1:0 against `emu`; `env` adds or overrides variables. */
export const startHttp = (emu: Emulator, env: Record<string, string> = {}): Promise<HttpChild> =>
  spawnHttp({
    PATH: process.env.PATH ?? "",
    NODE_EXTRA_CA_CERTS: emu.caCertPath,
    AZMI_HTTP_HOST: "127.0.0.1",
    AZMI_HTTP_PORT: "0",
    AZMI_IMDS_ENDPOINT: emu.imdsUrl,
    AZMI_ARM_ENDPOINT: emu.armUrl,
    ...env,
  })

/**
 * Runs a client (`curl`, `python3`, `node`) with only `PATH` and `env`, from this directory (where
 * `@azure/identity` resolves); resolves with its stdout, rejects with its stderr.
 */
export const runClient = (command: string, args: ReadonlyArray<string>, env: Record<string, string>) =>
  new Promise<string>((resolve, reject) =>
    execFile(
      command,
      [...args],
      {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
        timeout: 60_000,
        cwd: fileURLToPath(new URL(".", import.meta.url)),
      },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
    ),
  )

/**
 * `count` `@azure/identity` `ManagedIdentityCredential`s in one fresh Node process, all asking at once
 * through `AZURE_POD_IDENTITY_AUTHORITY_HOST=url` (MSAL coalesces no cold requests): the distinct tokens
 * they got.
 */
export const azureIdentityTokensThrough = async (url: string, count: number): Promise<Array<string>> => {
  const script = `
      import { ManagedIdentityCredential } from "@azure/identity"
      const tokens = await Promise.all(Array.from({ length: ${count} }, () =>
        new ManagedIdentityCredential().getToken("https://vault.azure.net/.default")))
      console.log(JSON.stringify([...new Set(tokens.map((t) => t.token))]))`
  return JSON.parse(
    await runClient(process.execPath, ["--input-type=module", "-e", script], {
      AZURE_POD_IDENTITY_AUTHORITY_HOST: url,
    }),
  ) as Array<string>
}

/**
 * The seed's token `curl`, character for character but for IMDS's address (`url` instead): its answer,
 * checked to be IMDS's own shape (IMDS's key order, every field a string, the resource asked for).
 */
export const seedCurlThrough = async (url: string): Promise<Record<string, string>> => {
  const curl = seedTokenCurl.replace("http://169.254.169.254", url)
  const body = JSON.parse(await runClient("sh", ["-c", curl], {})) as Record<string, string>
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
  for (const value of Object.values(body)) expect(typeof value).toBe("string")
  expect(body).toMatchObject({ resource: "https://management.azure.com/", token_type: "Bearer" })
  return body
}

/** Waits (up to 5 s) until the server has printed a line matching `predicate` (access logs are batched). */
export const waitForLine = async (http: HttpChild, predicate: (line: string) => boolean): Promise<string> => {
  for (let i = 0; i < 500; i++) {
    const line = http.lines.find(predicate)
    if (line !== undefined) return line
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error("azmi-http did not print the expected line")
}

const httpsJson = (
  emu: Emulator,
  method: string,
  url: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; json: unknown }> =>
  new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, headers, ca: emu.caCert }, (res) => {
      let text = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => {
        text += chunk
      })
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, json: text === "" ? undefined : JSON.parse(text) }),
      )
    })
    req.once("error", reject)
    if (body !== undefined) req.write(body)
    req.end()
  })

/** The admin service principal grants `principalId` the Reader role at `scope`, through ARM. */
export const grantReader = async (emu: Emulator, principalId: string, scope: string): Promise<void> => {
  const form = new URLSearchParams({
    client_id: emu.admin.clientId,
    client_secret: emu.admin.clientSecret,
    grant_type: "client_credentials",
    scope: "https://management.azure.com/.default",
  }).toString()
  const token = await httpsJson(
    emu,
    "POST",
    `${emu.loginUrl}/${emu.tenantId}/oauth2/v2.0/token`,
    {
      "Content-Type": "application/x-www-form-urlencoded",
    },
    form,
  )
  if (token.status !== 200) throw new Error(`admin token: ${token.status} ${JSON.stringify(token.json)}`)
  const accessToken = (token.json as { access_token: string }).access_token
  const put = await httpsJson(
    emu,
    "PUT",
    `${emu.armUrl}${scope}/providers/Microsoft.Authorization/roleAssignments/${crypto.randomUUID()}?api-version=2022-04-01`,
    { Authorization: `Bearer ${accessToken}`, "Content-Type": "application/json" },
    JSON.stringify({
      properties: {
        roleDefinitionId: `/subscriptions/${emu.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7`,
        principalId,
        principalType: "ServicePrincipal",
      },
    }),
  )
  if (put.status !== 201 && put.status !== 200)
    throw new Error(`role assignment: ${put.status} ${JSON.stringify(put.json)}`)
}
