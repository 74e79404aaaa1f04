/**
 * `azmi emulator`: starts `@azmi/emulator` in this process, prints the `export …` lines that point
 * azmi at it, and runs until SIGINT/SIGTERM.
 * @module
 */
import type { Command } from "commander"
import { type CliDeps, contextOf, fail, failUnexpected } from "../context.js"
import { ExitCode } from "../exitCodes.js"
import { parseCount } from "./parsers.js"

interface EmulatorFlags {
  readonly state?: string
  readonly world?: string
  readonly host?: string
  readonly port?: number
  readonly imdsPort?: number
  readonly armPort?: number
  readonly tls: boolean
}

const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`)

export const registerEmulator = (program: Command, deps: CliDeps): void => {
  program
    .command("emulator")
    .summary("run a local Azure emulator and print its environment")
    .description(
      "Start a local Azure emulator (IMDS, token issuer, ARM + RBAC) and print the environment to use it",
    )
    .option("--state <file>", "persist the emulated world in this file (loaded when it exists)")
    .option("--world <file>", "world JSON file to start from")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--port <n>", "IMDS port; ARM listens on the next one", parseCount)
    .option("--imds-port <n>", "IMDS port (default: random)", parseCount)
    .option("--arm-port <n>", "ARM and login port (default: random)", parseCount)
    .option("--no-tls", "serve ARM over plain HTTP")
    .action(async (flags: EmulatorFlags, command: Command) => {
      const ctx = contextOf(command, deps)
      if (deps.loadEmulator === undefined || deps.waitForShutdown === undefined) {
        return failUnexpected(ctx, new Error("The emulator is not available in this build."))
      }
      try {
        const { startEmulator, startFailure } = await deps.loadEmulator()
        const imdsPort = flags.imdsPort ?? flags.port
        const armPort = flags.armPort ?? (flags.port === undefined ? undefined : flags.port + 1)
        let emu: Awaited<ReturnType<typeof startEmulator>>
        try {
          emu = await startEmulator({
            ...(flags.state === undefined ? {} : { state: flags.state }),
            ...(flags.world === undefined ? {} : { world: flags.world }),
            ...(flags.host === undefined ? {} : { host: flags.host }),
            ...(imdsPort === undefined ? {} : { imdsPort }),
            ...(armPort === undefined ? {} : { armPort }),
            armTls: flags.tls,
          })
        } catch (error) {
          // The emulator decides the exit code (as `azmi-emulator` does), so the two commands agree.
          const failure = startFailure(error)
          return fail(ctx, failure.exitCode, failure.message)
        }
        const lines = [
          `export AZMI_IMDS_ENDPOINT=${shellQuote(emu.imdsUrl)}`,
          `export AZMI_ARM_ENDPOINT=${shellQuote(emu.armUrl)}`,
          ...(emu.caCertPath === "" ? [] : [`export NODE_EXTRA_CA_CERTS=${shellQuote(emu.caCertPath)}`]),
          `# VM ${emu.vm.name} in resource group ${emu.vm.resourceGroup}, subscription ${emu.subscriptionId}, tenant ${emu.tenantId}`,
          "# Admin service principal (Owner), for `azmi role assignment create` — set these for that command only:",
          `# AZURE_TENANT_ID=${emu.admin.tenantId} AZURE_CLIENT_ID=${emu.admin.clientId} AZURE_CLIENT_SECRET=${shellQuote(emu.admin.clientSecret)} AZURE_AUTHORITY_HOST=${emu.loginUrl}`,
        ]
        deps.stdout.write(`${lines.join("\n")}\n`)
        deps.stderr.write(`azmi emulator: running (control API ${emu.controlUrl}); press Ctrl-C to stop.\n`)
        await deps.waitForShutdown()
        await emu.close()
        deps.stderr.write("azmi emulator: stopped.\n")
        deps.setExitCode(ExitCode.Ok)
      } catch (error) {
        failUnexpected(ctx, error)
      }
    })
}
