/**
 * azmi's configuration — the one resolver the core, the CLI and azmi-http call: explicit options, then
 * the shells' flags, then the environment (through Effect `Config`, so tests can supply a
 * `ConfigProvider`), then Azure's defaults. Each setting is declared once in {@link settings} and read
 * by `Settings`; the Azure host — and so the managed-identity source — is decided by `SourceDetection`.
 *
 * Managed-identity endpoints taken from configuration must point at a loopback or link-local host
 * (like the newest MSAL): a token request, or a host's secret, must never be sent off the machine
 * because somebody set an environment variable. `allowNonLocalEndpoints` opts out.
 * @module
 */
import { createHash } from "node:crypto"
import { readFileSync, statSync } from "node:fs"
import { Context, Effect, Either, Layer, Option, Redacted } from "effect"
import { isLocalHost, managedIdentityEndpoint, serviceUrl, withoutQuery } from "./Endpoints.js"
import { InvalidConfiguration } from "./Errors.js"
import { describeSelector, IdentitySelector, selectorProblem } from "./IdentitySelector.js"
import { DEFAULT_AUTHORITY_HOST } from "./internal/authority.js"
import type { ConfigVariable } from "./internal/configVariables.js"
import { isTenantId } from "./internal/tenant.js"
import * as Settings from "./Settings.js"
import {
  DEFAULT_IMDS_ENDPOINT,
  type Detection,
  type DetectionInput,
  detectSource,
  hostHasImds,
  type ManagedIdentitySourceConfig,
  type ManagedIdentitySourceName,
  type SourceSettings,
  sourceName,
} from "./SourceDetection.js"

export type { ManagedIdentitySourceConfig, ManagedIdentitySourceName, SourceSettings }

/** A service principal with a client secret (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`). */
export interface ClientSecretConfig {
  readonly tenantId: string
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string>
  /** `AZURE_AUTHORITY_HOST`, default `https://login.microsoftonline.com`, without a trailing slash. */
  readonly authorityHost: string
}

/**
 * The flags azmi's shells offer for core settings (`azmi --imds-endpoint`, `azmi-http --arm-endpoint`):
 * a shell hands over what it parsed, and errors and hints name the flag.
 */
export interface ConfigFlags {
  readonly "--imds-endpoint"?: string | undefined
  readonly "--arm-endpoint"?: string | undefined
}

/** Options that override the environment (`Azmi.layer` takes these too). */
export interface ConfigOptions {
  /** Values of the shells' flags; they override the environment, and options override them. */
  readonly flags?: ConfigFlags | undefined
  /** IMDS base URL. Env: `AZMI_IMDS_ENDPOINT`, then `AZURE_POD_IDENTITY_AUTHORITY_HOST`; default `http://169.254.169.254`. */
  readonly imdsEndpoint?: string | undefined
  /** ARM base URL. Env: `AZMI_ARM_ENDPOINT`; default `https://management.azure.com`. */
  readonly armEndpoint?: string | undefined
  /** Token audience for ARM. Env: `AZMI_ARM_AUDIENCE`; default `https://management.azure.com/`. */
  readonly armAudience?: string | undefined
  /** The managed identity. Env: `AZURE_CLIENT_ID`; default system-assigned. */
  readonly identity?: IdentitySelector | undefined
  /** What chose `identity`, for errors: the flag a shell took it from (`--client-id`); default `identity.<field>`. */
  readonly identitySetBy?: string | undefined
  /** `auto` (default): client secret when tenant, client id and secret are all set, else managed identity. */
  readonly credential?: "auto" | "managed-identity" | "client-secret" | undefined
  /** Allow managed-identity endpoints that are not loopback or link-local. Env: `AZMI_ALLOW_REMOTE_ENDPOINTS=1`. */
  readonly allowNonLocalEndpoints?: boolean | undefined
  /** TCP connect timeout. Env `AZMI_CONNECT_TIMEOUT_MS`, default 1000. */
  readonly connectTimeoutMs?: number | undefined
  /** Timeout of one HTTP attempt. Env `AZMI_ATTEMPT_TIMEOUT_MS`, default 10000. */
  readonly attemptTimeoutMs?: number | undefined
  /** Deadline of a whole call including retries. Env `AZMI_DEADLINE_MS`, default 120000. */
  readonly deadlineMs?: number | undefined
  /**
   * Force the managed-identity host instead of detecting it: `imds`, `app-service`, `service-fabric`,
   * `azure-ml`, `cloud-shell`, `arc` or `workload-identity`. Env `AZMI_MI_SOURCE`. The host's own
   * variables are still needed (Arc's default to the agent's address).
   */
  readonly managedIdentitySource?: ManagedIdentitySourceName | undefined
  /** Force the App Service source with this token URL (else `IDENTITY_ENDPOINT`). */
  readonly identityEndpoint?: string | undefined
  /** The App Service identity header (else `IDENTITY_HEADER`). */
  readonly identityHeader?: string | Redacted.Redacted<string> | undefined
  /** Service principal: tenant. Env `AZURE_TENANT_ID`. */
  readonly tenantId?: string | undefined
  /** Service principal: client (application) id. Env `AZURE_CLIENT_ID`. */
  readonly clientId?: string | undefined
  /** Service principal: client secret. Env `AZURE_CLIENT_SECRET`. */
  readonly clientSecret?: string | Redacted.Redacted<string> | undefined
  /** Token issuer. Env `AZURE_AUTHORITY_HOST`; default `https://login.microsoftonline.com`. */
  readonly authorityHost?: string | undefined
  /** Extra trusted CA certificate(s), PEM. Env `AZMI_CA_CERT_FILE` (a path). */
  readonly caCert?: string | undefined
}

