/**
 * Which Azure host this process runs on — and so where its managed-identity tokens come from — decided
 * once, from the resolved settings, the way the SDKs decide it:
 *
 * 1. `AZMI_MI_SOURCE=<name>` (or the `managedIdentitySource` option) forces a host.
 * 2. An IMDS endpoint given on a command line or in code means IMDS; an App Service endpoint given in
 *    code means App Service.
 * 3. Workload identity: `AZURE_FEDERATED_TOKEN_FILE` + `AZURE_TENANT_ID` + a client id (as
 *    `@azure/identity` checks it, before every MSAL source).
 * 4. Then MSAL's order: Service Fabric (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER` +
 *    `IDENTITY_SERVER_THUMBPRINT`) → App Service (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`) → Azure ML
 *    (`MSI_ENDPOINT` + `MSI_SECRET`) → Cloud Shell (`MSI_ENDPOINT`) → Azure Arc (`IDENTITY_ENDPOINT` +
 *    `IMDS_ENDPOINT`, or the Arc agent installed at `/opt/azcmagent/bin/himds`) → IMDS.
 *
 * A blank variable counts as unset (`Settings` reads it so; MSAL reports a host for `IDENTITY_HEADER=""`
 * and then creates another — azmi decides once). Every endpoint must name a loopback or link-local host
 * (`Endpoints.managedIdentityEndpoint`), and every refusal names what the user set (`Settings.invalid`).
 * Detection is a pure function of the settings as read (plus one probe for the Arc agent's file), so it
 * is tested without a machine.
 * @module
 */
import { existsSync } from "node:fs"
import { Either, Option, type Redacted } from "effect"
import { managedIdentityEndpoint } from "./Endpoints.js"
import type { InvalidConfiguration } from "./Errors.js"
import type { IdentitySelector } from "./IdentitySelector.js"
import { isGuid } from "./internal/guid.js"
import { normaliseThumbprint } from "./internal/thumbprint.js"
import * as Settings from "./Settings.js"
import * as WorkloadIdentityConfig from "./WorkloadIdentityConfig.js"

/** The hosts, by the names `AZMI_MI_SOURCE` and `azmi-emulator --source` use. */
export type ManagedIdentitySourceName =
  | "imds"
  | "app-service"
  | "service-fabric"
  | "azure-ml"
  | "cloud-shell"
  | "arc"
  | "workload-identity"

export const SOURCE_NAMES: ReadonlyArray<ManagedIdentitySourceName> = [
  "imds",
  "app-service",
  "service-fabric",
  "azure-ml",
  "cloud-shell",
  "arc",
  "workload-identity",
]

/** `AZMI_MI_SOURCE`'s rule: one of {@link SOURCE_NAMES}, in any case. */
export const sourceName: Settings.Rule<ManagedIdentitySourceName> = (s) => {
  const name = SOURCE_NAMES.find((n) => n === s.trim().toLowerCase())
  return name === undefined
    ? Either.left(`must be one of ${SOURCE_NAMES.join(", ")} (got ${JSON.stringify(s.slice(0, 40))})`)
    : Either.right(name)
}

/** Where managed-identity tokens come from, with everything the host's source needs. */
export type ManagedIdentitySourceConfig =
  | { readonly _tag: "Imds"; readonly endpoint: string }
  | {
      readonly _tag: "AppService"
      /** The full token URL from `IDENTITY_ENDPOINT`. */
      readonly endpoint: string
      /** `IDENTITY_HEADER`, sent as `X-IDENTITY-HEADER`. */
      readonly header: Redacted.Redacted<string>
    }
  | {
      readonly _tag: "ServiceFabric"
      /** `IDENTITY_ENDPOINT`, an https URL. */
      readonly endpoint: string
      /** `IDENTITY_HEADER`, sent as `secret` once the certificate matched. */
      readonly header: Redacted.Redacted<string>
      /** `IDENTITY_SERVER_THUMBPRINT`, normalised: 40 upper-case hex digits. */
      readonly thumbprint: string
    }
  | {
      readonly _tag: "AzureMl"
      /** `MSI_ENDPOINT`. */
      readonly endpoint: string
      /** `MSI_SECRET`, sent as `secret`. */
      readonly secret: Redacted.Redacted<string>
      /** `DEFAULT_IDENTITY_CLIENT_ID`: the compute's own identity, sent as `clientid` for system-assigned. */
      readonly defaultClientId: string | undefined
    }
  | { readonly _tag: "CloudShell" /** `MSI_ENDPOINT`. */; readonly endpoint: string }
  | {
      readonly _tag: "AzureArc"
      /** `IDENTITY_ENDPOINT` (`localhost` made `127.0.0.1`), or HIMDS's own address when the agent is installed. */
      readonly endpoint: string
    }
  /** AKS workload identity, as `WorkloadIdentity.validate` accepted it (its one rule). */
  | WorkloadIdentityConfig.ValidConfig

