/**
 * The inside of `azmi-emulator run`: the first process of the private network, mount and PID namespaces.
 * It checks that the namespace is fresh, builds the VM's network (refusing to go on unless nothing leads out),
 * bind-mounts the private `/etc/hosts`, makes the host's private directories (Arc's key directory, AKS's token
 * directory), starts the emulator on 169.254.169.254:80 (where the host has an IMDS), 127.0.0.1:443 and the
 * host's own endpoint on 127.0.0.1, runs COMMAND, and closes everything when COMMAND ends. Being the PID
 * namespace's first process, its exit also ends anything COMMAND left running.
 *
 * It gets its instructions from `outside.ts` over the IPC channel (never from the command line), and writes
 * only to its stderr, which `outside.ts` turns into the emulator's log: stdout and the caller's stderr belong
 * to COMMAND.
 * @module
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { readFileSync, readlinkSync, realpathSync } from "node:fs"
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises"
import { hostname, tmpdir } from "node:os"
import { join } from "node:path"
import { startEmulator } from "../emulator.js"
import { startupSummary } from "../summary.js"
import type { Emulator } from "../types.js"
import { WorldValidationError } from "../world/validate.js"
import { commandEnvironment, INFO_VARIABLE } from "./environment.js"
import { exitStatus } from "./exitStatus.js"
import type { RunOptions } from "./options.js"
import { mapBackArgs, type NamespacePlan, type Tools } from "./prerequisites.js"
import { makePrivateDirectory, mountPointsUnder, PrivateDirectoryError } from "./privateDirectory.js"
import { type SimulatedHost, simulatedHost, sourceEnvironment } from "./source.js"
import {
  ARM_URL,
  AZURE_HOST_NAMES,
  EMULATOR_ADDRESS,
  hostsFile,
  IMDS_ADDRESS,
  isPristine,
  LOGIN_URL,
  leaksOut,
  type NetworkView,
  networkCommands,
  resolverDaemonDirs,
} from "./vmNetwork.js"

/** Marks the re-invocation of the program inside the namespace; not for people (needs the IPC channel). */
export const INSIDE_FLAG = "--inside-namespace"

/** The file descriptor on which the caller's stderr reaches this process (fd 2 is the emulator's log). */
export const CALLER_STDERR_FD = 4

/** What `outside.ts` sends as the first IPC message. */
export interface InsideSpec {
  readonly options: RunOptions
  /** `readlink /proc/self/ns/net` of the caller: this process refuses to touch that namespace. */
  readonly hostNetns: string
  readonly tools: Tools
  readonly mapBack?: NamespacePlan["mapBack"]
  /** Absolute path of `--log`, for the info file; informational lines are logged only then. */
  readonly logPath?: string
}

/** Messages from `outside.ts` after the spec. */
export type InsideMessage = { readonly signal: NodeJS.Signals }

/** How long COMMAND gets to exit after SIGTERM when the outside process is gone. */
const ORPHAN_GRACE_MS = 5_000

class Refused extends Error {}

const log = (line: string) => process.stderr.write(`${line}\n`)

const run = (file: string, args: ReadonlyArray<string>, input?: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = execFile(file, [...args], { timeout: 10_000 }, (error, stdout, stderr) => {
      if (error === null) resolve(stdout)
      else reject(new Refused(`${file} ${args.join(" ")}: ${stderr.trim() || error.message}`))
    })
    if (input !== undefined) child.stdin?.end(input)
  })

const readNetwork = async (ip: string): Promise<NetworkView> => {
  const [links, routes4, routes6] = await Promise.all([
    run(ip, ["-j", "link", "show"]),
    run(ip, ["-j", "-4", "route", "show", "table", "all"]),
    run(ip, ["-j", "-6", "route", "show", "table", "all"]),
  ])
  const parse = (text: string) => (text.trim() === "" ? [] : JSON.parse(text))
  return { links: parse(links), routes: [...parse(routes4), ...parse(routes6)] }
}

/** Builds the VM's network; throws `Refused` unless this is a fresh namespace that ends up sealed. */
const buildNetwork = async (spec: InsideSpec, imds: boolean): Promise<void> => {
  const { ip } = spec.tools
  if (readlinkSync("/proc/self/ns/net") === spec.hostNetns) {
    throw new Refused("refusing to run: this is the caller's own network namespace, not a private one")
  }
  if (!isPristine(await readNetwork(ip))) {
    throw new Refused(
      "refusing to run: the network namespace is not a fresh one (it has interfaces besides lo)",
    )
  }
  await run(ip, ["-batch", "-"], `${networkCommands(!imds).join("\n")}\n`)
  const problems = leaksOut(await readNetwork(ip), !imds)
  if (problems.length > 0) {
    throw new Refused(`refusing to run: the namespace could lead out of the machine: ${problems.join("; ")}`)
  }
}

const realpathOrUndefined = (path: string): string | undefined => {
  try {
    return realpathSync(path)
  } catch {
    return undefined
  }
}