/** Resolved configuration. */
export interface AzmiConfigShape {
  readonly source: ManagedIdentitySourceConfig
  /** The host detected (or forced), what decided it and what set its endpoint and secret; `source` is its configuration. */
  readonly detection: Detection
  /** The IMDS base URL (instance metadata), even when tokens come from App Service. */
  readonly imdsEndpoint: string
  readonly identity: IdentitySelector
  readonly credential: "managed-identity" | "client-secret"
  readonly clientSecret: Option.Option<ClientSecretConfig>
  readonly armEndpoint: string
  readonly armAudience: string
  readonly allowNonLocalEndpoints: boolean
  readonly connectTimeoutMs: number
  readonly attemptTimeoutMs: number
  readonly deadlineMs: number
  readonly caCert: Option.Option<string>
  /**
   * Which option or environment variable set each endpoint and secret (absent: Azure's default), so that
   * errors and hints name what the user actually set.
   */
  readonly setBy: {
    readonly imdsEndpoint?: string | undefined
    readonly identityEndpoint?: string | undefined
    readonly identityHeader?: string | undefined
    readonly armEndpoint?: string | undefined
  }
  /**
   * Everything that selects the identity of the credential chosen above, as one string — for caches
   * that outlive this configuration (`FileTokenCache`): the credential, and for a managed identity
   * its host, endpoint and selector (and a SHA-256 digest of the secret the endpoint checks —
   * `IDENTITY_HEADER`, `MSI_SECRET` —, Service Fabric's thumbprint, Azure ML's default client id,
   * workload identity's authority, tenant and token file), for a service principal its authority,
   * tenant, client id and a SHA-256 digest of its secret. Never a secret itself; two configurations
   * share a key only when they would get the same tokens.
   */
  readonly identityKey: string
}

/**
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AzmiConfig } from "@azmi/core"
 * const endpoint = Effect.map(AzmiConfig, (c) => c.source.endpoint)
 * Effect.runPromise(endpoint.pipe(Effect.provide(AzmiConfig.layer({ imdsEndpoint: "http://127.0.0.1:8080" }))))
 * ```
 */
export class AzmiConfig extends Context.Tag("@azmi/core/AzmiConfig")<AzmiConfig, AzmiConfigShape>() {
  /** Resolve options + environment into an {@link AzmiConfigShape}. */
  static readonly make = (options: ConfigOptions = {}) => resolve(options)
  /** A layer that resolves the configuration once. */
  static readonly layer = (options: ConfigOptions = {}) => Layer.effect(AzmiConfig, resolve(options))
}

/**
 * Whether this configuration reaches an IMDS (instance metadata): the host has one, or an IMDS endpoint
 * was set (an emulator, a proxy) whatever the host.
 *
 * @example
 * ```ts
 * const config = yield* AzmiConfig
 * if (!hasImds(config)) return yield* new NoInstanceMetadata({ source: displayName(config.detection.name) })
 * ```
 */
export const hasImds = (config: AzmiConfigShape): boolean =>
  hostHasImds(config.detection.name) || config.setBy.imdsEndpoint !== undefined

export { DEFAULT_AUTHORITY_HOST, DEFAULT_IMDS_ENDPOINT }
export const DEFAULT_ARM_ENDPOINT = "https://management.azure.com"
export const DEFAULT_ARM_AUDIENCE = "https://management.azure.com/"

const millis = Settings.wholeNumber(1, 3_600_000, "milliseconds")

