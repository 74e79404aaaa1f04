/**
 * vitest global setup for the cross-package tests: starts ONE emulator in the vitest main process, before any
 * test worker exists, and points `NODE_EXTRA_CA_CERTS` at its CA file.
 *
 * Why here: Node reads `NODE_EXTRA_CA_CERTS` only when a process starts, and the emulator makes a fresh CA each
 * time it starts. vitest forks its workers after global setup, with `process.env` copied into their
 * environment, so every worker trusts this emulator's HTTPS ARM/login endpoints — which is what lets the
 * official Azure SDK run against it unchanged (no custom transport). Tests reach it through
 * `inject("emulator")`; it listens on 127.0.0.1 only and is closed after the run.
 */
import { copyFileSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startEmulator } from "@azmi/emulator"
import type { TestProject } from "vitest/node"

export interface SharedEmulator {
  readonly imdsUrl: string
  readonly armUrl: string
  readonly loginUrl: string
  readonly controlUrl: string
  readonly caCertPath: string
  readonly tenantId: string
  readonly subscriptionId: string
  readonly vm: {
    readonly name: string
    readonly resourceGroup: string
    readonly resourceId: string
    readonly principalId: string
    readonly clientId: string
  }
  readonly admin: {
    readonly tenantId: string
    readonly clientId: string
    readonly clientSecret: string
    readonly objectId: string
  }
}

declare module "vitest" {
  export interface ProvidedContext {
    emulator: SharedEmulator
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const emu = await startEmulator()
  const previous = process.env.NODE_EXTRA_CA_CERTS
  // A copy that outlives the emulator: vitest may still fork a spare worker after teardown, and a missing
  // NODE_EXTRA_CA_CERTS file makes Node print a warning. Removed when the vitest process exits.
  const caDir = mkdtempSync(join(tmpdir(), "azmi-test-ca-"))
  const caCopy = join(caDir, "ca.pem")
  copyFileSync(emu.caCertPath, caCopy)
  process.once("exit", () => rmSync(caDir, { recursive: true, force: true }))
  process.env.NODE_EXTRA_CA_CERTS = caCopy
  const system = emu.vm.systemAssigned
  if (system === undefined) throw new Error("the default world's VM has no system-assigned identity")
  project.provide("emulator", {
    imdsUrl: emu.imdsUrl,
    armUrl: emu.armUrl,
    loginUrl: emu.loginUrl,
    controlUrl: emu.controlUrl,
    caCertPath: emu.caCertPath,
    tenantId: emu.tenantId,
    subscriptionId: emu.subscriptionId,
    vm: {
      name: emu.vm.name,
      resourceGroup: emu.vm.resourceGroup,
      resourceId: emu.vm.resourceId,
      principalId: system.principalId,
      clientId: system.clientId,
    },
    admin: { ...emu.admin },
  })
  return async () => {
    await emu.close()
    if (previous === undefined) delete process.env.NODE_EXTRA_CA_CERTS
    else process.env.NODE_EXTRA_CA_CERTS = previous
  }
}
