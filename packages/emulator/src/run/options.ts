/**
 * The command line of `azmi-emulator run` (and `azmi emulator run`, which passes its arguments through).
 * @module
 */
import { EMULATOR_SOURCES, type EmulatorSource, isEmulatorSource } from "../hosts/index.js"

/**
 * The Azure hosts `run` can simulate: every host the emulator plays. COMMAND gets exactly the variables that
 * host sets (`source.ts`).
 */
export const RUN_SOURCES: ReadonlyArray<EmulatorSource> = EMULATOR_SOURCES
export type RunSource = EmulatorSource

export interface RunOptions {
  readonly source: RunSource
  readonly noImds: boolean
  readonly world?: string
  readonly state?: string
  /** The emulator's log goes here instead of stderr. */
  readonly log?: string
  readonly command: string
  readonly args: ReadonlyArray<string>
}

export const RUN_USAGE = `Usage: azmi-emulator run [options] [--] COMMAND [ARGS...]

Runs COMMAND as if on an Azure VM with a managed identity: in a private network and mount namespace
where 169.254.169.254 is the emulator's IMDS and management.azure.com / login.microsoftonline.com resolve
(through a private /etc/hosts) to the emulator, with its CA trusted. Nothing in it can reach the network.
With --source, as if on another Azure host: COMMAND gets exactly the variables that host sets, its token
endpoint listens on 127.0.0.1 inside, and 169.254.169.254 answers only where that host has an IMDS.

Options:
  --source S     the Azure host to simulate: ${RUN_SOURCES.join(", ")} (default imds)
  --no-imds      nothing answers at 169.254.169.254: connections to it time out, as off Azure
                 (always so for app-service, arc and cloud-shell)
  --world FILE   world JSON to start from (default: the built-in quickstart world)
  --state FILE   persist the world here (loaded if it exists, every change written atomically)
  --log FILE     append the emulator's log here (default: its warnings on stderr, prefixed)
  -h, --help     show this help

COMMAND gets the caller's stdin/stdout/stderr and environment, less Azure identity, azmi and proxy variables,
plus NODE_EXTRA_CA_CERTS, REQUESTS_CA_BUNDLE, SSL_CERT_FILE, CURL_CA_BUNDLE (the emulator's CA) and
AZMI_EMULATOR_INFO (a JSON file with the endpoints and the admin's credentials), plus the host's own
variables (none on a VM; IDENTITY_ENDPOINT and IDENTITY_HEADER on App Service, …). The exit status is COMMAND's
(128+N when a signal N ended it); 2 for bad options or when namespaces are not available here.
Needs Linux with util-linux (unshare, mount) and iproute2 (ip); root, or unprivileged user namespaces.
`

/** A bad command line: exit 2 with the message and the usage. */
export class RunUsageError extends Error {
  override readonly name = "RunUsageError"
}

/** `run --help`. */
export interface RunHelp {
  readonly help: true
}

const valueFlags = new Set(["--source", "--world", "--state", "--log"])

/**
 * Options up to `--` or the first argument that is not an option; everything from there on is COMMAND and its
 * arguments, untouched (`run curl -H Metadata:true …` needs no `--`).
 *
 * @example
 * ```ts
 * parseRunArgs(["--no-imds", "--", "azmi", "token"]) // { source: "imds", noImds: true, command: "azmi", args: ["token"] }
 * ```
 */
export const parseRunArgs = (argv: ReadonlyArray<string>): RunOptions | RunHelp => {
  const values: Record<string, string> = {}
  let noImds = false
  let i = 0
  for (; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === "--") {
      i++
      break
    }
    if (arg === "-h" || arg === "--help") return { help: true }
    if (arg === "--no-imds") {
      noImds = true
      continue
    }
    const eq = arg.indexOf("=")
    const name = eq > 0 ? arg.slice(0, eq) : arg
    if (valueFlags.has(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i]
      if (value === undefined) throw new RunUsageError(`${name} needs a value`)
      if (value.trim() === "") throw new RunUsageError(`${name}: must not be empty`)
      if (name in values) throw new RunUsageError(`${name} given twice`)
      values[name] = value
      continue
    }
    if (arg.startsWith("-")) throw new RunUsageError(`unknown option ${JSON.stringify(arg)}`)
    break
  }
  const [command, ...args] = argv.slice(i)
  if (command === undefined || command === "") throw new RunUsageError("COMMAND is missing")
  const source = values["--source"] ?? "imds"
  if (!isEmulatorSource(source)) {
    throw new RunUsageError(
      `--source: ${JSON.stringify(source)} is not a host this emulator can simulate (${RUN_SOURCES.join(", ")})`,
    )
  }
  return {
    source,
    noImds,
    ...(values["--world"] !== undefined && { world: values["--world"] }),
    ...(values["--state"] !== undefined && { state: values["--state"] }),
    ...(values["--log"] !== undefined && { log: values["--log"] }),
    command,
    args,
  }
}