/**
 * Every setting the core reads, declared once: its variable, the flag the shells offer for it, the
 * option that sets it in code, and its rule. Endpoints whose rule depends on another setting
 * (`AZMI_ALLOW_REMOTE_ENDPOINTS`), and each host's own rules, are checked by `SourceDetection`.
 */
export const settings = {
  allowRemoteEndpoints: {
    variable: "AZMI_ALLOW_REMOTE_ENDPOINTS",
    option: "allowNonLocalEndpoints",
    rule: Settings.onOff,
  },
  connectTimeoutMs: { variable: "AZMI_CONNECT_TIMEOUT_MS", option: "connectTimeoutMs", rule: millis },
  attemptTimeoutMs: { variable: "AZMI_ATTEMPT_TIMEOUT_MS", option: "attemptTimeoutMs", rule: millis },
  deadlineMs: { variable: "AZMI_DEADLINE_MS", option: "deadlineMs", rule: millis },
  imdsEndpoint: {
    variable: "AZMI_IMDS_ENDPOINT",
    flag: "--imds-endpoint",
    option: "imdsEndpoint",
    rule: Settings.text,
  },
  podIdentityAuthorityHost: { variable: "AZURE_POD_IDENTITY_AUTHORITY_HOST", rule: Settings.text },
  identityEndpoint: { variable: "IDENTITY_ENDPOINT", option: "identityEndpoint", rule: Settings.text },
  identityHeader: { variable: "IDENTITY_HEADER", option: "identityHeader", rule: Settings.secret },
  managedIdentitySource: {
    variable: "AZMI_MI_SOURCE",
    option: "managedIdentitySource",
    rule: sourceName,
  },
  // The other hosts' variables: read as they are; each host's rules apply once it is the host detected.
  identityServerThumbprint: { variable: "IDENTITY_SERVER_THUMBPRINT", rule: Settings.text },
  arcImdsEndpoint: { variable: "IMDS_ENDPOINT", rule: Settings.text },
  msiEndpoint: { variable: "MSI_ENDPOINT", rule: Settings.text },
  msiSecret: { variable: "MSI_SECRET", rule: Settings.secret },
  defaultIdentityClientId: { variable: "DEFAULT_IDENTITY_CLIENT_ID", rule: Settings.text },
  federatedTokenFile: { variable: "AZURE_FEDERATED_TOKEN_FILE", rule: Settings.text },
  // Both the managed identity's client id and the service principal's (as in the Azure SDKs); the
  // options `identity` and `clientId` set each on its own.
  clientId: { variable: "AZURE_CLIENT_ID", rule: Settings.text },
  tenantId: {
    variable: "AZURE_TENANT_ID",
    option: "tenantId",
    rule: (s: string) =>
      isTenantId(s) ? Either.right(s) : Either.left("must be a tenant GUID or domain name"),
  },
  clientSecret: { variable: "AZURE_CLIENT_SECRET", option: "clientSecret", rule: Settings.secret },
  authorityHost: { variable: "AZURE_AUTHORITY_HOST", option: "authorityHost", rule: serviceUrl },
  armEndpoint: {
    variable: "AZMI_ARM_ENDPOINT",
    flag: "--arm-endpoint",
    option: "armEndpoint",
    rule: serviceUrl,
  },
  armAudience: { variable: "AZMI_ARM_AUDIENCE", option: "armAudience", rule: Settings.text },
  caCertFile: { variable: "AZMI_CA_CERT_FILE", rule: Settings.text },
} satisfies Readonly<
  Record<
    string,
    Settings.Setting<unknown> & { readonly variable: ConfigVariable; readonly option?: keyof ConfigOptions }
  >
>

const allSettings: ReadonlyArray<Settings.Setting<unknown>> = Object.values(settings)

/** The host {@link selectSource} detected: its source, the IMDS base URL, and what decided and set each. */
export type SelectedSource = Detection

/**
 * Which Azure host — and so which managed-identity source — the settings select (`SourceDetection`:
 * the SDKs' order, every endpoint held to loopback or link-local, every refusal naming what was set).
 *
 * @example
 * ```ts
 * selectSource({ …settings as read, identity: IdentitySelector.SystemAssigned() })
 * // Either.right({ name: "imds", source: { _tag: "Imds", endpoint: "http://169.254.169.254" }, … })
 * ```
 */
export const selectSource = (input: DetectionInput) => detectSource(input)

/** The settings as read by {@link resolve}. */
export type ReadSettings = Effect.Effect.Success<ReturnType<typeof Settings.readAll<typeof settings>>>

