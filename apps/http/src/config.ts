/**
 * azmi-http's configuration: environment variables, each with a matching command-line flag (the flag
 * wins). Secrets (API key, broker header) come only from the environment, never from flags, because
 * a process's arguments are visible to every user of the machine (`ps`).
 * @module
 */
import { parseArgs } from "node:util"
import { ArmClient, InvalidConfiguration, parseWholeNumber } from "@azmi/core"
import { Either, Redacted } from "effect"

/** Everything azmi-http needs to start. */
export interface HttpConfig {
  /** Interface to listen on. `AZMI_HTTP_HOST` / `--host`, default `127.0.0.1`. */
  readonly host: string
  /** Port to listen on, `0` picks a free one. `AZMI_HTTP_PORT` / `--port`, default 8080. */
  readonly port: number
  /** IMDS base URL handed to the core. `AZMI_IMDS_ENDPOINT` / `--imds-endpoint`. */
  readonly imdsEndpoint?: string | undefined
  /** ARM base URL handed to the core. `AZMI_ARM_ENDPOINT` / `--arm-endpoint`. */
  readonly armEndpoint?: string | undefined
  /** Audience of ARM tokens (also what `/readyz` asks for). `AZMI_ARM_AUDIENCE`, default `https://management.azure.com/`. */
  readonly armAudience: string
  /** When set, every `/v1` route needs `Authorization: Bearer <key>`. `AZMI_HTTP_API_KEY` (env only). */
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /** When set, the token broker `/msi/token` is on and needs `X-IDENTITY-HEADER: <value>`. `AZMI_IDENTITY_HEADER` (env only). */
  readonly identityHeader?: Redacted.Redacted<string> | undefined
  /** How long a resource-group read is served from cache. `AZMI_HTTP_CACHE_TTL_MS` / `--cache-ttl-ms`, default 5000; 0 disables. */
  readonly cacheTtlMs: number
  /** Largest request body accepted (no route takes one). `AZMI_HTTP_MAX_BODY_BYTES`, default 16384. */
  readonly maxBodyBytes: number
  /** Largest request head (request line + headers). `AZMI_HTTP_MAX_HEADER_BYTES`, default 16384. */
  readonly maxHeaderBytes: number
  /** How long SIGTERM waits for in-flight requests before closing sockets. `AZMI_HTTP_SHUTDOWN_TIMEOUT_MS`, default 10000. */
  readonly shutdownTimeoutMs: number
  /**
   * Listen off loopback without an API key (something else guards the port).
   * `AZMI_HTTP_ALLOW_UNAUTHENTICATED_REMOTE=1` / `--allow-unauthenticated-remote`, default false.
   */
  readonly allowUnauthenticatedRemote: boolean
  /**
   * Serve IMDS's own protocol (`/metadata/identity/oauth2/token`, `/metadata/instance`), to loopback
   * clients, without an API key. `AZMI_HTTP_IMDS=1` / `--imds`, default false.
   */
  readonly imds: boolean
  /**
   * Host names (besides loopback addresses, `localhost` and the listen host) that requests may carry
   * in `Host`; any other is refused (DNS rebinding). `AZMI_HTTP_ALLOWED_HOSTS` (comma-separated) /
   * `--allowed-hosts`.
   */
  readonly allowedHosts: ReadonlyArray<string>
  /**
   * How long past its TTL a group read is still served (with `Age` and `Warning`) while ARM or IMDS
   * fails to refresh it. `AZMI_HTTP_STALE_IF_ERROR_MS` / `--stale-if-error-ms`, default 300000; 0 disables.
   */
  readonly staleIfErrorMs: number
  /**
   * A second listener serving only `/healthz` and `/readyz` (for probes that cannot reach loopback,
   * e.g. a kubelet's). `AZMI_HTTP_HEALTH_PORT` / `--health-port`; off when unset.
   */
  readonly healthPort?: number | undefined
  /** Interface of the health listener. `AZMI_HTTP_HEALTH_HOST` / `--health-host`, default the listen host. */
  readonly healthHost?: string | undefined
}

/** The defaults, for tests and for `createApp` callers that only care about a few fields. */
export const defaultConfig: HttpConfig = {
  host: "127.0.0.1",
  port: 8080,
  armAudience: ArmClient.DefaultArmAudience,
  cacheTtlMs: 5_000,
  maxBodyBytes: 16_384,
  maxHeaderBytes: 16_384,
  shutdownTimeoutMs: 10_000,
  allowUnauthenticatedRemote: false,
  imds: false,
  allowedHosts: [],
  staleIfErrorMs: 300_000,
}