/**
 * Listens to `outside.ts` until COMMAND starts: the first message is the spec; a signal passed on after it (or
 * the caller going away) is kept in `early`, and COMMAND is then not started at all. Listening starts before the
 * first message is read: both may arrive in one read.
 */
const listenUntilStart = () => {
  const early: { signal: NodeJS.Signals | undefined } = { signal: undefined }
  let received = false
  let resolveSpec: (spec: InsideSpec) => void = () => {}
  let rejectSpec: (error: Error) => void = () => {}
  const spec = new Promise<InsideSpec>((resolve, reject) => {
    resolveSpec = resolve
    rejectSpec = reject
  })
  const onMessage = (message: unknown) => {
    if (!received) {
      received = true
      resolveSpec(message as InsideSpec)
    } else early.signal ??= (message as InsideMessage | undefined)?.signal
  }
  const onGone = () => {
    if (!received) rejectSpec(new Refused("the calling process went away before the start"))
    else early.signal ??= "SIGHUP"
  }
  process.on("message", onMessage)
  process.on("disconnect", onGone)
  const stop = () => {
    process.off("message", onMessage)
    process.off("disconnect", onGone)
  }
  return { spec, early, stop }
}

/** Starts COMMAND with the caller's stdio; `status` resolves with its exit status. */
const startCommand = (
  spec: InsideSpec,
  env: Readonly<Record<string, string>>,
): { readonly child: ChildProcess; readonly status: Promise<number> } => {
  const { command, args } = spec.options
  const [file, argv] =
    spec.mapBack === undefined
      ? [command, args]
      : [spec.tools.unshare, [...mapBackArgs(spec.mapBack.uid, spec.mapBack.gid), command, ...args]]
  const child = spawn(file, [...argv], { stdio: [0, 1, CALLER_STDERR_FD], env })
  const status = new Promise<number>((resolve) => {
    child.once("error", (error: NodeJS.ErrnoException) => {
      log(`${command}: ${error.code === "ENOENT" ? "command not found" : error.message}`)
      resolve(error.code === "ENOENT" ? 127 : 126)
    })
    child.once("exit", (code, signal) => resolve(exitStatus(code, signal)))
  })
  return { child, status }
}

/** Relays the signals `outside.ts` passes on; ends COMMAND when `outside.ts` is gone. */
const relaySignals = (child: ChildProcess): (() => void) => {
  const onMessage = (message: unknown) => {
    const signal = (message as InsideMessage | undefined)?.signal
    if (typeof signal === "string" && child.exitCode === null && child.signalCode === null) child.kill(signal)
  }
  let killTimer: NodeJS.Timeout | undefined
  const onDisconnect = () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    log("the calling process is gone: stopping COMMAND")
    child.kill("SIGTERM")
    killTimer = setTimeout(() => child.kill("SIGKILL"), ORPHAN_GRACE_MS)
  }
  // Signals sent to this process directly come from the terminal or to the whole process group, so COMMAND got
  // them too; handling them (doing nothing) keeps this process alive to close the emulator after COMMAND.
  const ignore = () => {}
  process.on("message", onMessage)
  process.on("disconnect", onDisconnect)
  if (!process.connected) onDisconnect()
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, ignore)
  return () => {
    clearTimeout(killTimer)
    process.off("message", onMessage)
    process.off("disconnect", onDisconnect)
    for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(s, ignore)
  }
}

const logRequests = (emu: Emulator) => {
  for (const r of emu.requests.list()) {
    log(
      `${new Date(r.at).toISOString()} ${r.target} ${r.method} ${r.path}${r.query === "" ? "" : `?${r.query}`} → ${r.status === 0 ? "reset" : r.status}`,
    )
  }
}

const startVmEmulator = (spec: InsideSpec, host: SimulatedHost): Promise<Emulator> => {
  const { options } = spec
  const { imds } = host
  return startEmulator({
    ...(options.world !== undefined && { world: options.world }),
    ...(options.state !== undefined && { state: options.state }),
    source: options.source,
    hostEndpoint: host.endpoint,
    ...(host.federatedTokenFile !== undefined && { federatedTokenFile: host.federatedTokenFile }),
    // IMDS answers at 169.254.169.254; the control API (loopback callers only) at 127.0.0.1, both port 80.
    // With --no-imds the control API alone, on a free loopback port, and nothing at 169.254.169.254.
    host: imds ? "0.0.0.0" : EMULATOR_ADDRESS,
    imdsPort: imds ? 80 : 0,
    armHost: EMULATOR_ADDRESS,
    armPort: 443,
    tlsNames: AZURE_HOST_NAMES,
    urls: {
      ...(imds && { imds: `http://${IMDS_ADDRESS}`, control: `http://${EMULATOR_ADDRESS}` }),
      arm: ARM_URL,
      login: LOGIN_URL,
    },
  })
}

/**
 * The namespace side of `run`; resolves with the exit status (COMMAND's, or 1/2 when the VM could not be built).
 */
