/**
 * azmi's configuration, resolved once from explicit options, then the environment (through Effect
 * `Config`, so tests can supply a `ConfigProvider`), then Azure's defaults.
 *
 * Managed-identity endpoints taken from configuration must point at a loopback or link-local host
 * (like the newest MSAL; `internal/endpointGuard`): a token request, or a host's secret, must never be
 * sent off the machine because somebody set an environment variable. `allowNonLocalEndpoints` opts out.
 * Which host this is — and so which source — is decided by `SourceDetection`.
 * @module
 */
import { createHash } from "node:crypto"
import { readFileSync, statSync } from "node:fs"
import { Config, Context, Effect, Layer, Option, Redacted } from "effect"
import { InvalidConfiguration } from "./Errors.js"
import { describeSelector, IdentitySelector, selectorProblem } from "./IdentitySelector.js"
import { checkEndpoint, isLocalHost, parseUrl, withoutQuery } from "./internal/endpointGuard.js"
import { optionalVariable } from "./internal/envVariable.js"
import {
  type Detection,
  detectSource,
  type ManagedIdentitySourceConfig,
  type ManagedIdentitySourceName,
  sourceVariables,
} from "./SourceDetection.js"

export type { ManagedIdentitySourceConfig, ManagedIdentitySourceName }
export { checkEndpoint, isLocalHost }

/** A service principal with a client secret (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`). */
export interface ClientSecretConfig {
  readonly tenantId: string
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string>
  /** `AZURE_AUTHORITY_HOST`, default `https://login.microsoftonline.com`, without a trailing slash. */
  readonly authorityHost: string
}

