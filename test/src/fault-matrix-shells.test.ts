/**
 * The fault matrix through the shells, in real time: every row runs `azmi group show` (the built bundle,
 * a child process) and `GET /v1/subscriptions/{sub}/resourceGroups/DevTest` on azmi-http's `createApp`
 * (in-process, real core layers, group cache off), each against its own emulator with the row's fault.
 * Rows that would take long under the default policies run under the short budgets the row names
 * (`AZMI_DEADLINE_MS`, `AZMI_ATTEMPT_TIMEOUT_MS`; the same values as core options for the HTTP app),
 * and wall time is checked loosely: the row's schedule plus a fixed allowance.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Azmi } from "@azmi/core"
import type { Emulator } from "@azmi/emulator"
import { createApp, defaultConfig, type HttpConfig, HttpServices } from "@azmi/http"
import { Layer, Logger, LogLevel, ManagedRuntime } from "effect"
import { describe, expect, it } from "vitest"
import type { FaultRow } from "./fault-matrix.d.mts"
import { faultMatrix, shellSlackMs } from "./fault-matrix.mjs"
import { deadEndpoint, pool, runAzmi, startReaderEmulator } from "./reliability-support.js"

interface ShellResult {
  readonly row: FaultRow
  readonly cli: { code: number | null; imds: number; arm: number; ms: number; stderr: string }
  readonly http: { status: number; imds: number; arm: number; ms: number; body: string }
}

const budgets = (env: Readonly<Record<string, string>>): Azmi.AzmiOptions => ({
  ...(env.AZMI_DEADLINE_MS === undefined ? {} : { deadlineMs: Number(env.AZMI_DEADLINE_MS) }),
  ...(env.AZMI_ATTEMPT_TIMEOUT_MS === undefined
    ? {}
    : { attemptTimeoutMs: Number(env.AZMI_ATTEMPT_TIMEOUT_MS) }),
})

const counts = (emu: Emulator) => ({
  imds: emu.requests.count({ target: "imds-token" }),
  arm: emu.requests.count({ target: "arm" }),
})

const prepare = (emu: Emulator, row: FaultRow) => {
  emu.faults.clear()
  emu.requests.reset()
  const fault = row.shells.fault ?? row.fault
  if (fault !== null) emu.faults.inject(fault)
}

/** One row through both shells, on an emulator of the worker's own (faults and counts reset per run). */
const runRow = async (emu: Emulator, row: FaultRow): Promise<ShellResult> => {
  const home = mkdtempSync(join(tmpdir(), "azmi-matrix-"))
  try {
    const imdsEndpoint = row.noListener === true ? await deadEndpoint() : emu.imdsUrl

    prepare(emu, row)
    const run = await runAzmi(
      ["group", "show", "-g", emu.vm.resourceGroup, "--subscription", emu.subscriptionId],
      {
        HOME: home,
        XDG_RUNTIME_DIR: join(home, "run"),
        XDG_CACHE_HOME: join(home, "cache"),
        AZMI_IMDS_ENDPOINT: imdsEndpoint,
        AZMI_ARM_ENDPOINT: emu.armUrl,
        NODE_EXTRA_CA_CERTS: emu.caCertPath,
        ...row.shells.env,
      },
    )
    const cli = { code: run.code, ...counts(emu), ms: run.ms, stderr: run.stderr }

    prepare(emu, row)
    const config: HttpConfig = { ...defaultConfig, imdsEndpoint, armEndpoint: emu.armUrl, cacheTtlMs: 0 }
    const options: Azmi.AzmiOptions = {
      imdsEndpoint,
      armEndpoint: emu.armUrl,
      caCert: emu.caCert,
      ...budgets(row.shells.env),
    }
    // The layer's only failure is InvalidConfiguration, which these options cannot produce.
    const layer = Layer.merge(
      HttpServices.layer(config, Azmi.layer(options), (identity) => Azmi.layer({ ...options, identity })),
      Logger.minimumLogLevel(LogLevel.None),
    ) as Layer.Layer<HttpServices.HttpServices>
    const runtime = ManagedRuntime.make(layer)
    try {
      const app = createApp({ runtime, config, log: () => {} })
      const started = performance.now()
      const res = await app.request(
        `/v1/subscriptions/${emu.subscriptionId}/resourceGroups/${emu.vm.resourceGroup}`,
      )
      const body = await res.text()
      const http = { status: res.status, ...counts(emu), ms: performance.now() - started, body }
      return { row, cli, http }
    } finally {
      await runtime.dispose()
    }
  } finally {
    emu.faults.clear()
    rmSync(home, { recursive: true, force: true })
  }
}

/** Every row, `workers` at a time, each worker with one emulator. */
const runAll = async (workers: number): Promise<Array<ShellResult>> => {
  const emulators = await Promise.all(Array.from({ length: workers }, () => startReaderEmulator()))
  try {
    const free = [...emulators]
    return await pool(faultMatrix, workers, async (row) => {
      const emu = free.pop()
      if (emu === undefined) throw new Error("no free emulator")
      try {
        return await runRow(emu, row)
      } finally {
        free.push(emu)
      }
    })
  } finally {
    await Promise.all(emulators.map((e) => e.close()))
  }
}

describe("fault matrix × CLI and HTTP (real time, short budgets)", () => {
  let results: ReadonlyArray<ShellResult> = []

  it("runs every row through both shells", async () => {
    results = await runAll(4)
    expect(results).toHaveLength(faultMatrix.length)
  }, 120_000)

  for (const row of faultMatrix) {
    describe(`${row.upstream} ${row.title} [${row.id}]`, () => {
      const result = () => {
        const r = results.find((x) => x.row.id === row.id)
        if (r === undefined) throw new Error("the shell run did not complete")
        return r
      }
      it(`azmi group show exits ${row.shells.cli}`, () => {
        const { cli } = result()
        expect(cli.code, cli.stderr).toBe(row.shells.cli)
        expect(cli.imds, "IMDS requests").toBe(row.shells.imds)
        expect(cli.arm, "ARM requests").toBe(row.shells.arm)
        expect(cli.ms).toBeLessThan(row.shells.maxElapsedMs + shellSlackMs)
        // A failure is one ERROR line (and maybe a HINT), never a stack trace.
        if (row.shells.cli !== 0) expect(cli.stderr).toMatch(/^ERROR: /)
        expect(cli.stderr).not.toMatch(/\n\s+at /)
      })
      it(`azmi-http answers ${row.shells.http}`, () => {
        const { http } = result()
        expect(http.status, http.body).toBe(row.shells.http)
        expect(http.imds, "IMDS requests").toBe(row.shells.imds)
        expect(http.arm, "ARM requests").toBe(row.shells.arm)
        expect(http.ms).toBeLessThan(row.shells.maxElapsedMs + shellSlackMs)
        if (row.shells.http !== 200) expect(JSON.parse(http.body)).toHaveProperty("error.code")
      })
    })
  }
})
