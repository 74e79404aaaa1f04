/**
 * Helpers for the tests that run programs on a simulated Azure VM (`azmi-emulator run`): the one place where
 * 169.254.169.254 and Azure's host names are dialled — only from inside the private namespace, and only after
 * `guard.sh` has checked there, before COMMAND starts, that nothing leads out of it.
 *
 * COMMAND's environment is built here from nothing (PATH, HOME and the guard's variable): no Azure or azmi
 * configuration at all, which is what the zero-configuration tests prove.
 */
import { execFileSync, spawn } from "node:child_process"
import { chmodSync, copyFileSync, cpSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { defaultWorld, READER_ROLE_ID } from "@azmi/emulator"
import { describe } from "vitest"

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)

/** The built bin of @azmi/emulator (what `npx azmi-emulator` runs). */
export const emulatorBin = join(
  dirname(require.resolve("@azmi/emulator/package.json")),
  "bin",
  "azmi-emulator.mjs",
)
/** The built CLI bundle (what `npx azmi` runs). */
export const azmiBin = join(here, "..", "..", "..", "apps", "cli", "dist", "azmi.mjs")
/** The built bin of @azmi/http. */
export const httpMain = join(dirname(require.resolve("@azmi/http/package.json")), "dist", "main.js")
export const guard = join(here, "guard.sh")
export const fixture = (name: string) => join(here, "fixtures", name)

/** Debian's Python, where `python3-azure` installs the Azure SDK (not a pyenv shim's Python). */
export const python = "/usr/bin/python3"

/** This process's network namespace: the guard refuses to let COMMAND run in it. */
export const hostNetns = readlinkSync("/proc/self/ns/net")

/** A PATH that reaches `ip` (in sbin) for the guard, and node, curl and python. */
const PATH = [
  dirname(process.execPath),
  "/usr/local/sbin",
  "/usr/local/bin",
  "/usr/sbin",
  "/usr/bin",
  "/sbin",
  "/bin",
].join(":")

export interface VmRun {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  /** Wall time from start to exit, ms. */
  readonly ms: number
}

export interface VmRunOptions {
  /** `run`'s own options (before `--`). */
  readonly runArgs?: ReadonlyArray<string>
  /** Extra variables for the caller's environment (PATH, HOME and the guard's are always set). */
  readonly env?: Record<string, string>
  readonly home: string
  /** Called with the child once it is started (to signal it). */
  readonly started?: (child: ReturnType<typeof spawn>) => void
  /** Run COMMAND without the guard (only for commands that dial nothing). */
  readonly unguarded?: boolean
  readonly timeoutMs?: number
  /** How to start `run`: the emulator's bin (default), `azmi emulator run`, or this script's `emulator run`. */
  readonly via?: "azmi-emulator" | "azmi" | { readonly azmi: string }
  /** Run as this uid/gid (through setpriv; the test process must be root). */
  readonly asUser?: { readonly uid: number; readonly gid: number }
}

/**
 * How to run as `nobody` (the test process must be root): through a copy of the bundled CLI in HOME, which is
 * opened to that user — the checkout may not be readable by it.
 */
export const asNobody = (home: string): Pick<VmRunOptions, "asUser" | "via"> => {
  const cli = join(home, "cli")
  cpSync(dirname(azmiBin), cli, { recursive: true })
  chmodSync(home, 0o755)
  return { asUser: { uid: 65534, gid: 65534 }, via: { azmi: join(cli, "azmi.mjs") } }
}

/** The minimal caller environment: nothing about Azure or azmi. */
export const bareEnv = (home: string, extra: Record<string, string> = {}): Record<string, string> => ({
  PATH,
  HOME: home,
  LANG: "C.UTF-8",
  VM_GUARD_HOST_NETNS: hostNetns,
  ...extra,
})

