/**
 * Helpers for the `azmi` CLI end-to-end tests: run the built bundle (`apps/cli/dist/azmi.mjs`) as a child
 * process against an emulator this test file started, with every endpoint, the CA and HOME/XDG directories
 * set explicitly (nothing inherited from the developer's environment), and keep every output for the
 * "no token leaks" scan.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import {
  defaultWorld,
  type Emulator,
  type StartEmulatorOptions,
  startEmulator,
  type World,
} from "@azmi/emulator"
import { expect } from "vitest"

/** The built CLI bundle (what `npx azmi` runs). */
export const azmiBin = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "apps",
  "cli",
  "dist",
  "azmi.mjs",
)

export interface AzmiRun {
  readonly args: ReadonlyArray<string>
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  /** The command printed a token as data on stdout (`azmi token` without --decode). */
  readonly printsToken: boolean
  /** The command printed the emulator's fake admin secret as data (`azmi emulator`). */
  readonly printsSecret: boolean
}

/** Every run of this test file, scanned for leaked tokens by {@link expectNoLeaks}. */
export const runs: Array<AzmiRun> = []

export interface CliEnv {
  readonly emu: Emulator
  /** HOME / XDG dirs for this file's runs (so the token cache lands in a temp dir). */
  readonly home: string
  readonly env: Record<string, string>
  readonly close: () => Promise<void>
}

/** A world whose VM identity is Owner of the subscription (so it can create role assignments itself). */
export const worldWithVmOwner = (): World => {
  const w = defaultWorld()
  const vm = w.vms[0]
  const principalId = vm?.systemAssigned?.principalId ?? ""
  return {
    ...w,
    roleAssignments: [
      ...w.roleAssignments,
      {
        name: "9e1d2c3b-4a59-4687-9786-a5b4c3d2e1f9",
        scope: `/subscriptions/${w.subscriptions[0]?.subscriptionId ?? ""}`,
        roleDefinitionId:
          "/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        principalId,
        principalType: "ServicePrincipal",
      },
    ],
  }
}

/** Starts an emulator for one test file, plus a private HOME. */
export const startCliEnv = async (options: StartEmulatorOptions = {}): Promise<CliEnv> => {
  const emu = await startEmulator({
    limits: { imdsRequestsPerSecond: Infinity, imdsConcurrency: Infinity },
    ...options,
  })
  const home = mkdtempSync(join(tmpdir(), "azmi-cli-e2e-"))
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: home,
    XDG_RUNTIME_DIR: join(home, "run"),
    XDG_CACHE_HOME: join(home, "cache"),
    AZMI_IMDS_ENDPOINT: emu.imdsUrl,
    AZMI_ARM_ENDPOINT: emu.armUrl,
    NODE_EXTRA_CA_CERTS: emu.caCertPath,
  }
  return {
    emu,
    home,
    env,
    close: async () => {
      await emu.close()
      rmSync(home, { recursive: true, force: true })
    },
  }
}

/** The admin service principal's variables (for commands that should run as the admin only). */
export const adminEnv = (emu: Emulator): Record<string, string> => ({
  AZURE_TENANT_ID: emu.admin.tenantId,
  AZURE_CLIENT_ID: emu.admin.clientId,
  AZURE_CLIENT_SECRET: emu.admin.clientSecret,
  AZURE_AUTHORITY_HOST: emu.loginUrl,
})

export interface AzmiOptions {
  readonly env?: Record<string, string | undefined>
  readonly printsToken?: boolean
  readonly printsSecret?: boolean
  /** A file descriptor for the child's stdout (e.g. `/dev/full`) instead of a captured pipe. */
  readonly stdoutFd?: number
}

/** Runs `azmi <args>` to completion. */
export const azmi = (
  cli: Pick<CliEnv, "env">,
  args: ReadonlyArray<string>,
  options: AzmiOptions = {},
): Promise<AzmiRun> =>
  new Promise((resolve, reject) => {
    const env: Record<string, string> = { ...cli.env }
    for (const [k, v] of Object.entries(options.env ?? {})) {
      if (v === undefined) delete env[k]
      else env[k] = v
    }
    const child = spawn(process.execPath, [azmiBin, ...args], {
      env,
      stdio: ["ignore", options.stdoutFd ?? "pipe", "pipe"],
    })
    let stdout = ""
    let stderr = ""
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      stdout += d
    })
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      stderr += d
    })
    child.once("error", reject)
    child.once("close", (code) => {
      const run: AzmiRun = {
        args,
        code,
        stdout,
        stderr,
        printsToken: options.printsToken === true,
        printsSecret: options.printsSecret === true,
      }
      runs.push(run)
      resolve(run)
    })
  })

const jwt = /eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}/

/**
 * No output of any run contains a token (a JWT) or the admin's client secret — except stdout of a
 * command that prints the token as data, and then only that token.
 */
export const expectNoLeaks = (secret: string) => {
  expect(runs.length).toBeGreaterThan(0)
  for (const run of runs) {
    const where = `azmi ${run.args.join(" ")}`
    expect(run.stderr.match(jwt), `${where}: stderr`).toBeNull()
    if (!run.printsToken) expect(run.stdout.match(jwt), `${where}: stdout`).toBeNull()
    expect(run.stderr.includes(secret), `${where}: secret on stderr`).toBe(false)
    if (!run.printsSecret) expect(run.stdout.includes(secret), `${where}: secret on stdout`).toBe(false)
  }
}