/** Shortest API key / broker header accepted: a guessable secret is worse than none, it looks safe. */
export const minimumSecretLength = 16

type Env = Readonly<Record<string, string | undefined>>

const invalid = (variable: string, reason: string) =>
  Either.left(new InvalidConfiguration({ variable, reason }))

const integer = (
  variable: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
): Either.Either<number, InvalidConfiguration> => {
  if (raw === undefined) return Either.right(fallback)
  // Surrounding whitespace (an env file's stray space) is forgiven; inside, digits only.
  const n = parseWholeNumber(raw.trim())
  return n !== undefined && n >= min && n <= max
    ? Either.right(n)
    : invalid(variable, `must be an integer from ${min} to ${max} (got ${JSON.stringify(raw.slice(0, 40))})`)
}

const url = (
  variable: string,
  raw: string | undefined,
): Either.Either<string | undefined, InvalidConfiguration> => {
  if (raw === undefined || raw === "") return Either.right(undefined)
  try {
    const parsed = new URL(raw)
    return parsed.protocol === "http:" || parsed.protocol === "https:"
      ? Either.right(raw)
      : invalid(variable, `must be an http(s) URL (got ${JSON.stringify(raw.slice(0, 80))})`)
  } catch {
    return invalid(variable, `must be an http(s) URL (got ${JSON.stringify(raw.slice(0, 80))})`)
  }
}

// Only the length is ever shown: the value is a secret.
const secret = (
  variable: string,
  raw: string | undefined,
): Either.Either<Redacted.Redacted<string> | undefined, InvalidConfiguration> => {
  if (raw === undefined) return Either.right(undefined)
  if (raw.length < minimumSecretLength)
    return invalid(variable, `must be at least ${minimumSecretLength} characters (got ${raw.length})`)
  if (/[\s\p{Cc}]/u.test(raw)) return invalid(variable, "must not contain whitespace or control characters")
  return Either.right(Redacted.make(raw))
}

// A host name or IP address (brackets allowed around IPv6), as `--host` and the allowed hosts take them.
const hostPattern = /^[A-Za-z0-9.:\-[\]]{1,253}$/

const host = (variable: string, raw: string | undefined): Either.Either<string, InvalidConfiguration> => {
  if (raw === undefined) return Either.right(defaultConfig.host)
  return hostPattern.test(raw)
    ? Either.right(raw)
    : invalid(variable, `must be a host name or IP address (got ${JSON.stringify(raw.slice(0, 80))})`)
}

// A comma-separated list of host names (or addresses), each like a listen host.
const hostList = (
  variable: string,
  raw: string | undefined,
): Either.Either<ReadonlyArray<string>, InvalidConfiguration> => {
  if (raw === undefined) return Either.right([])
  const names = raw
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "")
  const bad = names.find((name) => !hostPattern.test(name))
  return bad === undefined
    ? Either.right(names)
    : invalid(
        variable,
        `must be host names or IP addresses, comma-separated (got ${JSON.stringify(bad.slice(0, 80))})`,
      )
}

const boolean = (variable: string, raw: string | undefined): Either.Either<boolean, InvalidConfiguration> => {
  if (raw === undefined) return Either.right(false)
  const value = raw.trim().toLowerCase()
  if (["1", "true", "yes", "on"].includes(value)) return Either.right(true)
  if (["", "0", "false", "no", "off"].includes(value)) return Either.right(false)
  return invalid(
    variable,
    `must be 1/true/yes/on or 0/false/no/off (got ${JSON.stringify(raw.slice(0, 40))})`,
  )
}

/**
 * True when `host` can only be reached from this machine: `localhost`, 127.0.0.0/8 (in any form
 * WHATWG URL parsing normalises, e.g. `127.1`), `::1`, or an IPv4-mapped loopback address.
 */
export const isLoopbackHost = (host: string): boolean => {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host
  let hostname: string
  try {
    hostname = new URL(`http://${bare.includes(":") ? `[${bare}]` : bare}/`).hostname
  } catch {
    return false
  }
  return (
    hostname === "localhost" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname) ||
    hostname === "[::1]" ||
    /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(hostname)
  )
}

const flags = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
  "allow-unauthenticated-remote": { type: "boolean" },
  host: { type: "string" },
  port: { type: "string" },
  "imds-endpoint": { type: "string" },
  "arm-endpoint": { type: "string" },
  "cache-ttl-ms": { type: "string" },
  "max-body-bytes": { type: "string" },
  "max-header-bytes": { type: "string" },
  "shutdown-timeout-ms": { type: "string" },
  imds: { type: "boolean" },
  "allowed-hosts": { type: "string" },
  "stale-if-error-ms": { type: "string" },
  "health-port": { type: "string" },
  "health-host": { type: "string" },
} as const

