#!/usr/bin/env node
/**
 * `azmi-emulator`: run the emulator until SIGINT/SIGTERM.
 *
 * ```sh
 * azmi-emulator [--source S] [--state FILE] [--world FILE] [--host H] [--imds-port N] [--arm-port N] [--no-tls]
 * azmi-emulator run [--source S] [--no-imds] [--world FILE] [--state FILE] [--log FILE] -- COMMAND [ARGS…]
 * ```
 * Prints ONE JSON line on stdout with what a client needs (`imdsUrl`, `armUrl`, `loginUrl`, `controlUrl`,
 * `caCertPath`, `tenantId`, `subscriptionId`, `vm`, `admin`), diagnostics on stderr. Exit codes: 0 after a
 * graceful close, 2 for bad flags (an empty host, a port out of range), an invalid world/state file, a state
 * file whose directory does not exist or that another emulator holds (see `startFailure`), 1 for any other
 * start-up failure.
 * @module
 */
import { parseArgs } from "node:util"
import { startEmulator } from "./emulator.js"
import { EMULATOR_SOURCES, isEmulatorSource } from "./hosts/index.js"
import { runCommand } from "./run/command.js"
import { startFailure } from "./startFailure.js"
import { startupSummary } from "./summary.js"
import type { Emulator, StartEmulatorOptions } from "./types.js"

const USAGE = `Usage: azmi-emulator [options]
       azmi-emulator run [options] -- COMMAND [ARGS...]   (COMMAND on a simulated Azure VM; run --help)

A local Azure IMDS, Entra token issuer and ARM (resource groups, RBAC) for tests and demos.

Options:
  --source S        the Azure host the process runs on (default imds): ${EMULATOR_SOURCES.join(", ")}
  --state FILE      persist the world here (loaded if it exists; a change is answered once it is on
                    disk; one emulator per file; its directory must exist)
  --world FILE      world JSON to start from (default: the built-in quickstart world)
  --host H          address to listen on (default 127.0.0.1)
  --imds-port N     IMDS + control API port (default 0: a free port)
  --arm-port N      ARM + login port (default 0: a free port)
  --no-tls          serve ARM and login over plain HTTP instead of HTTPS
  -h, --help        show this help

Prints one JSON line with the endpoints, credentials and "env" (the variables a process on the
host sees), then runs until SIGINT or SIGTERM.
`

class UsageError extends Error {}

/** Flag syntax only; the range is `startEmulator`'s to check (so `azmi emulator` refuses the same ports). */
const port = (flag: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined
  if (!/^\d{1,9}$/.test(value))
    throw new UsageError(`${flag}: must be a port number (got ${JSON.stringify(value)})`)
  return Number(value)
}

const parseFlags = (argv: ReadonlyArray<string>) => {
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse(argv)
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e))
  }
  return parsed.values
}

const parse = (argv: ReadonlyArray<string>) =>
  parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      source: { type: "string" },
      state: { type: "string" },
      world: { type: "string" },
      host: { type: "string" },
      "imds-port": { type: "string" },
      "arm-port": { type: "string" },
      "no-tls": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  })

const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  if (argv[0] === "run") return runCommand(argv.slice(1), { entry: [process.argv[1] ?? "", "run"] })
  let options: StartEmulatorOptions
  try {
    const flags = parseFlags(argv)
    if (flags.help === true) {
      process.stdout.write(USAGE)
      return 0
    }
    const imdsPort = port("--imds-port", flags["imds-port"])
    const armPort = port("--arm-port", flags["arm-port"])
    if (flags.source !== undefined && !isEmulatorSource(flags.source)) {
      throw new UsageError(
        `--source: must be one of ${EMULATOR_SOURCES.join(", ")} (got ${JSON.stringify(flags.source)})`,
      )
    }
    options = {
      ...(flags.world !== undefined && { world: flags.world }),
      ...(flags.source !== undefined && isEmulatorSource(flags.source) && { source: flags.source }),
      ...(flags.state !== undefined && { state: flags.state }),
      ...(flags.host !== undefined && { host: flags.host }),
      ...(imdsPort !== undefined && { imdsPort }),
      ...(armPort !== undefined && { armPort }),
      ...(flags["no-tls"] === true && { armTls: false }),
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`azmi-emulator: ${e.message}\n\n${USAGE}`)
      return 2
    }
    throw e
  }

  let emu: Emulator
  try {
    emu = await startEmulator(options)
  } catch (e) {
    // `azmi emulator` decides the same way (startFailure is the one place).
    const failure = startFailure(e)
    process.stderr.write(`azmi-emulator: ${failure.message}\n`)
    return failure.exitCode
  }

  return new Promise<number>((resolve) => {
    let closing = false
    const onSignal = (signal: NodeJS.Signals) => {
      if (closing) {
        // A second signal while closing: give up waiting.
        process.stderr.write(`azmi-emulator: ${signal} again, exiting now\n`)
        process.exit(1)
      }
      closing = true
      emu.close().then(
        () => {
          process.off("SIGINT", onSignal)
          process.off("SIGTERM", onSignal)
          resolve(0)
        },
        (e: unknown) => {
          process.stderr.write(
            `azmi-emulator: error while closing: ${e instanceof Error ? e.message : String(e)}\n`,
          )
          resolve(1)
        },
      )
    }
    process.on("SIGINT", onSignal)
    process.on("SIGTERM", onSignal)
    // Print only once the handlers are installed: a parent reading this line may signal at once.
    process.stdout.write(`${JSON.stringify(startupSummary(emu))}\n`)
  })
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (e: unknown) => {
    process.stderr.write(`azmi-emulator: ${e instanceof Error ? e.message : String(e)}\n`)
    process.exitCode = 1
  },
)
