/**
 * Every Azure host the emulator plays, against the official SDKs unchanged (issue 13): for each `--source`,
 * `azmi-emulator` runs as its own process, and @azure/identity's ManagedIdentityCredential, MSAL Node's
 * ManagedIdentityApplication (not for workload identity, which MSAL's managed-identity app does not speak)
 * and azure-identity for Python (Debian's python3-azure) each get an ARM token in a child process whose
 * environment is the start-up line's `env` and PATH — nothing else — and ARM accepts it (200 once the host's
 * identity holds Reader on the subscription).
 *
 * Python is required: a machine without /usr/bin/python3 and azure-identity fails here, loudly (`.ci/run`
 * installs python3-azure when it is missing).
 */
import { execFile } from "node:child_process"
import { randomUUID } from "node:crypto"
import { existsSync, readFileSync } from "node:fs"
import { request } from "node:https"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { EMULATOR_SOURCES } from "@azmi/emulator"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  type RunningEmulator,
  type StartLine,
  startEmulatorChild as startEmulator,
} from "./emulator-child.js"

const here = dirname(fileURLToPath(import.meta.url))
const children = join(here, "sdk-children")
/** Debian's Python: the pyenv `python3` on PATH lacks Debian's packages. */
const PYTHON = "/usr/bin/python3"
const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"

/** HTTPS to the emulator's ARM/login, trusting its CA. */
const https = (
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

/** The admin gives the host's identity Reader on the subscription, through ARM like any client would. */
const grantReader = async (line: StartLine): Promise<void> => {
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
          principalId: line.host.principalId,
        },
      }),
    },
  )
  if (put.status !== 201) throw new Error(`role assignment: ${put.status} ${put.body}`)
}

interface Outcome {
  readonly arm: number
  readonly oid: string
  readonly appid: string
}

/** Runs one SDK child with exactly the line's env plus PATH; its one JSON line is the outcome. */
const runChild = (
  command: string,
  args: ReadonlyArray<string>,
  env: Record<string, string>,
): Promise<Outcome> =>
  new Promise((resolve, reject) => {
    execFile(
      command,
      [...args],
      { env: { ...env, PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeout: 60_000, cwd: children },
      (error, stdout, stderr) => {
        if (error !== null)
          return reject(new Error(`${command} ${args.join(" ")} failed: ${error.message}\n${stderr}`))
        try {
          resolve(JSON.parse(stdout.trim().split("\n").pop() ?? "") as Outcome)
        } catch {
          reject(new Error(`no outcome from ${args.join(" ")}: ${stdout}\n${stderr}`))
        }
      },
    )
  })

const pythonWithAzureIdentity = (): Promise<string | undefined> =>
  new Promise((resolve) => {
    if (!existsSync(PYTHON)) return resolve(`${PYTHON} does not exist`)
    execFile(PYTHON, ["-c", "import azure.identity, requests"], (error, _out, stderr) =>
      resolve(error === null ? undefined : `${PYTHON} cannot import azure.identity: ${stderr.trim()}`),
    )
  })

describe("Python with azure-identity (Debian's python3-azure) is installed", () => {
  it("is importable from /usr/bin/python3 — install python3-azure (.ci/run does) rather than skip", async () => {
    const problem = await pythonWithAzureIdentity()
    expect(problem, problem).toBeUndefined()
  })
})

for (const source of EMULATOR_SOURCES) {
  describe(`--source ${source}: the official SDKs get a token with the start-up line's env alone, and ARM accepts it`, () => {
    let emu: RunningEmulator
    beforeAll(async () => {
      emu = await startEmulator(source)
      await grantReader(emu.line)
    })
    afterAll(async () => {
      await emu?.stop()
    })

    const expectAccepted = (outcome: Outcome) => {
      expect(outcome).toEqual({ arm: 200, oid: emu.line.host.principalId, appid: emu.line.host.clientId })
    }

    it("@azure/identity ManagedIdentityCredential", async () => {
      expectAccepted(
        await runChild(process.execPath, ["identity-js.mjs", emu.line.subscriptionId], emu.line.env),
      )
    })

    if (source !== "workload-identity") {
      it("MSAL Node ManagedIdentityApplication", async () => {
        expectAccepted(
          await runChild(process.execPath, ["msal-node.mjs", emu.line.subscriptionId], emu.line.env),
        )
      })
    }

    it("azure-identity for Python ManagedIdentityCredential", async () => {
      expectAccepted(await runChild(PYTHON, ["azure_identity.py", emu.line.subscriptionId], emu.line.env))
    })
  })
}
