/**
 * The caller's side of `azmi-emulator run`: checks the machine, starts this same program again as the first
 * process of new namespaces (`unshare … -- node <entry> --inside-namespace`), hands it the options over the IPC
 * channel, passes SIGINT/SIGTERM/SIGHUP on, turns its stderr into the emulator's log, and exits with
 * COMMAND's status.
 *
 * Process tree: this process → `unshare` (waits) → the namespace's first process (`namespace.ts`) → COMMAND.
 * The IPC channel is also a lifeline: if this process dies, the inside stops COMMAND and cleans up.
 * @module
 */
import { spawn } from "node:child_process"
import { createWriteStream, readFileSync, readlinkSync, type WriteStream } from "node:fs"
import { resolve } from "node:path"
import { readWorldFile } from "../world/validate.js"
import { exitStatus } from "./exitStatus.js"
import { CALLER_STDERR_FD, INSIDE_FLAG, type InsideMessage, type InsideSpec } from "./namespace.js"
import type { RunOptions } from "./options.js"
import { assertLinux, findTools, planNamespaces, RunUnavailableError } from "./prerequisites.js"

/** How to start this program again: the script and the arguments that lead to `run` (e.g. `[bin, "run"]`). */
export interface RunEntry {
  readonly entry: ReadonlyArray<string>
}

const LOG_PREFIX = "azmi-emulator: "

/**
 * True when this process is in the foreground process group of its terminal: a SIGINT then came from the
 * terminal (Ctrl-C) to the whole group, COMMAND included, and passing it on would deliver it twice.
 */
const inTerminalForeground = (): boolean => {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8")
    // Fields after "(comm)": state ppid pgrp session tty_nr tpgid …
    const [, , pgrp, , ttyNr, tpgid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return ttyNr !== "0" && pgrp === tpgid
  } catch {
    return false
  }
}

/** Writes the inside's stderr as the emulator's log: to the `--log` file, or to stderr line by line, prefixed. */
const logSink = (file: WriteStream | undefined) => {
  let partial = ""
  const write = (text: string) => {
    if (file !== undefined) file.write(text)
    else {
      // `text` is whole lines, each ending in "\n".
      process.stderr.write(
        text
          .slice(0, -1)
          .split("\n")
          .map((line) => `${LOG_PREFIX}${line}\n`)
          .join(""),
      )
    }
  }
  return {
    data: (chunk: Buffer) => {
      const text = partial + chunk.toString("utf8")
      const end = text.lastIndexOf("\n") + 1
      partial = text.slice(end)
      if (end > 0) write(text.slice(0, end))
    },
    end: () => {
      if (partial !== "") write(`${partial}\n`)
      partial = ""
    },
  }
}

const openLog = (path: string): Promise<WriteStream> =>
  new Promise((resolvePromise, reject) => {
    const stream = createWriteStream(path, { flags: "a", mode: 0o600 })
    stream.once("open", () => resolvePromise(stream))
    stream.once("error", reject)
  })

const closeLog = (stream: WriteStream | undefined): Promise<void> =>
  new Promise((resolvePromise) => (stream === undefined ? resolvePromise() : stream.end(resolvePromise)))

/**
 * Runs COMMAND on a simulated VM; resolves with the exit status to use.
 * Throws `RunUnavailableError` (exit 2) when the machine cannot make the namespaces.
 */
export const runOutside = async (options: RunOptions, self: RunEntry): Promise<number> => {
  assertLinux()
  const world = options.world === undefined ? undefined : resolve(options.world)
  // A bad world file is a usage error here, before any namespace exists.
  if (world !== undefined) await readWorldFile(world)
  const tools = findTools(process.env.PATH)
  const plan = await planNamespaces(tools)
  const logPath = options.log === undefined ? undefined : resolve(options.log)
  let logFile: WriteStream | undefined
  if (logPath !== undefined) {
    try {
      logFile = await openLog(logPath)
    } catch (error) {
      throw new RunUnavailableError(`--log: cannot open ${logPath}: ${(error as Error).message}`)
    }
  }
  const spec: InsideSpec = {
    options: {
      ...options,
      ...(world !== undefined && { world }),
      ...(options.state !== undefined && { state: resolve(options.state) }),
    },
    hostNetns: readlinkSync("/proc/self/ns/net"),
    tools,
    ...(plan.mapBack !== undefined && { mapBack: plan.mapBack }),
    ...(logPath !== undefined && { logPath }),
  }

  // The inside's stderr is the emulator's log (a pipe to here); COMMAND's stderr is this process's, handed over
  // as another descriptor.
  const stdio: Array<"inherit" | "pipe" | "ipc" | number> = ["inherit", "inherit", "pipe", "ipc"]
  stdio[CALLER_STDERR_FD] = 2
  const child = spawn(tools.unshare, [...plan.flags, "--", process.execPath, ...self.entry, INSIDE_FLAG], {
    stdio,
  })
  const sink = logSink(logFile)
  child.stderr?.on("data", sink.data)
  child.send(spec)

  const relay = (signal: NodeJS.Signals) => {
    if (signal === "SIGINT" && inTerminalForeground()) return
    if (child.connected) child.send({ signal } satisfies InsideMessage)
  }
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const
  for (const s of signals) process.on(s, relay)
  try {
    return await new Promise<number>((resolvePromise) => {
      child.once("error", (error) => {
        process.stderr.write(`${LOG_PREFIX}could not start ${tools.unshare}: ${error.message}\n`)
        resolvePromise(1)
      })
      child.once("close", (code, signal) => {
        sink.end()
        resolvePromise(exitStatus(code, signal))
      })
    })
  } finally {
    for (const s of signals) process.off(s, relay)
    if (child.connected) child.disconnect()
    await closeLog(logFile)
  }
}