/** The text `azmi-http --help` prints. */
export const usage = `Usage: azmi-http [options]

Serves managed-identity tokens and resource-group reads to the processes around it.

Options (each also an environment variable; the flag wins):
  --host <host>                 AZMI_HTTP_HOST                 interface (default 127.0.0.1); any other
                                                               than loopback needs AZMI_HTTP_API_KEY or:
  --allow-unauthenticated-remote
                AZMI_HTTP_ALLOW_UNAUTHENTICATED_REMOTE=1       serve /v1 off loopback without a key
                                                               (only if something else guards the port)
  --port <n>                    AZMI_HTTP_PORT                 port, 0 picks one (default 8080)
  --imds-endpoint <url>         AZMI_IMDS_ENDPOINT             IMDS base URL
  --arm-endpoint <url>          AZMI_ARM_ENDPOINT              ARM base URL
  --cache-ttl-ms <n>            AZMI_HTTP_CACHE_TTL_MS         group-read cache TTL (default 5000, 0 = off)
  --max-body-bytes <n>          AZMI_HTTP_MAX_BODY_BYTES       request body limit (default 16384)
  --max-header-bytes <n>        AZMI_HTTP_MAX_HEADER_BYTES     request head limit (default 16384)
  --shutdown-timeout-ms <n>     AZMI_HTTP_SHUTDOWN_TIMEOUT_MS  SIGTERM drain limit (default 10000)
  --imds                        AZMI_HTTP_IMDS=1               also speak IMDS (/metadata/identity/oauth2/token,
                                                               /metadata/instance) to loopback clients
  --allowed-hosts <a,b>         AZMI_HTTP_ALLOWED_HOSTS        more Host names to answer (besides loopback,
                                                               localhost, the listen host); others get 421
  --stale-if-error-ms <n>       AZMI_HTTP_STALE_IF_ERROR_MS    serve a group read this long past its TTL
                                                               while ARM/IMDS fail (default 300000, 0 = off)
  --health-port <n>             AZMI_HTTP_HEALTH_PORT          a second listener with /healthz and /readyz only
  --health-host <host>          AZMI_HTTP_HEALTH_HOST          its interface (default: --host)
  -V, --version                 print the version
  -h, --help                    print this help
Environment only (secrets):
  AZMI_HTTP_API_KEY             require Authorization: Bearer <key> on /v1 routes
  AZMI_IDENTITY_HEADER          enable the token broker /msi/token (X-IDENTITY-HEADER)
  AZMI_ARM_AUDIENCE             ARM token audience (default https://management.azure.com/)
`

/**
 * What the command line asks for: `help` or `version` (answered without reading the configuration),
 * otherwise `run` (and `loadConfig` reports any other problem with the arguments).
 *
 * @example
 * ```ts
 * commandOf(["--version"]) // "version"
 * ```
 */
export const commandOf = (argv: ReadonlyArray<string>): "help" | "version" | "run" => {
  try {
    const { values } = parseArgs({ args: [...argv], options: flags, strict: true, allowPositionals: false })
    return values.help === true ? "help" : values.version === true ? "version" : "run"
  } catch {
    return "run"
  }
}

/**
 * Reads the configuration from `env` and `argv` (arguments after the script name).
 * Fails with `InvalidConfiguration` naming the first variable (or flag) that is wrong.
 *
 * @example
 * ```ts
 * const config = loadConfig(process.env, ["--port", "0"])
 * if (Either.isLeft(config)) console.error(config.left.message)
 * ```
 */