/** Where the Arc agent lives on Linux: its presence alone means "Azure Arc" (MSAL's rule). */
export const HIMDS_PATH = "/opt/azcmagent/bin/himds"

/** HIMDS's token endpoint when only the agent's presence said "Arc" (127.0.0.1, not localhost: see `arcEndpoint`). */
export const DEFAULT_ARC_ENDPOINT = "http://127.0.0.1:40342/metadata/identity/oauth2/token"

/** IMDS's own address, when nothing names another. */
export const DEFAULT_IMDS_ENDPOINT = "http://169.254.169.254"

/** The settings detection reads, as read (value and who set it); none: unset or blank. */
export interface SourceSettings {
  /** `AZMI_MI_SOURCE` or the `managedIdentitySource` option. */
  readonly managedIdentitySource: Option.Option<Settings.Read<ManagedIdentitySourceName>>
  /** `AZMI_IMDS_ENDPOINT` (its flag or option), else `AZURE_POD_IDENTITY_AUTHORITY_HOST`. */
  readonly imdsEndpoint: Option.Option<Settings.Read<string>>
  readonly identityEndpoint: Option.Option<Settings.Read<string>>
  readonly identityHeader: Option.Option<Settings.Read<Redacted.Redacted<string>>>
  readonly identityServerThumbprint: Option.Option<Settings.Read<string>>
  /** Arc's `IMDS_ENDPOINT` (checked, never called). */
  readonly arcImdsEndpoint: Option.Option<Settings.Read<string>>
  readonly msiEndpoint: Option.Option<Settings.Read<string>>
  readonly msiSecret: Option.Option<Settings.Read<Redacted.Redacted<string>>>
  readonly defaultIdentityClientId: Option.Option<Settings.Read<string>>
  readonly federatedTokenFile: Option.Option<Settings.Read<string>>
  /** The tenant (`AZURE_TENANT_ID` or the `tenantId` option), already validated. */
  readonly tenantId: Option.Option<Settings.Read<string>>
  /** `AZURE_CLIENT_ID`: workload identity's client id when no identity is named otherwise. */
  readonly clientId: Option.Option<Settings.Read<string>>
  /** `AZURE_AUTHORITY_HOST` as read (a service URL); none: the default authority. */
  readonly authorityHost: Option.Option<Settings.Read<string>>
  readonly allowNonLocalEndpoints: boolean
}

/** Everything detection looks at. */
export interface DetectionInput extends SourceSettings {
  /** The identity asked for (its default, `AZURE_CLIENT_ID`, already applied). */
  readonly identity: IdentitySelector
  /** What named `identity` when it was not `AZURE_CLIENT_ID` (a flag or `identity.clientId`). */
  readonly identitySetBy?: string | undefined
  /** Whether the Arc agent is installed; asked only when no variable decided. Default: {@link himdsInstalled}. */
  readonly himdsInstalled?: (() => boolean) | undefined
}

/** The decision, with what made it. */
export interface Detection {
  readonly name: ManagedIdentitySourceName
  readonly source: ManagedIdentitySourceConfig
  /** The IMDS base URL (instance metadata), whatever the host. */
  readonly imdsEndpoint: string
  /**
   * What decided it, in the order the rules read them: variables (`IDENTITY_ENDPOINT`, …), flags or
   * options, `AZMI_MI_SOURCE`, or the Arc agent's path. Empty: nothing did (IMDS by default).
   */
  readonly decidedBy: ReadonlyArray<string>
  /** What set the endpoint, the secret and the IMDS endpoint (absent: the host's default), for hints. */
  readonly setBy: {
    readonly endpoint?: string | undefined
    readonly secret?: string | undefined
    readonly imdsEndpoint?: string | undefined
  }
}

/** True when the Arc agent is installed here (Linux: {@link HIMDS_PATH}). */
export const himdsInstalled = (): boolean => process.platform === "linux" && existsSync(HIMDS_PATH)

const DISPLAY: Readonly<Record<ManagedIdentitySourceName, string>> = {
  imds: "IMDS",
  "app-service": "App Service",
  "service-fabric": "Service Fabric",
  "azure-ml": "Azure ML",
  "cloud-shell": "Cloud Shell",
  arc: "Azure Arc",
  "workload-identity": "workload identity",
}

/** The host's name for people: `IMDS`, `App Service`, `Service Fabric`, … */
export const displayName = (name: ManagedIdentitySourceName): string => DISPLAY[name]

