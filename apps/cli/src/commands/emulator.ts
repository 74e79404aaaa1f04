/**
 * `azmi emulator`: starts `@azmi/emulator` in this process, prints its `env` as `export …` lines (what a
 * process on the emulated host sees, plus the emulator's endpoints and CA), and runs until SIGINT/SIGTERM.
 * `--source` is passed through to the emulator, which validates it.
 * @module
 */
import type { Command } from "commander"
import { type CliDeps, checkOutput, contextOf, fail, failUnexpected } from "../context.js"
import { ExitCode } from "../exitCodes.js"
import { parseCount } from "./parsers.js"

interface EmulatorFlags {
  readonly source?: string
  readonly state?: string
  readonly world?: string
  readonly host?: string
  readonly port?: number
  readonly imdsPort?: number
  readonly armPort?: number
  readonly tls: boolean
}

/**
 * The options of `azmi emulator` given on the command line, as `--flag=value`: commander hands every option the
 * parent knows (`--source`, `--world`, `--state`, …) to the parent wherever it stands before `--`, so
 * `azmi emulator run --source arc -- sh` reaches `run` as `sh` alone. They are run's (it says what is wrong
 * with one it does not take).
 */
const givenToParent = (parent: Command): ReadonlyArray<string> =>
  parent.options.flatMap((option) => {
    const name = option.attributeName()
    if (option.long === undefined || parent.getOptionValueSource(name) !== "cli") return []
    const value: unknown = parent.getOptionValue(name)
    return [option.negate || typeof value === "boolean" ? option.long : `${option.long}=${String(value)}`]
  })

const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`)

export const registerEmulator = (program: Command, deps: CliDeps): void => {
  const emulator = program
    .command("emulator")
    .summary("run a local Azure emulator and print its environment")
    .description(
      "Start a local Azure emulator (IMDS, token issuer, ARM + RBAC) and print the environment to use it",
    )
    .option(
      "--source <source>",
      "the Azure host the process runs on: imds (default), app-service, arc, service-fabric, cloud-shell, azure-ml, workload-identity",
    )
    .option(
      "--state <file>",
      "persist the emulated world in this file (loaded when it exists; a change is answered once it is on disk; one emulator per file)",
    )
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
            // Passed through: the emulator knows the sources and says what is wrong with another.
            ...(flags.source === undefined ? {} : { source: flags.source as never }),
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
          ...Object.entries(emu.env).map(([name, value]) => `export ${name}=${shellQuote(value)}`),
          `# ${emu.host.source} host ${emu.host.name}: identity ${emu.host.principalId} (client id ${emu.host.clientId}), subscription ${emu.subscriptionId}, tenant ${emu.tenantId}`,
          "# Admin service principal (Owner), for `azmi role assignment create` — set these for that command only:",
          `# AZURE_TENANT_ID=${emu.admin.tenantId} AZURE_CLIENT_ID=${emu.admin.clientId} AZURE_CLIENT_SECRET=${shellQuote(emu.admin.clientSecret)} AZURE_AUTHORITY_HOST=${emu.loginUrl}`,
        ]
        deps.stdout.write(`${lines.join("\n")}\n`)
        // Nobody can use an emulator whose address never arrived: stop it now, not at Ctrl-C.
        if (!(await checkOutput(ctx, undefined))) {
          await emu.close()
          return
        }
        deps.stderr.write(`azmi emulator: running (control API ${emu.controlUrl}); press Ctrl-C to stop.\n`)
        await deps.waitForShutdown()
        await emu.close()
        deps.stderr.write("azmi emulator: stopped.\n")
        deps.setExitCode(ExitCode.Ok)
      } catch (error) {
        failUnexpected(ctx, error)
      }
    })

  emulator
    .command("run")
    .summary("run a command on a simulated Azure VM or host (azmi-emulator run)")
    .description(
      "Run COMMAND in a private network namespace where 169.254.169.254 and management.azure.com are the emulator: `azmi emulator run [--source S] [--no-imds] [--world F] [--state F] [--log F] -- COMMAND [ARGS...]` (all of azmi-emulator run's options; see `azmi emulator run --help`)",
    )
    .usage("[options] -- COMMAND [ARGS...]")
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument("[args...]")
    .action(async (_args: ReadonlyArray<string>, _flags: unknown, command: Command) => {
      const ctx = contextOf(command, deps)
      if (deps.runEmulator === undefined) {
        return failUnexpected(ctx, new Error("The emulator is not available in this build."))
      }
      try {
        // Everything after `--` reaches here untouched (before it, the program's global options would take
        // their namesakes, hence `--` in the usage).
        deps.setExitCode(await deps.runEmulator([...givenToParent(emulator), ...command.args]))
      } catch (error) {
        failUnexpected(ctx, error)
      }
    })
}
