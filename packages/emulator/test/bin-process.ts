/**
 * Test helpers for the `azmi-emulator` executable: build it from the current source, run it to completion or
 * start it and read its JSON line, and kill whatever is still running when the suite ends.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"
import { afterAll, beforeAll, expect } from "vitest"

export const pkgDir = join(dirname(fileURLToPath(import.meta.url)), "..")

/**
 * Builds the bin before the suite (emulator tests do not depend on a prior `npm run build`) into a file of the
 * suite's own, so suites running in parallel never overwrite each other's. It lives inside the package so its
 * bare imports (jose, selfsigned) resolve like the published dist's. Kills every child still running after it.
 */
export const useBin = (suite: string): { readonly path: string } => {
  const path = join(pkgDir, "node_modules", ".cache", "azmi-bin-test", `${suite}.mjs`)
  beforeAll(async () => {
    await build({
      entryPoints: [join(pkgDir, "src", "bin.ts")],
      outfile: path,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      logLevel: "silent",
    })
  })
  afterAll(() => {
    for (const child of running) child.kill("SIGKILL")
  })
  return { path }
}

export interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Run the bin to completion (killed after 20 s), optionally as another user. */
export const run = (
  bin: { readonly path: string },
  args: ReadonlyArray<string>,
  as?: { readonly uid: number; readonly gid: number },
): Promise<Run> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin.path, ...args], { stdio: ["ignore", "pipe", "pipe"], ...as })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => {
      stdout += d
    })
    child.stderr.on("data", (d) => {
      stderr += d
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000)
    child.on("error", reject)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

export interface StartedInfo {
  readonly imdsUrl: string
  readonly armUrl: string
  readonly loginUrl: string
  readonly controlUrl: string
  readonly caCertPath: string
  readonly tenantId: string
  readonly subscriptionId: string
  readonly vm: { name: string; systemAssigned?: { principalId: string; clientId: string } }
  readonly admin: { tenantId: string; clientId: string; clientSecret: string; objectId: string }
  readonly [key: string]: unknown
}

export interface Started {
  readonly child: ChildProcessWithoutNullStreams
  readonly info: StartedInfo
  /** Everything written to stdout so far (grows). */
  readonly stdout: () => string
  /** Everything written to stderr so far (grows). */
  readonly stderr: () => string
  /** The exit code, or null when killed by a signal. */
  readonly exited: Promise<number | null>
}

const running = new Set<ChildProcessWithoutNullStreams>()

/** Start the bin and wait for its JSON line. */
export const start = (bin: { readonly path: string }, args: ReadonlyArray<string>): Promise<Started> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin.path, ...args], { stdio: ["pipe", "pipe", "pipe"] })
    running.add(child)
    let stdout = ""
    let stderr = ""
    const exited = new Promise<number | null>((done) =>
      child.on("close", (code) => {
        running.delete(child)
        done(code)
      }),
    )
    child.stderr.on("data", (d) => {
      stderr += d
    })
    child.stdout.on("data", (d) => {
      stdout += d
      const nl = stdout.indexOf("\n")
      if (nl !== -1) {
        try {
          resolve({
            child,
            info: JSON.parse(stdout.slice(0, nl)),
            stdout: () => stdout,
            stderr: () => stderr,
            exited,
          })
        } catch (e) {
          reject(e)
        }
      }
    })
    void exited.then((code) =>
      reject(new Error(`azmi-emulator exited with ${code} before printing: ${stderr}`)),
    )
  })

/** A token for ARM from the emulator's IMDS (the VM's system-assigned identity). */
export const imdsToken = async (imdsUrl: string): Promise<string> => {
  const res = await fetch(
    `${imdsUrl}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/`,
    { headers: { Metadata: "true" } },
  )
  expect(res.status).toBe(200)
  return ((await res.json()) as { access_token: string }).access_token
}

/** A token for ARM as the emulator's admin service principal (Owner of the subscription). */
export const adminToken = async (info: StartedInfo): Promise<string> => {
  const res = await fetch(`${info.loginUrl}/${info.admin.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: info.admin.clientId,
      client_secret: info.admin.clientSecret,
      scope: "https://management.azure.com/.default",
    }),
  })
  expect(res.status).toBe(200)
  return ((await res.json()) as { access_token: string }).access_token
}