export const runInside = async (): Promise<number> => {
  if (typeof process.send !== "function") {
    log(`${INSIDE_FLAG} is internal to azmi-emulator run`)
    return 2
  }
  // The log is a pipe to the outside process; if that process is killed, what is still logged is lost, and the
  // broken pipe must not stop this process before it has stopped COMMAND and cleaned up.
  process.stderr.on("error", () => {})
  let dir: string | undefined
  let emu: Emulator | undefined
  const start = listenUntilStart()
  try {
    const spec = await start.spec
    // From here the channel only carries signals: it must not keep this process alive after COMMAND.
    process.channel?.unref()
    const verbose = spec.logPath !== undefined
    const host = simulatedHost(spec.options.source, spec.options)
    await buildNetwork(spec, host.imds)
    dir = await mkdtemp(join(tmpdir(), "azmi-run-"))
    const hostsPath = join(dir, "hosts")
    await writeFile(hostsPath, hostsFile(hostname()), { mode: 0o644 })
    await run(spec.tools.mount, ["--bind", hostsPath, "/etc/hosts"])
    const empty = join(dir, "empty")
    await mkdir(empty, { mode: 0o755 })
    for (const daemonDir of resolverDaemonDirs(realpathOrUndefined)) {
      await run(spec.tools.mount, ["--bind", empty, daemonDir])
    }
    for (const [i, target] of host.privateDirectories.entries()) {
      await makePrivateDirectory(target, join(dir, `private-${i}`), (args) => run(spec.tools.mount, args))
    }

    emu = await startVmEmulator(spec, host)
    const infoPath = join(dir, "emulator.json")
    const sourceEnv = sourceEnvironment(emu)
    const environment = commandEnvironment({
      caller: process.env,
      caCertPath: emu.caCertPath,
      infoPath,
      sourceEnv,
    })
    const info = {
      ...startupSummary(emu),
      imdsUrl: host.imds ? emu.imdsUrl : null,
      hosts: Object.fromEntries(AZURE_HOST_NAMES.map((name) => [name, EMULATOR_ADDRESS])),
      env: environment.added,
      logPath: spec.logPath ?? null,
    }
    // The admin's secret is in it: readable by the caller only (the namespace's root is the caller).
    await writeFile(infoPath, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 })
    if (environment.removed.length > 0) {
      log(
        `not passed to ${spec.options.command} (${spec.options.source === "imds" ? "a VM has none of them" : `the caller's; ${host.label} sets its own`}): ${environment.removed.join(", ")}`,
      )
    }
    if (verbose) {
      log(
        `${new Date().toISOString()} simulated ${spec.options.source === "imds" ? "VM" : `${spec.options.source} host`} up: IMDS ${info.imdsUrl ?? (spec.options.noImds ? "none (--no-imds)" : "none (this host has none)")}${Object.keys(sourceEnv).length > 0 ? `, ${Object.keys(sourceEnv).join(", ")} set` : ""}, ARM ${emu.armUrl}, login ${emu.loginUrl} (${EMULATOR_ADDRESS}:443), control ${emu.controlUrl}; ${INFO_VARIABLE}=${infoPath}`,
      )
    }

    if (start.early.signal !== undefined) {
      log(`${start.early.signal} before ${spec.options.command} started: not starting it`)
      return exitStatus(null, start.early.signal)
    }
    start.stop()
    const { child, status } = startCommand(spec, environment.env)
    const stopRelaying = relaySignals(child)
    const exit = await status
    stopRelaying()
    if (verbose) {
      logRequests(emu)
      log(`${new Date().toISOString()} ${spec.options.command} exited with status ${exit}`)
    }
    return exit
  } catch (error) {
    if (
      error instanceof Refused ||
      error instanceof WorldValidationError ||
      error instanceof PrivateDirectoryError
    ) {
      log(error.message)
      return error instanceof WorldValidationError ? 2 : 1
    }
    const code = (error as NodeJS.ErrnoException).code
    log(
      `could not start the simulated VM: ${error instanceof Error ? error.message : String(error)}${code ? ` (${code})` : ""}`,
    )
    return 1
  } finally {
    start.stop()
    await emu?.close()
    if (dir !== undefined) await removeRunDirectory(dir)
  }
}

/**
 * Removes `run`'s own directory — but never through a mount: a private directory's mirror that failed half-way
 * leaves bind mounts of the machine's directories under it, and a recursive removal would delete the machine's
 * files through them. What holds a mount is left (it vanishes from view with the namespace; the empty
 * directories stay in the machine's temp directory).
 */
const removeRunDirectory = async (dir: string): Promise<void> => {
  const mounted = mountPointsUnder(dir, readFileSync("/proc/self/mountinfo", "utf8"))
  if (mounted.length === 0) return rm(dir, { recursive: true, force: true })
  log(`left ${dir} in place: still mounted there: ${mounted.join(", ")}`)
  for (const name of await readdir(dir)) {
    const path = join(dir, name)
    if (!mounted.some((m) => m === path || m.startsWith(`${path}/`))) {
      await rm(path, { recursive: true, force: true })
    }
  }
}
