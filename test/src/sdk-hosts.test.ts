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
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { EMULATOR_SOURCES } from "@azmi/emulator"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { grantReader, type RunningEmulator, spawnEmulator } from "./emulator-process.js"

const here = dirname(fileURLToPath(import.meta.url))
const children = join(here, "sdk-children")
/** Debian's Python: the pyenv `python3` on PATH lacks Debian's packages. */
const PYTHON = "/usr/bin/python3"

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
      emu = await spawnEmulator(source)
      await grantReader(emu.line, emu.line.host.principalId)
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