export const loadConfig = (
  env: Env,
  argv: ReadonlyArray<string> = [],
): Either.Either<HttpConfig, InvalidConfiguration> => {
  let values: { readonly [K in keyof typeof flags]?: string | boolean | undefined }
  try {
    values = parseArgs({ args: [...argv], options: flags, strict: true, allowPositionals: false }).values
  } catch (error) {
    return invalid("arguments", error instanceof Error ? error.message : String(error))
  }
  // A flag overrides its variable; errors name the one that was used.
  type StringFlag = {
    [K in keyof typeof flags]: (typeof flags)[K]["type"] extends "string" ? K : never
  }[keyof typeof flags]
  const pick = (flag: StringFlag, variable: string): [string, string | undefined] => {
    const value = values[flag]
    return typeof value === "string" ? [`--${flag}`, value] : [variable, env[variable]]
  }

  return Either.gen(function* () {
    const h = yield* host(...pick("host", "AZMI_HTTP_HOST"))
    const [portName, portRaw] = pick("port", "AZMI_HTTP_PORT")
    const port = yield* integer(portName, portRaw, defaultConfig.port, 0, 65_535)
    const imdsEndpoint = yield* url(...pick("imds-endpoint", "AZMI_IMDS_ENDPOINT"))
    const armEndpoint = yield* url(...pick("arm-endpoint", "AZMI_ARM_ENDPOINT"))
    const armAudience =
      env.AZMI_ARM_AUDIENCE === undefined || env.AZMI_ARM_AUDIENCE === ""
        ? defaultConfig.armAudience
        : env.AZMI_ARM_AUDIENCE
    const apiKey = yield* secret("AZMI_HTTP_API_KEY", env.AZMI_HTTP_API_KEY)
    const identityHeader = yield* secret("AZMI_IDENTITY_HEADER", env.AZMI_IDENTITY_HEADER)
    const [ttlName, ttlRaw] = pick("cache-ttl-ms", "AZMI_HTTP_CACHE_TTL_MS")
    const cacheTtlMs = yield* integer(ttlName, ttlRaw, defaultConfig.cacheTtlMs, 0, 3_600_000)
    const [bodyName, bodyRaw] = pick("max-body-bytes", "AZMI_HTTP_MAX_BODY_BYTES")
    const maxBodyBytes = yield* integer(bodyName, bodyRaw, defaultConfig.maxBodyBytes, 0, 10_485_760)
    const [headName, headRaw] = pick("max-header-bytes", "AZMI_HTTP_MAX_HEADER_BYTES")
    const maxHeaderBytes = yield* integer(headName, headRaw, defaultConfig.maxHeaderBytes, 1_024, 1_048_576)
    const [stopName, stopRaw] = pick("shutdown-timeout-ms", "AZMI_HTTP_SHUTDOWN_TIMEOUT_MS")
    const shutdownTimeoutMs = yield* integer(stopName, stopRaw, defaultConfig.shutdownTimeoutMs, 0, 600_000)
    const allowUnauthenticatedRemote =
      values["allow-unauthenticated-remote"] === true ||
      (yield* boolean("AZMI_HTTP_ALLOW_UNAUTHENTICATED_REMOTE", env.AZMI_HTTP_ALLOW_UNAUTHENTICATED_REMOTE))
    // /v1 reads with this machine's identity: off loopback, only behind a key (or by explicit choice).
    if (apiKey === undefined && !allowUnauthenticatedRemote && !isLoopbackHost(h)) {
      const [hostName] = pick("host", "AZMI_HTTP_HOST")
      return yield* invalid(
        hostName,
        `${h} is not a loopback address and AZMI_HTTP_API_KEY is not set, so anyone who can reach the port could read resource groups and instance metadata with this machine's identity; set AZMI_HTTP_API_KEY, or pass --allow-unauthenticated-remote (AZMI_HTTP_ALLOW_UNAUTHENTICATED_REMOTE=1) if something else guards the port`,
      )
    }
    const imds = values.imds === true || (yield* boolean("AZMI_HTTP_IMDS", env.AZMI_HTTP_IMDS))
    const [hostsName, hostsRaw] = pick("allowed-hosts", "AZMI_HTTP_ALLOWED_HOSTS")
    const allowedHosts = yield* hostList(hostsName, hostsRaw)
    const [staleName, staleRaw] = pick("stale-if-error-ms", "AZMI_HTTP_STALE_IF_ERROR_MS")
    const staleIfErrorMs = yield* integer(staleName, staleRaw, defaultConfig.staleIfErrorMs, 0, 86_400_000)
    const [healthPortName, healthPortRaw] = pick("health-port", "AZMI_HTTP_HEALTH_PORT")
    const healthPort =
      healthPortRaw === undefined || healthPortRaw.trim() === ""
        ? undefined
        : yield* integer(healthPortName, healthPortRaw, 0, 0, 65_535)
    const [healthHostName, healthHostRaw] = pick("health-host", "AZMI_HTTP_HEALTH_HOST")
    const healthHost = healthHostRaw === undefined ? undefined : yield* host(healthHostName, healthHostRaw)
    return {
      host: h,
      port,
      imdsEndpoint,
      armEndpoint,
      armAudience,
      apiKey,
      identityHeader,
      cacheTtlMs,
      maxBodyBytes,
      maxHeaderBytes,
      shutdownTimeoutMs,
      allowUnauthenticatedRemote,
      imds,
      allowedHosts,
      staleIfErrorMs,
      healthPort,
      healthHost,
    } satisfies HttpConfig
  })
}