/**
 * Whether a process on the host can also reach an IMDS (instance metadata): a VM, and the VMs under
 * Service Fabric, Azure ML compute and AKS. App Service, Cloud Shell and Arc-enabled servers have none.
 */
export const hostHasImds = (name: ManagedIdentitySourceName): boolean =>
  name === "imds" || name === "service-fabric" || name === "azure-ml" || name === "workload-identity"

type Found<A> = Option.Option<Settings.Read<A>>

/**
 * Decide the host. Pure: the same settings always give the same answer (the Arc probe is part of the input).
 *
 * @example
 * ```ts
 * import { Option } from "effect"
 * import { IdentitySelector, SourceDetection } from "@azmi/core"
 * const none = Option.none()
 * SourceDetection.detectSource({
 *   managedIdentitySource: none, imdsEndpoint: none, identityEndpoint: none, identityHeader: none,
 *   identityServerThumbprint: none, arcImdsEndpoint: none, msiSecret: none, defaultIdentityClientId: none,
 *   federatedTokenFile: none, tenantId: none, clientId: none, authorityHost: none,
 *   msiEndpoint: Option.some({ value: "http://127.0.0.1:50342/oauth2/token", setBy: "MSI_ENDPOINT", from: "environment", variable: "MSI_ENDPOINT" }),
 *   allowNonLocalEndpoints: false,
 *   identity: IdentitySelector.SystemAssigned(),
 * }) // Right: { name: "cloud-shell", decidedBy: ["MSI_ENDPOINT"], … }
 * ```
 */
export const detectSource = (input: DetectionInput): Either.Either<Detection, InvalidConfiguration> =>
  Either.flatMap(imdsOf(input), (imdsEndpoint) => {
    const d = { ...input, imdsEndpointUrl: imdsEndpoint }
    const set = (read: Found<unknown>) => Option.isSome(read)
    const names = (...reads: ReadonlyArray<Found<unknown>>) =>
      reads.flatMap((r) => (Option.isSome(r) ? [r.value.setBy] : []))
    if (Option.isSome(input.managedIdentitySource)) {
      const forced = input.managedIdentitySource.value
      return build(forced.value, d, [forced.setBy], forced)
    }
    const imds = Option.getOrUndefined(input.imdsEndpoint)
    if (imds !== undefined && imds.from !== "environment") return build("imds", d, [imds.setBy])
    const endpoint = Option.getOrUndefined(input.identityEndpoint)
    if (endpoint !== undefined && endpoint.from === "option") return build("app-service", d, [endpoint.setBy])

    const workload = workloadClientId(input)
    if (set(input.federatedTokenFile) && set(input.tenantId) && workload !== undefined) {
      return build("workload-identity", d, [
        ...names(input.federatedTokenFile, input.tenantId),
        workload.setBy,
      ])
    }
    if (set(input.identityEndpoint) && set(input.identityHeader) && set(input.identityServerThumbprint)) {
      const decided = names(input.identityEndpoint, input.identityHeader, input.identityServerThumbprint)
      return build("service-fabric", d, decided)
    }
    if (set(input.identityEndpoint) && set(input.identityHeader)) {
      return build("app-service", d, names(input.identityEndpoint, input.identityHeader))
    }
    if (set(input.msiEndpoint) && set(input.msiSecret)) {
      return build("azure-ml", d, names(input.msiEndpoint, input.msiSecret))
    }
    if (set(input.msiEndpoint)) return build("cloud-shell", d, names(input.msiEndpoint))
    if (set(input.identityEndpoint) && set(input.arcImdsEndpoint)) {
      return build("arc", d, names(input.identityEndpoint, input.arcImdsEndpoint))
    }
    if ((input.himdsInstalled ?? himdsInstalled)()) return build("arc", d, [HIMDS_PATH])
    return build("imds", d, names(input.imdsEndpoint))
  })

/** The IMDS base URL: the one set (checked), else IMDS's own address. */
const imdsOf = (input: DetectionInput): Either.Either<string, InvalidConfiguration> =>
  Option.match(input.imdsEndpoint, {
    onNone: () => Either.right(DEFAULT_IMDS_ENDPOINT),
    onSome: (read) => endpointOf(read, input.allowNonLocalEndpoints, "origin"),
  })

const endpointOf = (read: Settings.Read<string>, allow: boolean, keep: "origin" | "url") =>
  Either.mapLeft(managedIdentityEndpoint(read.value, allow, keep), (reason) => Settings.invalid(read, reason))