/** What detection looks at, from the settings as read and the identity resolved from them. */
export const detectionInputOf = (
  s: ReadSettings,
  more: Pick<DetectionInput, "identity" | "identitySetBy" | "himdsInstalled">,
): DetectionInput => ({
  managedIdentitySource: s.managedIdentitySource,
  imdsEndpoint: Option.orElse(s.imdsEndpoint, () => s.podIdentityAuthorityHost),
  identityEndpoint: s.identityEndpoint,
  identityHeader: s.identityHeader,
  identityServerThumbprint: s.identityServerThumbprint,
  arcImdsEndpoint: s.arcImdsEndpoint,
  msiEndpoint: s.msiEndpoint,
  msiSecret: s.msiSecret,
  defaultIdentityClientId: s.defaultIdentityClientId,
  federatedTokenFile: s.federatedTokenFile,
  tenantId: s.tenantId,
  clientId: s.clientId,
  authorityHost: s.authorityHost,
  allowNonLocalEndpoints: valueOr(s.allowRemoteEndpoints, false),
  ...more,
})

const fail = (variable: string, reason: string) => Effect.fail(new InvalidConfiguration({ variable, reason }))

const valueOr = <A>(read: Option.Option<Settings.Read<A>>, fallback: A): A =>
  Option.match(read, { onNone: () => fallback, onSome: (r) => r.value })

/** Options first, then flags, over the current `ConfigProvider` (the environment, or a test's). */
const resolve = (options: ConfigOptions): Effect.Effect<AzmiConfigShape, InvalidConfiguration> =>
  Effect.configProviderWith((environment) =>
    resolveFrom(
      options,
      Settings.sourceOf(environment, [
        ...Settings.givenOptions(allSettings, options),
        ...Settings.givenFlags(allSettings, options.flags ?? {}),
      ]),
    ),
  )

const resolveFrom = (
  options: ConfigOptions,
  source: Settings.Source,
): Effect.Effect<AzmiConfigShape, InvalidConfiguration> =>
  Effect.gen(function* () {
    const s = yield* Settings.readAll(settings, source)
    const allowNonLocalEndpoints = valueOr(s.allowRemoteEndpoints, false)

    const identity =
      options.identity ??
      Option.match(s.clientId, {
        onNone: () => IdentitySelector.SystemAssigned(),
        onSome: (r) => IdentitySelector.ClientId({ clientId: r.value }),
      })
    const badSelector = selectorProblem(identity)
    if (badSelector !== undefined) {
      const variable =
        options.identity === undefined
          ? "AZURE_CLIENT_ID"
          : (options.identitySetBy ?? `identity.${badSelector.field}`)
      return yield* fail(
        variable,
        `${badSelector.rule} (got ${JSON.stringify(badSelector.value.slice(0, 100))})`,
      )
    }

    const tenantId = Option.getOrUndefined(Option.map(s.tenantId, (r) => r.value))
    const spClientId = options.clientId ?? Option.getOrUndefined(Option.map(s.clientId, (r) => r.value))
    const secret = Option.getOrUndefined(Option.map(s.clientSecret, (r) => r.value))
    const authorityHost = valueOr(s.authorityHost, DEFAULT_AUTHORITY_HOST)
    const clientSecret: Option.Option<ClientSecretConfig> =
      tenantId !== undefined && spClientId !== undefined && secret !== undefined
        ? Option.some({ tenantId, clientId: spClientId, clientSecret: secret, authorityHost })
        : Option.none()
    const wanted = options.credential ?? "auto"
    if (wanted === "client-secret" && Option.isNone(clientSecret)) {
      return yield* fail(
        "AZURE_CLIENT_SECRET",
        "a service principal needs AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET",
      )
    }
    const credential =
      wanted === "managed-identity"
        ? "managed-identity"
        : wanted === "client-secret" || Option.isSome(clientSecret)
          ? "client-secret"
          : "managed-identity"

    // Which host this is (one function: SourceDetection).
    const selected = yield* selectSource(
      detectionInputOf(s, {
        identity,
        identitySetBy:
          options.identity === undefined ? undefined : (options.identitySetBy ?? "identity.clientId"),
      }),
    )

    let caCert: Option.Option<string> = Option.fromNullable(options.caCert)
    if (Option.isNone(caCert) && Option.isSome(s.caCertFile)) {
      const file = s.caCertFile.value
      const path = file.value
      // The read is synchronous, so nothing could bound it: a FIFO or a device (`/dev/zero`) would
      // block or fill memory forever. Only a regular file is read.
      if (!statSync(path, { throwIfNoEntry: false })?.isFile()) {
        return yield* Effect.fail(Settings.invalid(file, `${path} is not a readable regular file`))
      }
      caCert = Option.some(
        yield* Effect.try({
          try: () => readFileSync(path, "utf8"),
          catch: () => Settings.invalid(file, `cannot read ${path}`),
        }),
      )
    }

    return {
      identityKey: identityKeyOf(credential, selected.source, identity, clientSecret),
      source: selected.source,
      imdsEndpoint: selected.imdsEndpoint,
      identity,
      credential,
      clientSecret,
      armEndpoint: valueOr(s.armEndpoint, DEFAULT_ARM_ENDPOINT),
      armAudience: valueOr(s.armAudience, DEFAULT_ARM_AUDIENCE),
      allowNonLocalEndpoints,
      connectTimeoutMs: valueOr(s.connectTimeoutMs, 1_000),
      attemptTimeoutMs: valueOr(s.attemptTimeoutMs, 10_000),
      deadlineMs: valueOr(s.deadlineMs, 120_000),
      caCert,
      detection: selected,
      setBy: {
        imdsEndpoint: selected.setBy.imdsEndpoint,
        identityEndpoint: selected.source._tag === "AppService" ? selected.setBy.endpoint : undefined,
        identityHeader: selected.source._tag === "AppService" ? selected.setBy.secret : undefined,
        armEndpoint: Option.getOrUndefined(s.armEndpoint)?.setBy,
      },
    } satisfies AzmiConfigShape
  })

