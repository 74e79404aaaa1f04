/**
 * azmi-http's configuration: environment variables, each with a matching command-line flag (the flag
 * wins). Secrets (API key, broker header) come only from the environment, never from flags, because
 * a process's arguments are visible to every user of the machine (`ps`).
 *
 * Read by the core's one resolver: azmi-http's own settings are declared here like the core's
 * (`Settings.Setting`: variable, flag, rule), read from the flags over the environment, and the core's
 * settings — with the flags azmi-http offers for them — are resolved by `AzmiConfig` from the same
 * flags and environment, so every error names the flag or variable the user set.
 * @module
 */
import { parseArgs } from "node:util"
import {
  ArmClient,
  AzmiConfig,
  type ConfigOptions,
  configSettings,
  type InvalidConfiguration,
  isLoopbackHost,
  Settings,
} from "@azmi/core"
import { ConfigProvider, Effect, Either, Option, Redacted } from "effect"

export { isLoopbackHost }

/** Everything azmi-http needs to start. */
export interface HttpConfig {
  /** Interface to listen on. `AZMI_HTTP_HOST` / `--host`, default `127.0.0.1`. */
  readonly host: string
  /** Port to listen on, `0` picks a free one. `AZMI_HTTP_PORT` / `--port`, default 8080. */
  readonly port: number
  /** The IMDS base URL the core uses, when one was set. `AZMI_IMDS_ENDPOINT` / `--imds-endpoint`. */
  readonly imdsEndpoint?: string | undefined
  /** The ARM base URL the core uses, when one was set. `AZMI_ARM_ENDPOINT` / `--arm-endpoint`. */
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
  /**
   * A JSON line on stdout per answered request. Off, only defects are logged (metrics still count
   * every request). `AZMI_HTTP_ACCESS_LOG` / `--access-log` (`on`/`off`), default on.
   */
  readonly accessLog: boolean
  /**
   * What azmi-http hands the core (`Azmi.layer`): the flags it took for core settings
   * (`--imds-endpoint`, `--arm-endpoint`); the core reads everything else from the environment.
   */
  readonly core: ConfigOptions
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
  accessLog: true,
  core: { flags: {} },
}

/** Shortest API key / broker header accepted: a guessable secret is worse than none, it looks safe. */
export const minimumSecretLength = 16

type Env = Readonly<Record<string, string | undefined>>

// Only the length is ever shown: the value is a secret.
const secret: Settings.Rule<Redacted.Redacted<string>> = (raw) =>
  raw.length < minimumSecretLength
    ? Either.left(`must be at least ${minimumSecretLength} characters (got ${raw.length})`)
    : /[\s\p{Cc}]/u.test(raw)
      ? Either.left("must not contain whitespace or control characters")
      : Either.right(Redacted.make(raw))

// A host name or IP address (brackets allowed around IPv6), as the listen hosts and allowed hosts take them.
const hostPattern = /^[A-Za-z0-9.:\-[\]]{1,253}$/

const listenHost: Settings.Rule<string> = (raw) =>
  hostPattern.test(raw)
    ? Either.right(raw)
    : Either.left(`must be a host name or IP address (got ${JSON.stringify(raw.slice(0, 80))})`)

// A comma-separated list of host names (or addresses), each like a listen host.
const hostList: Settings.Rule<ReadonlyArray<string>> = (raw) => {
  const names = raw
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "")
  const bad = names.find((name) => !hostPattern.test(name))
  return bad === undefined
    ? Either.right(names)
    : Either.left(
        `must be host names or IP addresses, comma-separated (got ${JSON.stringify(bad.slice(0, 80))})`,
      )
}

/** azmi-http's own settings, each declared once; the defaults are {@link defaultConfig}'s. */
export const settings = {
  host: { variable: "AZMI_HTTP_HOST", flag: "--host", rule: listenHost },
  port: { variable: "AZMI_HTTP_PORT", flag: "--port", rule: Settings.wholeNumber(0, 65_535) },
  apiKey: { variable: "AZMI_HTTP_API_KEY", rule: secret },
  identityHeader: { variable: "AZMI_IDENTITY_HEADER", rule: secret },
  cacheTtlMs: {
    variable: "AZMI_HTTP_CACHE_TTL_MS",
    flag: "--cache-ttl-ms",
    rule: Settings.wholeNumber(0, 3_600_000, "milliseconds"),
  },
  maxBodyBytes: {
    variable: "AZMI_HTTP_MAX_BODY_BYTES",
    flag: "--max-body-bytes",
    rule: Settings.wholeNumber(0, 10_485_760, "bytes"),
  },
  maxHeaderBytes: {
    variable: "AZMI_HTTP_MAX_HEADER_BYTES",
    flag: "--max-header-bytes",
    rule: Settings.wholeNumber(1_024, 1_048_576, "bytes"),
  },
  shutdownTimeoutMs: {
    variable: "AZMI_HTTP_SHUTDOWN_TIMEOUT_MS",
    flag: "--shutdown-timeout-ms",
    rule: Settings.wholeNumber(0, 600_000, "milliseconds"),
  },
  allowUnauthenticatedRemote: {
    variable: "AZMI_HTTP_ALLOW_UNAUTHENTICATED_REMOTE",
    flag: "--allow-unauthenticated-remote",
    rule: Settings.onOff,
  },
  imds: { variable: "AZMI_HTTP_IMDS", flag: "--imds", rule: Settings.onOff },
  allowedHosts: { variable: "AZMI_HTTP_ALLOWED_HOSTS", flag: "--allowed-hosts", rule: hostList },
  staleIfErrorMs: {
    variable: "AZMI_HTTP_STALE_IF_ERROR_MS",
    flag: "--stale-if-error-ms",
    rule: Settings.wholeNumber(0, 86_400_000, "milliseconds"),
  },
  healthPort: {
    variable: "AZMI_HTTP_HEALTH_PORT",
    flag: "--health-port",
    rule: Settings.wholeNumber(0, 65_535),
  },
  healthHost: { variable: "AZMI_HTTP_HEALTH_HOST", flag: "--health-host", rule: listenHost },
  accessLog: { variable: "AZMI_HTTP_ACCESS_LOG", flag: "--access-log", rule: Settings.onOff },
} satisfies Readonly<Record<string, Settings.Setting<unknown>>>

