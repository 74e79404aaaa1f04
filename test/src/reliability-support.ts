/**
 * Shared fixtures of the reliability suite (fault matrix, hostile input, secrets): the world every row
 * runs in, a loopback port nobody listens on, and small process helpers. Everything binds 127.0.0.1.
 */
import { spawn } from "node:child_process"
import { createServer } from "node:net"
import { defaultWorld, type Emulator, startEmulator, type World } from "@azmi/emulator"
import { azmiBin } from "./cli-support.js"

export const READER_ROLE =
  "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"

/** The default world plus Reader on `DevTest` for the VM's system-assigned identity (the seed's end state). */
export const readerWorld = (): World => {
  const w = defaultWorld()
  const vm = w.vms[0]
  const sub = w.subscriptions[0]?.subscriptionId ?? ""
  return {
    ...w,
    roleAssignments: [
      ...w.roleAssignments,
      {
        name: "3f2e1d0c-9b8a-4776-8554-433221100ffe",
        scope: `/subscriptions/${sub}/resourceGroups/DevTest`,
        roleDefinitionId: READER_ROLE,
        principalId: vm?.systemAssigned?.principalId ?? "",
        principalType: "ServicePrincipal",
      },
    ],
  }
}

/** An emulator with the reader world and no IMDS rate limit (rows count requests exactly). */
export const startReaderEmulator = (): Promise<Emulator> =>
  startEmulator({
    world: readerWorld(),
    limits: { imdsRequestsPerSecond: Number.POSITIVE_INFINITY, imdsConcurrency: Number.POSITIVE_INFINITY },
  })

/** A loopback URL where nothing listens: a port bound, read and released. */
export const deadEndpoint = async (): Promise<string> => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `http://127.0.0.1:${port}`
}

export interface Spawned {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
}

/**
 * Runs the built `azmi` bundle (or a copy of it: `bin`) with exactly `env` (plus PATH) and waits for it; as
 * another user when `uid` is given.
 */
export const runAzmi = (
  args: ReadonlyArray<string>,
  env: Record<string, string>,
  options: {
    readonly bin?: string | undefined
    readonly uid?: number | undefined
    readonly gid?: number
  } = {},
): Promise<Spawned> =>
  new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(process.execPath, [options.bin ?? azmiBin, ...args], {
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
      ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid ?? options.uid }),
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d
    })
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d
    })
    child.once("error", reject)
    child.once("close", (code) => resolve({ code, stdout, stderr, ms: performance.now() - started }))
  })

/** Runs `tasks` with at most `limit` in flight; results in input order. */
export const pool = async <T, R>(
  items: ReadonlyArray<T>,
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<Array<R>> => {
  const results: Array<R> = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      results[i] = await task(items[i] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}