// A digest names a secret without revealing it: the same secret gives the same key, a rotated or
// wrong one another key (so a cached token never outlives the secret that obtained it).
const digest = (secret: Redacted.Redacted<string>) =>
  `sha256:${createHash("sha256").update("azmi identity key\0").update(Redacted.value(secret)).digest("hex")}`

// Ids are case-insensitive in Azure (GUIDs, tenant names, ARM ids): one identity, one key.
const identityKeyOf = (
  credential: "managed-identity" | "client-secret",
  source: ManagedIdentitySourceConfig,
  identity: IdentitySelector,
  clientSecret: Option.Option<ClientSecretConfig>,
): string => {
  if (credential === "client-secret" && Option.isSome(clientSecret)) {
    const sp = clientSecret.value
    return JSON.stringify([
      "client-secret",
      sp.authorityHost.toLowerCase(),
      sp.tenantId.toLowerCase(),
      sp.clientId.toLowerCase(),
      digest(sp.clientSecret),
    ])
  }
  const selector = describeSelector(identity).toLowerCase()
  // The host and its endpoint (without query, as the sources call it), and a digest of any secret the
  // endpoint checks: two hosts (or two clusters, two computes) never share a cached token.
  switch (source._tag) {
    case "Imds":
      return JSON.stringify(["managed-identity", "IMDS", source.endpoint, selector])
    case "AppService":
      return JSON.stringify([
        "managed-identity",
        "App Service",
        withoutQuery(source.endpoint),
        selector,
        digest(source.header),
      ])
    case "ServiceFabric":
      return JSON.stringify([
        "managed-identity",
        "Service Fabric",
        withoutQuery(source.endpoint),
        selector,
        source.thumbprint,
        digest(source.header),
      ])
    case "AzureMl":
      return JSON.stringify([
        "managed-identity",
        "Azure ML",
        withoutQuery(source.endpoint),
        selector,
        source.defaultClientId?.toLowerCase() ?? "",
        digest(source.secret),
      ])
    case "CloudShell":
      return JSON.stringify(["managed-identity", "Cloud Shell", source.endpoint, selector])
    case "AzureArc":
      return JSON.stringify(["managed-identity", "Azure Arc", withoutQuery(source.endpoint), selector])
    case "WorkloadIdentity":
      // The token file is the proof: another file (another pod's) is another key.
      return JSON.stringify([
        "managed-identity",
        "workload identity",
        source.authorityHost.toLowerCase(),
        source.tenantId.toLowerCase(),
        source.clientId.toLowerCase(),
        source.tokenFile,
      ])
  }
}

/**
 * Validate a managed-identity endpoint (see `Endpoints.managedIdentityEndpoint`), naming `variable`
 * when it is refused.
 */
export const checkEndpoint = (
  variable: string,
  raw: string,
  allowNonLocal: boolean,
  keep: "origin" | "url",
): Effect.Effect<string, InvalidConfiguration> =>
  Either.mapLeft(
    managedIdentityEndpoint(raw, allowNonLocal, keep),
    (reason) => new InvalidConfiguration({ variable, reason }),
  )

export { isLocalHost }
