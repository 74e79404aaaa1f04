/**
 * azmi's configuration — the one resolver the core, the CLI and azmi-http call: explicit options, then
 * the shells' flags, then the environment (through Effect `Config`, so tests can supply a
 * `ConfigProvider`), then Azure's defaults. Each setting is declared once in {@link settings} and read
 * by `Settings`; the managed-identity source is chosen by {@link selectSource}.
 *
 * Managed-identity endpoints taken from configuration must point at a loopback or link-local host
 * (like the newest MSAL): a token request, or App Service's `X-IDENTITY-HEADER`, must never be sent
 * off the machine because somebody set an environment variable. `allowNonLocalEndpoints` opts out.
 * @module
 */
import { createHash } from "node:crypto"
import { readFileSync, statSync } from "node:fs"
import { Context, Effect, Either, Layer, Option, Redacted } from "effect"
import { isLocalHost, managedIdentityEndpoint, serviceUrl } from "./Endpoints.js"
import { InvalidConfiguration } from "./Errors.js"
import { describeSelector, IdentitySelector, selectorProblem } from "./IdentitySelector.js"
import { DEFAULT_AUTHORITY_HOST } from "./internal/authority.js"
import type { ConfigVariable } from "./internal/configVariables.js"
import { isTenantId } from "./internal/tenant.js"
import * as Settings from "./Settings.js"
import * as WorkloadIdentity from "./WorkloadIdentityConfig.js"