/** `azmi-emulator run [runArgs] -- sh guard.sh COMMAND…`; resolves when it has exited (killed after timeoutMs). */
export const vmRun = (command: ReadonlyArray<string>, options: VmRunOptions): Promise<VmRun> =>
  new Promise((resolve, reject) => {
    const via = options.via ?? "azmi-emulator"
    const entry =
      via === "azmi-emulator"
        ? [emulatorBin, "run"]
        : [via === "azmi" ? azmiBin : via.azmi, "emulator", "run"]
    // Another user may not be able to read this checkout: the guard goes along in HOME.
    const guardPath = options.asUser === undefined ? guard : join(options.home, "guard.sh")
    if (options.asUser !== undefined) copyFileSync(guard, guardPath)
    const inner = [...(options.unguarded === true ? [] : ["/bin/sh", guardPath]), ...command]
    let file = process.execPath
    let args = [...entry, ...(options.runArgs ?? []), "--", ...inner]
    if (options.asUser !== undefined) {
      args = [
        `--reuid=${options.asUser.uid}`,
        `--regid=${options.asUser.gid}`,
        "--clear-groups",
        "--",
        file,
        ...args,
      ]
      file = "/usr/bin/setpriv"
    }
    const started = Date.now()
    const child = spawn(file, args, {
      env: bareEnv(options.home, options.env),
      cwd: options.home,
      stdio: ["ignore", "pipe", "pipe"],
    })
    options.started?.(child)
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => {
      stdout += d
    })
    child.stderr.on("data", (d) => {
      stderr += d
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000)
    child.once("error", reject)
    child.once("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started })
    })
  })

/**
 * `sh -c script` in a private mount namespace of its own (a stand-in for another machine's mounts), with
 * `env`; resolves when it has exited (killed after `timeoutMs`).
 */
export const inPrivateMounts = (
  script: string,
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn("unshare", ["--mount", "--propagation", "private", "--", "sh", "-c", script], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => {
      stdout += d
    })
    child.stderr.on("data", (d) => {
      stderr += d
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.once("error", reject)
    child.once("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

/**
 * `describe` for the simulated-VM suites: where `azmi-emulator run` cannot work, `describe.skip` with a loud
 * warning — except in CI, where it must work, and the suite fails.
 */
export const describeOnVm = async (
  home: string,
  suites: string,
): Promise<typeof describe | typeof describe.skip> => {
  const r = await vmRun(["true"], { home, unguarded: true })
  if (r.code === 0) return describe
  const why = `azmi-emulator run -- true exited ${r.code}: ${r.stderr.trim()}`
  if (process.env.CI !== undefined) throw new Error(`azmi-emulator run must work in CI: ${why}`)
  console.warn(`\n*** SKIPPING ${suites}: ${why} ***\n`)
  return describe.skip
}

/** Whether Debian's Python has the Azure SDK; the message says how to get it when not. */
export const pythonSdkMissing = (): string | undefined => {
  try {
    execFileSync(python, ["-c", "import azure.identity, azure.mgmt.resource"], { stdio: "pipe" })
    return undefined
  } catch (error) {
    return `${python} cannot import the Azure SDK (${(error as Error).message.split("\n")[0]}): install Debian's python3-azure (apt-get install -y python3-azure; .ci/run does)`
  }
}

export interface TempHome {
  readonly dir: string
  /** A world file where the VM's identity is Reader of its resource group, as after the quickstart's grant. */
  readonly grantedWorld: string
  readonly close: () => void
}

export const tempHome = (): TempHome => {
  const dir = mkdtempSync(join(tmpdir(), "azmi-vm-test-"))
  const world = defaultWorld()
  const vm = world.vms[0]
  const grantedWorld = join(dir, "granted-world.json")
  writeFileSync(
    grantedWorld,
    JSON.stringify({
      ...world,
      roleAssignments: [
        ...world.roleAssignments,
        {
          name: "4c1f7c2e-7d1a-4c43-9d2e-3f0e6b8a9c11",
          scope: `/subscriptions/${vm?.subscriptionId}/resourceGroups/${vm?.resourceGroup}`,
          roleDefinitionId: `/subscriptions/${vm?.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${READER_ROLE_ID}`,
          principalId: vm?.systemAssigned?.principalId ?? "",
          principalType: "ServicePrincipal",
        },
      ],
    }),
  )
  return { dir, grantedWorld, close: () => rmSync(dir, { recursive: true, force: true }) }
}