/** Workload identity's client id: the one named as the identity, else `AZURE_CLIENT_ID`. */
const workloadClientId = (
  input: DetectionInput,
): { readonly clientId: string; readonly setBy: string } | undefined => {
  if (input.identity._tag === "ClientId") {
    return { clientId: input.identity.clientId, setBy: input.identitySetBy ?? "AZURE_CLIENT_ID" }
  }
  return Option.match(input.clientId, {
    onNone: () => undefined,
    onSome: (read) => ({ clientId: read.value, setBy: read.setBy }),
  })
}

const refuse = (read: Pick<Settings.Read<unknown>, "setBy" | "variable">, reason: string) =>
  Either.left(Settings.invalid(read, reason))

/** A setting that is not there, named by its variable. */
const unset = (variable: string) => ({ setBy: variable, variable })

const build = (
  name: ManagedIdentitySourceName,
  d: DetectionInput & { readonly imdsEndpointUrl: string },
  decidedBy: ReadonlyArray<string>,
  forced?: Settings.Read<ManagedIdentitySourceName>,
): Either.Either<Detection, InvalidConfiguration> => {
  const allow = d.allowNonLocalEndpoints
  const imdsSetBy = Option.getOrUndefined(d.imdsEndpoint)?.setBy
  const done = (source: ManagedIdentitySourceConfig, setBy: { endpoint?: string; secret?: string } = {}) =>
    Either.right<Detection>({
      name,
      source,
      imdsEndpoint: d.imdsEndpointUrl,
      decidedBy,
      setBy: { ...setBy, imdsEndpoint: imdsSetBy },
    })
  /** The refusal for a host without all of its settings (naming the first one missing). */
  const needs = (
    needed: ReadonlyArray<readonly [string, boolean]>,
  ): Either.Either<never, InvalidConfiguration> => {
    const missing = needed.find(([, present]) => !present)?.[0] ?? needed[0]![0]
    const all = needed
      .map(([v]) => v)
      .join(", ")
      .replace(/, ([^,]*)$/, " and $1")
    const who = forced === undefined ? displayName(name) : `${forced.setBy}=${name}`
    return refuse(unset(missing), `${who} needs ${all}`)
  }
  switch (name) {
    case "imds":
      return done(
        { _tag: "Imds", endpoint: d.imdsEndpointUrl },
        imdsSetBy === undefined ? {} : { endpoint: imdsSetBy },
      )
    case "app-service": {
      if (Option.isNone(d.identityEndpoint) || Option.isNone(d.identityHeader)) {
        return needs([
          ["IDENTITY_ENDPOINT", Option.isSome(d.identityEndpoint)],
          ["IDENTITY_HEADER", Option.isSome(d.identityHeader)],
        ])
      }
      const [url, header] = [d.identityEndpoint.value, d.identityHeader.value]
      return Either.flatMap(endpointOf(url, allow, "url"), (endpoint) =>
        done(
          { _tag: "AppService", endpoint, header: header.value },
          { endpoint: url.setBy, secret: header.setBy },
        ),
      )
    }
    case "service-fabric": {
      if (
        Option.isNone(d.identityEndpoint) ||
        Option.isNone(d.identityHeader) ||
        Option.isNone(d.identityServerThumbprint)
      ) {
        return needs([
          ["IDENTITY_ENDPOINT", Option.isSome(d.identityEndpoint)],
          ["IDENTITY_HEADER", Option.isSome(d.identityHeader)],
          ["IDENTITY_SERVER_THUMBPRINT", Option.isSome(d.identityServerThumbprint)],
        ])
      }
      const [url, header, pin] = [
        d.identityEndpoint.value,
        d.identityHeader.value,
        d.identityServerThumbprint.value,
      ]
      const thumbprint = normaliseThumbprint(pin.value)
      if (thumbprint === undefined) {
        return refuse(
          pin,
          "must be a SHA-1 certificate thumbprint: 40 hexadecimal digits (case, colons and spaces do not matter)",
        )
      }
      return Either.flatMap(endpointOf(url, allow, "url"), (endpoint) =>
        endpoint.startsWith("https:")
          ? done(
              { _tag: "ServiceFabric", endpoint, header: header.value, thumbprint },
              { endpoint: url.setBy, secret: header.setBy },
            )
          : refuse(
              url,
              "Service Fabric's endpoint must use https: azmi checks its certificate against IDENTITY_SERVER_THUMBPRINT before it sends IDENTITY_HEADER",
            ),
      )
    }
    case "azure-ml": {
      if (Option.isNone(d.msiEndpoint) || Option.isNone(d.msiSecret)) {
        return needs([
          ["MSI_ENDPOINT", Option.isSome(d.msiEndpoint)],
          ["MSI_SECRET", Option.isSome(d.msiSecret)],
        ])
      }
      const [url, secret] = [d.msiEndpoint.value, d.msiSecret.value]
      const defaultClient = Option.getOrUndefined(d.defaultIdentityClientId)
      if (defaultClient !== undefined && !isGuid(defaultClient.value.trim())) {
        return refuse(defaultClient, "must be a GUID (the client id of the compute's identity)")
      }
      return Either.flatMap(endpointOf(url, allow, "url"), (endpoint) =>
        done(
          { _tag: "AzureMl", endpoint, secret: secret.value, defaultClientId: defaultClient?.value.trim() },
          { endpoint: url.setBy, secret: secret.setBy },
        ),
      )
    }
    case "cloud-shell":
      if (Option.isNone(d.msiEndpoint)) return needs([["MSI_ENDPOINT", Option.isSome(d.msiEndpoint)]])
      return Either.flatMap(endpointOf(d.msiEndpoint.value, allow, "url"), (endpoint) =>
        done({ _tag: "CloudShell", endpoint }, { endpoint: d.msiEndpoint.pipe(Option.getOrThrow).setBy }),
      )
    case "arc": {
      // IMDS_ENDPOINT is never called, but it is still a URL somebody set: the same rule applies.
      if (Option.isSome(d.arcImdsEndpoint)) {
        const checked = endpointOf(d.arcImdsEndpoint.value, allow, "url")
        if (Either.isLeft(checked)) return Either.left(checked.left)
      }
      if (Option.isNone(d.identityEndpoint)) return done({ _tag: "AzureArc", endpoint: DEFAULT_ARC_ENDPOINT })
      const url = d.identityEndpoint.value
      return Either.flatMap(endpointOf(url, allow, "url"), (endpoint) =>
        done({ _tag: "AzureArc", endpoint: arcEndpoint(endpoint) }, { endpoint: url.setBy }),
      )
    }
    case "workload-identity": {
      if (d.identity._tag === "ObjectId" || d.identity._tag === "ResourceId") {
        // A federated credential belongs to an app or identity named by its client id: an object or
        // resource id given here would be ignored (as @azure/identity ignores it) — refuse instead.
        const field = d.identity._tag === "ObjectId" ? "objectId" : "resourceId"
        return refuse(
          unset(d.identitySetBy ?? `identity.${field}`),
          "workload identity signs in as the identity named by its client id (AZURE_CLIENT_ID): an object id or resource id cannot select it",
        )
      }
      const client = workloadClientId(d)
      if (Option.isNone(d.federatedTokenFile) || Option.isNone(d.tenantId) || client === undefined) {
        return needs([
          ["AZURE_FEDERATED_TOKEN_FILE", Option.isSome(d.federatedTokenFile)],
          ["AZURE_TENANT_ID", Option.isSome(d.tenantId)],
          ["AZURE_CLIENT_ID", client !== undefined],
        ])
      }
      // The one rule for workload identity's settings is the credential's own (`validate`); its
      // refusal names what the user set here (a flag for the client id, an option for the authority).
      const readOf: Readonly<Record<string, Pick<Settings.Read<unknown>, "setBy" | "variable">>> = {
        AZURE_FEDERATED_TOKEN_FILE: d.federatedTokenFile.value,
        AZURE_TENANT_ID: d.tenantId.value,
        AZURE_CLIENT_ID: { setBy: client.setBy, variable: "AZURE_CLIENT_ID" },
        AZURE_AUTHORITY_HOST: Option.getOrElse(d.authorityHost, () => unset("AZURE_AUTHORITY_HOST")),
      }
      const authority = Option.getOrUndefined(d.authorityHost)?.value
      return Either.flatMap(
        Either.mapLeft(
          WorkloadIdentityConfig.validate({
            _tag: "WorkloadIdentity",
            tokenFile: d.federatedTokenFile.value.value,
            tenantId: d.tenantId.value.value,
            clientId: client.clientId,
            authorityHost: authority,
          }),
          (e) => {
            const read = readOf[e.variable]
            return read === undefined ? e : Settings.invalid(read, e.reason)
          },
        ),
        (source) => done(source),
      )
    }
  }
}

/**
 * HIMDS listens on IPv4 loopback; the agent writes `localhost`, which may resolve to `::1` first. Like MSAL
 * Node, azmi asks 127.0.0.1 — by the parsed host name, not by replacing text anywhere in the URL.
 */
const arcEndpoint = (endpoint: string): string => {
  const url = new URL(endpoint)
  if (url.hostname !== "localhost") return endpoint
  url.hostname = "127.0.0.1"
  return url.href
}