/** Where managed-identity tokens come from. */
export type ManagedIdentitySourceConfig =
  | { readonly _tag: "Imds"; readonly endpoint: string }
  | {
      readonly _tag: "AppService"
      /** The full token URL from `IDENTITY_ENDPOINT`. */
      readonly endpoint: string
      /** `IDENTITY_HEADER`, sent as `X-IDENTITY-HEADER`. */
      readonly header: Redacted.Redacted<string>
    }
  /** AKS workload identity: `AZURE_FEDERATED_TOKEN_FILE` + `AZURE_TENANT_ID` + a client id. */
  | WorkloadIdentity.ValidConfig

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
   * its source, endpoint and selector (and a SHA-256 digest of App Service's `IDENTITY_HEADER`), for
   * a service principal its authority, tenant, client id and a SHA-256 digest of its secret. Never a
   * secret itself; two configurations share a key only when they would get the same tokens.
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
export { DEFAULT_AUTHORITY_HOST }

const millis = Settings.wholeNumber(1, 3_600_000, "milliseconds")

/**
 * Every setting the core reads, declared once: its variable, the flag the shells offer for it, the
 * option that sets it in code, and its rule. Endpoints whose rule depends on another setting
 * (`AZMI_ALLOW_REMOTE_ENDPOINTS`) are checked by {@link selectSource}.
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
  // AKS workload identity (with AZURE_TENANT_ID and a client id): the projected service-account token.
  federatedTokenFile: { variable: "AZURE_FEDERATED_TOKEN_FILE", rule: Settings.text },
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

/** The settings that decide where managed-identity tokens come from, as read: value and who set it. */
export interface SourceSettings {
  /** `AZMI_IMDS_ENDPOINT` (its flag or option), else `AZURE_POD_IDENTITY_AUTHORITY_HOST`. */
  readonly imdsEndpoint: Option.Option<Settings.Read<string>>
  readonly identityEndpoint: Option.Option<Settings.Read<string>>
  readonly identityHeader: Option.Option<Settings.Read<Redacted.Redacted<string>>>
  readonly allowNonLocalEndpoints: boolean
}

/** The source {@link selectSource} chose, the IMDS base URL, and who set each of their settings. */
export interface SelectedSource {
  readonly source: ManagedIdentitySourceConfig
  /** The IMDS base URL (instance metadata), even when tokens come from another source. */
  readonly imdsEndpoint: string
  readonly setBy: Pick<AzmiConfigShape["setBy"], "imdsEndpoint" | "identityEndpoint" | "identityHeader">
}

/**
 * Which managed-identity source the settings select, like the SDKs: an IMDS endpoint given on a command
 * line or in code wins; App Service when both of its variables are set; else IMDS. Every endpoint is
 * checked by the managed-identity endpoint rule (loopback or link-local unless allowed), and an invalid
 * one is named by what set it.
 *
 * @example
 * ```ts
 * selectSource({ imdsEndpoint: Option.none(), identityEndpoint: Option.none(), identityHeader: Option.none(), allowNonLocalEndpoints: false })
 * // Effect.succeed({ source: { _tag: "Imds", endpoint: "http://169.254.169.254" }, … })
 * ```
 */
export const selectSource = (s: SourceSettings): Effect.Effect<SelectedSource, InvalidConfiguration> =>
  Effect.gen(function* () {
    const endpoint = (read: Settings.Read<string>, keep: "origin" | "url") =>
      Either.mapLeft(managedIdentityEndpoint(read.value, s.allowNonLocalEndpoints, keep), (reason) =>
        Settings.invalid(read, reason),
      )
    const imds = Option.getOrUndefined(s.imdsEndpoint)
    const imdsEndpoint = imds === undefined ? DEFAULT_IMDS_ENDPOINT : yield* endpoint(imds, "origin")
    const appService = Option.all([s.identityEndpoint, s.identityHeader])
    if ((imds === undefined || imds.from === "environment") && Option.isSome(appService)) {
      const [url, header] = appService.value
      return {
        source: { _tag: "AppService", endpoint: yield* endpoint(url, "url"), header: header.value },
        imdsEndpoint,
        setBy: { imdsEndpoint: imds?.setBy, identityEndpoint: url.setBy, identityHeader: header.setBy },
      }
    }
    return {
      source: { _tag: "Imds", endpoint: imdsEndpoint },
      imdsEndpoint,
      setBy: { imdsEndpoint: imds?.setBy, identityEndpoint: undefined, identityHeader: undefined },
    }
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
    const selected = yield* selectSource({
      imdsEndpoint: Option.orElse(s.imdsEndpoint, () => s.podIdentityAuthorityHost),
      identityEndpoint: s.identityEndpoint,
      identityHeader: s.identityHeader,
      allowNonLocalEndpoints,
    })

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

    // AKS workload identity comes first, as in @azure/identity (the token file, a tenant and a client
    // id), unless an IMDS endpoint was given on a command line or in code, or an identity endpoint in code.
    const imdsGiven = Option.exists(s.imdsEndpoint, (r) => r.from !== "environment")
    const identityEndpointGiven = Option.exists(s.identityEndpoint, (r) => r.from === "option")
    const miSource: ManagedIdentitySourceConfig =
      Option.isSome(s.federatedTokenFile) &&
      tenantId !== undefined &&
      identity._tag === "ClientId" &&
      !imdsGiven &&
      !identityEndpointGiven
        ? yield* WorkloadIdentity.validate({
            _tag: "WorkloadIdentity",
            tokenFile: s.federatedTokenFile.value.value,
            tenantId,
            clientId: identity.clientId,
            authorityHost,
          })
        : selected.source

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
      identityKey: identityKeyOf(credential, miSource, identity, clientSecret),
      source: miSource,
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
      setBy: { ...selected.setBy, armEndpoint: Option.getOrUndefined(s.armEndpoint)?.setBy },
    } satisfies AzmiConfigShape
  })

// A digest names a secret without revealing it: the same secret gives the same key, a rotated or
// wrong one another key (so a cached token never outlives the secret that obtained it).
const digest = (secret: Redacted.Redacted<string>) =>
  `sha256:${createHash("sha256").update("azmi identity key\0").update(Redacted.value(secret)).digest("hex")}`

// App Service's source drops the query of IDENTITY_ENDPOINT: so does the key.
const withoutQuery = (url: string) => {
  const u = new URL(url)
  u.search = ""
  u.hash = ""
  return u.href
}

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