// A flag without a value (present means on) for an on/off setting that is off by default; every
// other flag takes its value — `--access-log off` for the one that is on by default.
const flagOf = (s: Settings.Setting<unknown>, onByDefault: boolean) =>
  s.flag === undefined
    ? []
    : [
        [
          s.flag.slice(2),
          { type: s.rule === Settings.onOff && !onByDefault ? "boolean" : "string" } as const,
        ] as const,
      ]

// The command line: every declared flag, help, version.
const flags = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
  ...Object.fromEntries([
    ...Object.entries(settings).flatMap(([key, s]) =>
      flagOf(s, defaultConfig[key as keyof typeof settings] === true),
    ),
    ...Object.values(configSettings).flatMap((s) => flagOf(s, false)),
  ]),
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
  --access-log <on|off>         AZMI_HTTP_ACCESS_LOG           a JSON line on stdout per request (default on;
                                                               off: only defects, metrics still count all)
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
 * Reads the configuration from `env` and `argv` (arguments after the script name) — azmi-http's own
 * settings and the core's, through the one resolver. Fails with `InvalidConfiguration` naming the
 * first flag or variable that is wrong.
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
  let values: Readonly<Record<string, string | boolean | undefined>>
  try {
    values = parseArgs({ args: [...argv], options: flags, strict: true, allowPositionals: false }).values
  } catch (error) {
    return Either.left(
      Settings.invalid(
        { setBy: "arguments", variable: "arguments" },
        error instanceof Error ? error.message : String(error),
      ),
    )
  }
  // `--name value` as the resolver takes flags; a switch that is present is on.
  const given: Record<string, string | undefined> = Object.fromEntries(
    Object.entries(values).map(([name, value]) => [
      `--${name}`,
      value === true ? "true" : value === false ? undefined : value,
    ]),
  )
  const environment = ConfigProvider.fromMap(
    new Map(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined)),
  )
  const core: ConfigOptions = {
    flags: { "--imds-endpoint": given["--imds-endpoint"], "--arm-endpoint": given["--arm-endpoint"] },
  }
  return Effect.runSync(
    Effect.either(
      Effect.gen(function* () {
        const s = yield* Settings.readAll(
          settings,
          Settings.sourceOf(environment, Settings.givenFlags(Object.values(settings), given)),
        )
        const resolved = yield* AzmiConfig.make(core).pipe(Effect.withConfigProvider(environment))
        const or = <A>(read: Option.Option<Settings.Read<A>>, fallback: A): A =>
          Option.match(read, { onNone: () => fallback, onSome: (r) => r.value })
        const host = or(s.host, defaultConfig.host)
        const apiKey = Option.getOrUndefined(Option.map(s.apiKey, (r) => r.value))
        const allowUnauthenticatedRemote = or(s.allowUnauthenticatedRemote, false)
        // /v1 reads with this machine's identity: off loopback, only behind a key (or by explicit choice).
        if (
          Option.isSome(s.host) &&
          apiKey === undefined &&
          !allowUnauthenticatedRemote &&
          !isLoopbackHost(host)
        ) {
          return yield* Effect.fail(
            Settings.invalid(
              s.host.value,
              `${host} is not a loopback address and AZMI_HTTP_API_KEY is not set, so anyone who can reach the port could read resource groups and instance metadata with this machine's identity; set AZMI_HTTP_API_KEY, or pass --allow-unauthenticated-remote (AZMI_HTTP_ALLOW_UNAUTHENTICATED_REMOTE=1) if something else guards the port`,
            ),
          )
        }
        return {
          host,
          port: or(s.port, defaultConfig.port),
          imdsEndpoint: resolved.setBy.imdsEndpoint === undefined ? undefined : resolved.imdsEndpoint,
          armEndpoint: resolved.setBy.armEndpoint === undefined ? undefined : resolved.armEndpoint,
          armAudience: resolved.armAudience,
          apiKey,
          identityHeader: Option.getOrUndefined(Option.map(s.identityHeader, (r) => r.value)),
          cacheTtlMs: or(s.cacheTtlMs, defaultConfig.cacheTtlMs),
          maxBodyBytes: or(s.maxBodyBytes, defaultConfig.maxBodyBytes),
          maxHeaderBytes: or(s.maxHeaderBytes, defaultConfig.maxHeaderBytes),
          shutdownTimeoutMs: or(s.shutdownTimeoutMs, defaultConfig.shutdownTimeoutMs),
          allowUnauthenticatedRemote,
          imds: or(s.imds, defaultConfig.imds),
          allowedHosts: or(s.allowedHosts, defaultConfig.allowedHosts),
          staleIfErrorMs: or(s.staleIfErrorMs, defaultConfig.staleIfErrorMs),
          healthPort: Option.getOrUndefined(Option.map(s.healthPort, (r) => r.value)),
          healthHost: Option.getOrUndefined(Option.map(s.healthHost, (r) => r.value)),
          accessLog: or(s.accessLog, defaultConfig.accessLog),
          core,
        } satisfies HttpConfig
      }),
    ),
  )
}