/** Options that override the environment (`Azmi.layer` takes these too). */
export interface ConfigOptions {
  /** IMDS base URL. Env: `AZMI_IMDS_ENDPOINT`, then `AZURE_POD_IDENTITY_AUTHORITY_HOST`; default `http://169.254.169.254`. */
  readonly imdsEndpoint?: string | undefined
  /** ARM base URL. Env: `AZMI_ARM_ENDPOINT`; default `https://management.azure.com`. */
  readonly armEndpoint?: string | undefined
  /** Token audience for ARM. Env: `AZMI_ARM_AUDIENCE`; default `https://management.azure.com/`. */
  readonly armAudience?: string | undefined
  /** The managed identity. Env: `AZURE_CLIENT_ID`; default system-assigned. */
  readonly identity?: IdentitySelector | undefined
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
  /** The host detected (or forced) and what decided it; `source` is its configuration. */
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

export const DEFAULT_IMDS_ENDPOINT = "http://169.254.169.254"
export const DEFAULT_ARM_ENDPOINT = "https://management.azure.com"
export const DEFAULT_ARM_AUDIENCE = "https://management.azure.com/"
export const DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"

const optionalString = optionalVariable

const env = Config.all({
  AZMI_IMDS_ENDPOINT: optionalString("AZMI_IMDS_ENDPOINT"),
  AZURE_POD_IDENTITY_AUTHORITY_HOST: optionalString("AZURE_POD_IDENTITY_AUTHORITY_HOST"),
  AZURE_CLIENT_ID: optionalString("AZURE_CLIENT_ID"),
  AZURE_TENANT_ID: optionalString("AZURE_TENANT_ID"),
  AZURE_CLIENT_SECRET: optionalString("AZURE_CLIENT_SECRET"),
  AZURE_AUTHORITY_HOST: optionalString("AZURE_AUTHORITY_HOST"),
  AZMI_ARM_ENDPOINT: optionalString("AZMI_ARM_ENDPOINT"),
  AZMI_ARM_AUDIENCE: optionalString("AZMI_ARM_AUDIENCE"),
  AZMI_ALLOW_REMOTE_ENDPOINTS: optionalString("AZMI_ALLOW_REMOTE_ENDPOINTS"),
  AZMI_CONNECT_TIMEOUT_MS: optionalString("AZMI_CONNECT_TIMEOUT_MS"),
  AZMI_ATTEMPT_TIMEOUT_MS: optionalString("AZMI_ATTEMPT_TIMEOUT_MS"),
  AZMI_DEADLINE_MS: optionalString("AZMI_DEADLINE_MS"),
  AZMI_CA_CERT_FILE: optionalString("AZMI_CA_CERT_FILE"),
})

// A secret from an option (kept `Redacted`, or wrapped) or else from its environment variable.
const secretOf = (
  option: string | Redacted.Redacted<string> | undefined,
  fromEnv: Option.Option<string>,
): Redacted.Redacted<string> | undefined =>
  option !== undefined
    ? Redacted.isRedacted(option)
      ? option
      : Redacted.make(option)
    : Option.getOrUndefined(Option.map(fromEnv, Redacted.make))

const fail = (variable: string, reason: string) => Effect.fail(new InvalidConfiguration({ variable, reason }))

const resolve = (options: ConfigOptions): Effect.Effect<AzmiConfigShape, InvalidConfiguration> =>
  Effect.gen(function* () {
    const e = yield* env.pipe(
      Effect.mapError(
        (error) => new InvalidConfiguration({ variable: "environment", reason: String(error) }),
      ),
    )
    const allowNonLocalEndpoints =
      options.allowNonLocalEndpoints ?? Option.exists(e.AZMI_ALLOW_REMOTE_ENDPOINTS, isTruthy)

    const millis = (name: string, given: number | undefined, fromEnv: Option.Option<string>, dflt: number) =>
      given !== undefined
        ? checkMillis(name, String(given))
        : Option.match(fromEnv, { onNone: () => Effect.succeed(dflt), onSome: (s) => checkMillis(name, s) })
    const connectTimeoutMs = yield* millis(
      "AZMI_CONNECT_TIMEOUT_MS",
      options.connectTimeoutMs,
      e.AZMI_CONNECT_TIMEOUT_MS,
      1_000,
    )
    const attemptTimeoutMs = yield* millis(
      "AZMI_ATTEMPT_TIMEOUT_MS",
      options.attemptTimeoutMs,
      e.AZMI_ATTEMPT_TIMEOUT_MS,
      10_000,
    )
    const deadlineMs = yield* millis("AZMI_DEADLINE_MS", options.deadlineMs, e.AZMI_DEADLINE_MS, 120_000)

    const [imdsVariable, imdsRaw] =
      options.imdsEndpoint !== undefined
        ? ["imdsEndpoint", options.imdsEndpoint]
        : Option.isSome(e.AZMI_IMDS_ENDPOINT)
          ? ["AZMI_IMDS_ENDPOINT", e.AZMI_IMDS_ENDPOINT.value]
          : Option.isSome(e.AZURE_POD_IDENTITY_AUTHORITY_HOST)
            ? ["AZURE_POD_IDENTITY_AUTHORITY_HOST", e.AZURE_POD_IDENTITY_AUTHORITY_HOST.value]
            : [undefined, DEFAULT_IMDS_ENDPOINT]
    const imdsEndpoint =
      imdsVariable === undefined
        ? imdsRaw
        : yield* checkEndpoint(imdsVariable, imdsRaw, allowNonLocalEndpoints, "origin")

    const clientIdFromEnv = Option.getOrUndefined(e.AZURE_CLIENT_ID)
    const identity =
      options.identity ??
      (clientIdFromEnv === undefined
        ? IdentitySelector.SystemAssigned()
        : IdentitySelector.ClientId({ clientId: clientIdFromEnv }))
    const badSelector = selectorProblem(identity)
    if (badSelector !== undefined) {
      const variable = options.identity === undefined ? "AZURE_CLIENT_ID" : `identity.${badSelector.field}`
      return yield* fail(
        variable,
        `${badSelector.rule} (got ${JSON.stringify(badSelector.value.slice(0, 100))})`,
      )
    }

    const tenantId = options.tenantId ?? Option.getOrUndefined(e.AZURE_TENANT_ID)
    const spClientId = options.clientId ?? clientIdFromEnv
    const secret = secretOf(options.clientSecret, e.AZURE_CLIENT_SECRET)
    const authorityVariable =
      options.authorityHost !== undefined
        ? "authorityHost"
        : Option.isSome(e.AZURE_AUTHORITY_HOST)
          ? "AZURE_AUTHORITY_HOST"
          : undefined
    const authorityRaw = options.authorityHost ?? Option.getOrUndefined(e.AZURE_AUTHORITY_HOST)
    const authorityHost =
      authorityRaw === undefined || authorityVariable === undefined
        ? DEFAULT_AUTHORITY_HOST
        : yield* checkHttpUrl(authorityVariable, authorityRaw)
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
    if (tenantId !== undefined && !/^[0-9a-zA-Z.-]{1,100}$/.test(tenantId)) {
      return yield* fail("AZURE_TENANT_ID", "must be a tenant GUID or domain name")
    }
    const credential =
      wanted === "managed-identity"
        ? "managed-identity"
        : wanted === "client-secret" || Option.isSome(clientSecret)
          ? "client-secret"
          : "managed-identity"

    // Which host this is, and so which managed-identity source (one function: SourceDetection).
    const detection = yield* detectSource({
      variables: yield* sourceVariables.pipe(
        Effect.mapError(
          (error) => new InvalidConfiguration({ variable: "environment", reason: String(error) }),
        ),
      ),
      forced: options.managedIdentitySource,
      imdsEndpointOption: options.imdsEndpoint,
      identityEndpointOption: options.identityEndpoint,
      identityHeaderOption: secretOf(options.identityHeader, Option.none()),
      imdsEndpoint,
      imdsVariable,
      identity,
      identityVariable: options.identity === undefined ? "AZURE_CLIENT_ID" : "identity.clientId",
      clientId: spClientId,
      tenantId,
      tenantVariable: options.tenantId !== undefined ? "tenantId" : "AZURE_TENANT_ID",
      authorityHost,
      authorityVariable,
      allowNonLocalEndpoints,
    })
    const source = detection.source

    const armEndpointVariable =
      options.armEndpoint !== undefined
        ? "armEndpoint"
        : Option.isSome(e.AZMI_ARM_ENDPOINT)
          ? "AZMI_ARM_ENDPOINT"
          : undefined
    const armEndpoint =
      options.armEndpoint !== undefined
        ? yield* checkHttpUrl("armEndpoint", options.armEndpoint)
        : Option.isSome(e.AZMI_ARM_ENDPOINT)
          ? yield* checkHttpUrl("AZMI_ARM_ENDPOINT", e.AZMI_ARM_ENDPOINT.value)
          : DEFAULT_ARM_ENDPOINT
    const armAudience =
      options.armAudience ?? Option.getOrElse(e.AZMI_ARM_AUDIENCE, () => DEFAULT_ARM_AUDIENCE)

    let caCert: Option.Option<string> = Option.fromNullable(options.caCert)
    if (Option.isNone(caCert) && Option.isSome(e.AZMI_CA_CERT_FILE)) {
      const path = e.AZMI_CA_CERT_FILE.value
      // The read is synchronous, so nothing could bound it: a FIFO or a device (`/dev/zero`) would
      // block or fill memory forever. Only a regular file is read.
      if (!statSync(path, { throwIfNoEntry: false })?.isFile()) {
        return yield* fail("AZMI_CA_CERT_FILE", `${path} is not a readable regular file`)
      }
      caCert = Option.some(
        yield* Effect.try({
          try: () => readFileSync(path, "utf8"),
          catch: () =>
            new InvalidConfiguration({ variable: "AZMI_CA_CERT_FILE", reason: `cannot read ${path}` }),
        }),
      )
    }

    return {
      identityKey: identityKeyOf(credential, source, identity, clientSecret),
      source,
      imdsEndpoint,
      identity,
      credential,
      clientSecret,
      armEndpoint,
      armAudience,
      allowNonLocalEndpoints,
      connectTimeoutMs,
      attemptTimeoutMs,
      deadlineMs,
      caCert,
      detection,
      setBy: {
        imdsEndpoint: imdsVariable,
        identityEndpoint: source._tag === "AppService" ? detection.endpointVariable : undefined,
        identityHeader: source._tag === "AppService" ? detection.secretVariable : undefined,
        armEndpoint: armEndpointVariable,
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
  // The host and its endpoint, and a digest of any secret the endpoint checks: two hosts (or two
  // clusters, two computes) never share a cached token.
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

const isTruthy = (s: string) => /^(1|true|yes|on)$/i.test(s.trim())

const checkMillis = (variable: string, raw: string) => {
  const n = Number(raw)
  return Number.isInteger(n) && n > 0 && n <= 3_600_000
    ? Effect.succeed(n)
    : fail(variable, "must be a whole number of milliseconds between 1 and 3600000")
}

const checkHttpUrl = (variable: string, raw: string) => {
  const url = parseUrl(raw)
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
    return fail(variable, "must be an absolute http(s) URL")
  }
  if (url.username !== "" || url.password !== "") return fail(variable, "must not contain user info")
  // Bearer tokens and client secrets travel over this URL: plain http only to this machine.
  if (url.protocol === "http:" && !isLocalHost(url.hostname)) {
    return fail(variable, "must use https (plain http is allowed only for loopback and link-local hosts)")
  }
  return Effect.succeed(url.origin + url.pathname.replace(/\/+$/, ""))
}
