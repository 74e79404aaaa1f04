/**
 * The fault matrix through the core: for every row, inject the row's fault into a real emulator, read
 * `DevTest` through the core's own layers (config, transport, managed-identity cache, ARM client,
 * resource groups) with the DEFAULT retry policies, and check the outcome, the upstream request counts
 * and the TestClock time the call took against the row's schedule bounds. The 70 s 410 window passes in
 * milliseconds of real time.
 */

import {
  ArmClient,
  AzmiConfig,
  HttpTransport,
  ManagedIdentity,
  ResourceGroups,
  ResourceGroupsLive,
} from "@azmi/core"
import type { Emulator } from "@azmi/emulator"
import { HttpClient } from "@effect/platform"
import { Cause, Effect, Exit, Layer, Logger, LogLevel, Option, TestContext } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { faultMatrix } from "./fault-matrix.mjs"
import { deadEndpoint, startReaderEmulator } from "./reliability-support.js"
import { drive, type Instrumentation, instrument, makeInstrumentation } from "./testclock-driver.js"

let emu: Emulator
let dead: string
beforeAll(async () => {
  emu = await startReaderEmulator()
  dead = await deadEndpoint()
})
afterAll(() => emu?.close())

/** The core's production layers, with the instrumented transport in the middle. */
const coreLayer = (imdsEndpoint: string, state: Instrumentation) => {
  const config = AzmiConfig.layer({ imdsEndpoint, armEndpoint: emu.armUrl, caCert: emu.caCert })
  const http = Layer.effect(
    HttpClient.HttpClient,
    Effect.map(HttpClient.HttpClient, (client) => instrument(client, state, imdsEndpoint)),
  ).pipe(Layer.provide(HttpTransport.layer({ caCert: emu.caCert })))
  return ResourceGroupsLive.layer.pipe(
    Layer.provide(ArmClient.layer({ endpoint: emu.armUrl })),
    Layer.provide(ManagedIdentity.layerFromConfig),
    Layer.provide(http),
    Layer.provide(config),
  )
}

const outcomeOf = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "success"
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) {
    const e = failure.value as { _tag?: unknown }
    return typeof e._tag === "string" ? e._tag : "untagged failure"
  }
  return `defect: ${Cause.pretty(exit.cause)}`
}

describe("fault matrix × core (TestClock, default policies)", () => {
  for (const row of faultMatrix) {
    it(`${row.upstream} ${row.title} [${row.id}]`, async () => {
      emu.faults.clear()
      emu.requests.reset()
      if (row.fault !== null) emu.faults.inject(row.fault)
      const state = makeInstrumentation()
      if (row.clientLatencyMs !== undefined) state.latency = { ms: row.clientLatencyMs, remaining: 1 }
      const imdsEndpoint = row.noListener === true ? dead : emu.imdsUrl
      const read = Effect.flatMap(ResourceGroups, (groups) =>
        groups.get(emu.subscriptionId, emu.vm.resourceGroup),
      ).pipe(Effect.provide(coreLayer(imdsEndpoint, state)), Logger.withMinimumLogLevel(LogLevel.None))

      const { exit, elapsedMs } = await Effect.runPromise(
        drive(read, state).pipe(Effect.provide(TestContext.TestContext)),
      )

      expect(outcomeOf(exit)).toBe(row.core.outcome)
      if (Exit.isSuccess(exit)) expect(exit.value.value.name).toBe("DevTest")
      expect(emu.requests.count({ target: "imds-token" }), "IMDS requests").toBe(row.core.imds)
      expect(emu.requests.count({ target: "arm" }), "ARM requests").toBe(row.core.arm)
      const [min, max] = row.core.elapsedMs
      expect(elapsedMs, "TestClock ms").toBeGreaterThanOrEqual(min)
      expect(elapsedMs, "TestClock ms").toBeLessThanOrEqual(max)
    })
  }
})
