/**
 * Which Azure host this process runs on — and so where its managed-identity tokens come from — decided
 * once, from the environment, the way the SDKs decide it:
 *
 * 1. `AZMI_MI_SOURCE=<name>` (or the `managedIdentitySource` option) forces a host.
 * 2. Workload identity: `AZURE_FEDERATED_TOKEN_FILE` + `AZURE_TENANT_ID` + a client id (as
 *    `@azure/identity` checks it, before every MSAL source).
 * 3. Then MSAL's order: Service Fabric (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER` +
 *    `IDENTITY_SERVER_THUMBPRINT`) → App Service (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`) → Azure ML
 *    (`MSI_ENDPOINT` + `MSI_SECRET`) → Cloud Shell (`MSI_ENDPOINT`) → Azure Arc (`IDENTITY_ENDPOINT` +
 *    `IMDS_ENDPOINT`, or the Arc agent installed at `/opt/azcmagent/bin/himds`) → IMDS.
 *
 * A blank variable counts as unset (MSAL reports a host for `IDENTITY_HEADER=""` and then creates another:
 * azmi decides once). Every endpoint variable must name a loopback or link-local host (the one guard,
 * `internal/endpointGuard`), and every error names the variable to fix. Detection is a pure function of
 * the resolved variables (plus one probe for the Arc agent's file), so it is tested without a machine.
 * @module
 */
import { existsSync } from "node:fs"
import { Config, Either, Option, Redacted } from "effect"
import { InvalidConfiguration } from "./Errors.js"
import { IdentitySelector } from "./IdentitySelector.js"
import { checkEndpoint, parseUrl } from "./internal/endpointGuard.js"
import { optionalVariable } from "./internal/envVariable.js"
import { isGuid } from "./internal/guid.js"
import { normaliseThumbprint } from "./internal/thumbprint.js"

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
  | {
      readonly _tag: "WorkloadIdentity"
      /** `AZURE_FEDERATED_TOKEN_FILE`: the projected service-account token (the assertion). */
      readonly tokenFile: string
      readonly tenantId: string
      readonly clientId: string
      /** `AZURE_AUTHORITY_HOST` (https), default `https://login.microsoftonline.com`, no trailing slash. */
      readonly authorityHost: string
    }

/** Where the Arc agent lives on Linux: its presence alone means "Azure Arc" (MSAL's rule). */
export const HIMDS_PATH = "/opt/azcmagent/bin/himds"

/** HIMDS's token endpoint when only the agent's presence said "Arc" (127.0.0.1, not localhost: see `arcEndpoint`). */
export const DEFAULT_ARC_ENDPOINT = "http://127.0.0.1:40342/metadata/identity/oauth2/token"

/** The variables detection reads (blank = unset). */
export interface SourceVariables {
  readonly AZMI_MI_SOURCE?: string | undefined
  readonly IDENTITY_ENDPOINT?: string | undefined
  readonly IDENTITY_HEADER?: string | undefined
  readonly IDENTITY_SERVER_THUMBPRINT?: string | undefined
  readonly IMDS_ENDPOINT?: string | undefined
  readonly MSI_ENDPOINT?: string | undefined
  readonly MSI_SECRET?: string | undefined
  readonly DEFAULT_IDENTITY_CLIENT_ID?: string | undefined
  readonly AZURE_FEDERATED_TOKEN_FILE?: string | undefined
}

const variableNames = [
  "AZMI_MI_SOURCE",
  "IDENTITY_ENDPOINT",
  "IDENTITY_HEADER",
  "IDENTITY_SERVER_THUMBPRINT",
  "IMDS_ENDPOINT",
  "MSI_ENDPOINT",
  "MSI_SECRET",
  "DEFAULT_IDENTITY_CLIENT_ID",
  "AZURE_FEDERATED_TOKEN_FILE",
] as const satisfies ReadonlyArray<keyof SourceVariables>

/** {@link SourceVariables} from the environment (or any `ConfigProvider`). */
export const sourceVariables: Config.Config<SourceVariables> = Config.map(
  Config.all(Object.fromEntries(variableNames.map((name) => [name, optionalVariable(name)]))),
  (found) =>
    Object.fromEntries(
      Object.entries(found).map(([k, v]) => [k, Option.getOrUndefined(v)]),
    ) as SourceVariables,
)

/** Everything detection looks at, already resolved by the configuration. */
export interface DetectionInput {
  readonly variables: SourceVariables
  /** The `managedIdentitySource` option (wins over `AZMI_MI_SOURCE`). */
  readonly forced?: string | undefined
  /** An IMDS endpoint given in code (`imdsEndpoint` option): IMDS, unless a host is forced. */
  readonly imdsEndpointOption?: string | undefined
  /** An App Service endpoint given in code (`identityEndpoint` option): App Service, unless a host is forced. */
  readonly identityEndpointOption?: string | undefined
  /** The App Service header given in code (`identityHeader` option), else `IDENTITY_HEADER`. */
  readonly identityHeaderOption?: Redacted.Redacted<string> | undefined
  /** The IMDS base URL, already validated. */
  readonly imdsEndpoint: string
  /** What chose it (absent: IMDS's own address). */
  readonly imdsVariable?: string | undefined
  /** The identity asked for (its default, `AZURE_CLIENT_ID`, already applied). */
  readonly identity: IdentitySelector
  /** Where a client id given as the identity came from, for errors: the option or `AZURE_CLIENT_ID`. */
  readonly identityVariable?: string | undefined
  /** A client id for workload identity when the identity is system-assigned (`clientId` option, `AZURE_CLIENT_ID`). */
  readonly clientId?: string | undefined
  /** The tenant (`tenantId` option, `AZURE_TENANT_ID`), already validated, and what set it. */
  readonly tenantId?: string | undefined
  readonly tenantVariable?: string | undefined
  /** The authority host, already validated as a URL, and what set it (absent: the default). */
  readonly authorityHost: string
  readonly authorityVariable?: string | undefined
  readonly allowNonLocalEndpoints: boolean
  /** Whether the Arc agent is installed; asked only when no variable decided. Default: {@link himdsInstalled}. */
  readonly himdsInstalled?: (() => boolean) | undefined
}

/** The decision, with what made it. */
export interface Detection {
  readonly name: ManagedIdentitySourceName
  readonly source: ManagedIdentitySourceConfig
  /**
   * What decided it, in the order the rules read them: variables (`IDENTITY_ENDPOINT`, …), options
   * (`imdsEndpoint`, …), `AZMI_MI_SOURCE`, or the Arc agent's path. Empty: nothing did (IMDS).
   */
  readonly decidedBy: ReadonlyArray<string>
  /** The option or variable that set the endpoint (absent: the host's own default address). */
  readonly endpointVariable?: string | undefined
  /** The option or variable holding the secret the endpoint checks, if the host has one. */
  readonly secretVariable?: string | undefined
}

/** True when the Arc agent is installed here (Linux: {@link HIMDS_PATH}). */
export const himdsInstalled = (): boolean => process.platform === "linux" && existsSync(HIMDS_PATH)

/** The host's name for people: `IMDS`, `App Service`, `Service Fabric`, … */
export const displayName = (name: ManagedIdentitySourceName): string => DISPLAY[name]

const DISPLAY: Readonly<Record<ManagedIdentitySourceName, string>> = {
  imds: "IMDS",
  "app-service": "App Service",
  "service-fabric": "Service Fabric",
  "azure-ml": "Azure ML",
  "cloud-shell": "Cloud Shell",
  arc: "Azure Arc",
  "workload-identity": "workload identity",
}

/**
 * Whether a process on the host can also reach an IMDS (instance metadata): a VM, and the VMs under
 * Service Fabric, Azure ML compute and AKS. App Service, Cloud Shell and Arc-enabled servers have none.
 */
export const hostHasImds = (name: ManagedIdentitySourceName): boolean =>
  name === "imds" || name === "service-fabric" || name === "azure-ml" || name === "workload-identity"

const invalid = (variable: string, reason: string): Either.Either<never, InvalidConfiguration> =>
  Either.left(new InvalidConfiguration({ variable, reason }))

/**
 * Decide the host. Pure: the same input always gives the same answer (the Arc probe is part of the input).
 *
 * @example
 * ```ts
 * import { IdentitySelector, SourceDetection } from "@azmi/core"
 * SourceDetection.detectSource({
 *   variables: { MSI_ENDPOINT: "http://127.0.0.1:50342/oauth2/token" },
 *   imdsEndpoint: "http://169.254.169.254",
 *   identity: IdentitySelector.SystemAssigned(),
 *   authorityHost: "https://login.microsoftonline.com",
 *   allowNonLocalEndpoints: false,
 * }) // Right: { name: "cloud-shell", decidedBy: ["MSI_ENDPOINT"], … }
 * ```
 */
export const detectSource = (input: DetectionInput): Either.Either<Detection, InvalidConfiguration> => {
  const v = input.variables
  const forcedBy =
    input.forced !== undefined
      ? "managedIdentitySource"
      : v.AZMI_MI_SOURCE !== undefined
        ? "AZMI_MI_SOURCE"
        : undefined
  const forcedRaw = input.forced ?? v.AZMI_MI_SOURCE
  if (forcedBy !== undefined && forcedRaw !== undefined) {
    const name = SOURCE_NAMES.find((n) => n === forcedRaw.trim().toLowerCase())
    if (name === undefined) {
      return invalid(
        forcedBy,
        `must be one of ${SOURCE_NAMES.join(", ")} (got ${JSON.stringify(forcedRaw.slice(0, 40))})`,
      )
    }
    return build(name, input, [forcedBy], forcedBy)
  }
  if (input.imdsEndpointOption !== undefined) return build("imds", input, ["imdsEndpoint"])
  if (input.identityEndpointOption !== undefined) return build("app-service", input, ["identityEndpoint"])

  const header = input.identityHeaderOption !== undefined ? "identityHeader" : "IDENTITY_HEADER"
  const hasHeader = input.identityHeaderOption !== undefined || v.IDENTITY_HEADER !== undefined
  const workload = workloadIdentityClue(input)
  if (workload !== undefined) return build("workload-identity", input, workload)
  if (v.IDENTITY_ENDPOINT !== undefined && hasHeader && v.IDENTITY_SERVER_THUMBPRINT !== undefined) {
    return build("service-fabric", input, ["IDENTITY_ENDPOINT", header, "IDENTITY_SERVER_THUMBPRINT"])
  }
  if (v.IDENTITY_ENDPOINT !== undefined && hasHeader) {
    return build("app-service", input, ["IDENTITY_ENDPOINT", header])
  }
  if (v.MSI_ENDPOINT !== undefined && v.MSI_SECRET !== undefined) {
    return build("azure-ml", input, ["MSI_ENDPOINT", "MSI_SECRET"])
  }
  if (v.MSI_ENDPOINT !== undefined) return build("cloud-shell", input, ["MSI_ENDPOINT"])
  if (v.IDENTITY_ENDPOINT !== undefined && v.IMDS_ENDPOINT !== undefined) {
    return build("arc", input, ["IDENTITY_ENDPOINT", "IMDS_ENDPOINT"])
  }
  if ((input.himdsInstalled ?? himdsInstalled)()) return build("arc", input, [HIMDS_PATH])
  return build("imds", input, input.imdsVariable === undefined ? [] : [input.imdsVariable])
}

/** The variables that say "workload identity" (file + tenant + a client id), or `undefined`. */
const workloadIdentityClue = (input: DetectionInput): ReadonlyArray<string> | undefined => {
  if (input.variables.AZURE_FEDERATED_TOKEN_FILE === undefined || input.tenantId === undefined)
    return undefined
  const client = workloadClientId(input)
  if (client === undefined) return undefined
  return ["AZURE_FEDERATED_TOKEN_FILE", input.tenantVariable ?? "AZURE_TENANT_ID", client.variable]
}

const workloadClientId = (
  input: DetectionInput,
): { readonly clientId: string; readonly variable: string } | undefined => {
  if (input.identity._tag === "ClientId") {
    return { clientId: input.identity.clientId, variable: input.identityVariable ?? "AZURE_CLIENT_ID" }
  }
  return input.clientId === undefined ? undefined : { clientId: input.clientId, variable: "AZURE_CLIENT_ID" }
}

const needs = (forcedBy: string | undefined, name: ManagedIdentitySourceName, variables: string) =>
  forcedBy === undefined
    ? `${displayName(name)} needs ${variables}`
    : `${forcedBy}=${name} needs ${variables}`

const build = (
  name: ManagedIdentitySourceName,
  input: DetectionInput,
  decidedBy: ReadonlyArray<string>,
  forcedBy?: string,
): Either.Either<Detection, InvalidConfiguration> => {
  const v = input.variables
  const allow = input.allowNonLocalEndpoints
  const done = (
    source: ManagedIdentitySourceConfig,
    variables: { endpointVariable?: string | undefined; secretVariable?: string | undefined } = {},
  ) => Either.right<Detection>({ name, source, decidedBy, ...variables })
  switch (name) {
    case "imds":
      return done({ _tag: "Imds", endpoint: input.imdsEndpoint }, { endpointVariable: input.imdsVariable })
    case "app-service": {
      const [endpointVariable, raw] =
        input.identityEndpointOption !== undefined
          ? ["identityEndpoint", input.identityEndpointOption]
          : ["IDENTITY_ENDPOINT", v.IDENTITY_ENDPOINT]
      const header = input.identityHeaderOption ?? mapRedacted(v.IDENTITY_HEADER)
      const secretVariable = input.identityHeaderOption !== undefined ? "identityHeader" : "IDENTITY_HEADER"
      if (raw === undefined || header === undefined) {
        return invalid(
          raw === undefined ? endpointVariable : secretVariable,
          needs(forcedBy, name, "IDENTITY_ENDPOINT and IDENTITY_HEADER"),
        )
      }
      return Either.map(checkEndpoint(endpointVariable, raw, allow, "url"), (endpoint) => ({
        name,
        source: { _tag: "AppService" as const, endpoint, header },
        decidedBy,
        endpointVariable,
        secretVariable,
      }))
    }
    case "service-fabric": {
      const header = input.identityHeaderOption ?? mapRedacted(v.IDENTITY_HEADER)
      const secretVariable = input.identityHeaderOption !== undefined ? "identityHeader" : "IDENTITY_HEADER"
      const missing =
        v.IDENTITY_ENDPOINT === undefined
          ? "IDENTITY_ENDPOINT"
          : header === undefined
            ? secretVariable
            : v.IDENTITY_SERVER_THUMBPRINT === undefined
              ? "IDENTITY_SERVER_THUMBPRINT"
              : undefined
      if (missing !== undefined || header === undefined) {
        return invalid(
          missing ?? secretVariable,
          needs(forcedBy, name, "IDENTITY_ENDPOINT, IDENTITY_HEADER and IDENTITY_SERVER_THUMBPRINT"),
        )
      }
      const thumbprint = normaliseThumbprint(v.IDENTITY_SERVER_THUMBPRINT ?? "")
      if (thumbprint === undefined) {
        return invalid(
          "IDENTITY_SERVER_THUMBPRINT",
          "must be a SHA-1 certificate thumbprint: 40 hexadecimal digits (case, colons and spaces do not matter)",
        )
      }
      return Either.flatMap(
        checkEndpoint("IDENTITY_ENDPOINT", v.IDENTITY_ENDPOINT ?? "", allow, "url"),
        (endpoint) =>
          endpoint.startsWith("https:")
            ? done(
                { _tag: "ServiceFabric", endpoint, header, thumbprint },
                { endpointVariable: "IDENTITY_ENDPOINT", secretVariable },
              )
            : invalid(
                "IDENTITY_ENDPOINT",
                "Service Fabric's endpoint must use https: azmi checks its certificate against IDENTITY_SERVER_THUMBPRINT before it sends IDENTITY_HEADER",
              ),
      )
    }
    case "azure-ml": {
      const secret = mapRedacted(v.MSI_SECRET)
      if (v.MSI_ENDPOINT === undefined || secret === undefined) {
        return invalid(
          v.MSI_ENDPOINT === undefined ? "MSI_ENDPOINT" : "MSI_SECRET",
          needs(forcedBy, name, "MSI_ENDPOINT and MSI_SECRET"),
        )
      }
      const defaultClientId = v.DEFAULT_IDENTITY_CLIENT_ID?.trim()
      if (defaultClientId !== undefined && !isGuid(defaultClientId)) {
        return invalid(
          "DEFAULT_IDENTITY_CLIENT_ID",
          "must be a GUID (the client id of the compute's identity)",
        )
      }
      return Either.flatMap(checkEndpoint("MSI_ENDPOINT", v.MSI_ENDPOINT, allow, "url"), (endpoint) =>
        done(
          { _tag: "AzureMl", endpoint, secret, defaultClientId },
          { endpointVariable: "MSI_ENDPOINT", secretVariable: "MSI_SECRET" },
        ),
      )
    }
    case "cloud-shell":
      if (v.MSI_ENDPOINT === undefined) return invalid("MSI_ENDPOINT", needs(forcedBy, name, "MSI_ENDPOINT"))
      return Either.flatMap(checkEndpoint("MSI_ENDPOINT", v.MSI_ENDPOINT, allow, "url"), (endpoint) =>
        done({ _tag: "CloudShell", endpoint }, { endpointVariable: "MSI_ENDPOINT" }),
      )
    case "arc": {
      // IMDS_ENDPOINT is never called, but it is still a URL somebody set: the same rule applies.
      const imds =
        v.IMDS_ENDPOINT === undefined
          ? Either.right("")
          : checkEndpoint("IMDS_ENDPOINT", v.IMDS_ENDPOINT, allow, "url")
      if (Either.isLeft(imds)) return Either.left(imds.left)
      if (v.IDENTITY_ENDPOINT === undefined) return done({ _tag: "AzureArc", endpoint: DEFAULT_ARC_ENDPOINT })
      return Either.flatMap(
        checkEndpoint("IDENTITY_ENDPOINT", v.IDENTITY_ENDPOINT, allow, "url"),
        (endpoint) =>
          done(
            { _tag: "AzureArc", endpoint: arcEndpoint(endpoint) },
            { endpointVariable: "IDENTITY_ENDPOINT" },
          ),
      )
    }
    case "workload-identity": {
      const file = v.AZURE_FEDERATED_TOKEN_FILE
      if (file === undefined) {
        return invalid(
          "AZURE_FEDERATED_TOKEN_FILE",
          needs(forcedBy, name, "AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID and AZURE_CLIENT_ID"),
        )
      }
      if (input.tenantId === undefined) {
        return invalid(
          "AZURE_TENANT_ID",
          needs(forcedBy, name, "AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID and AZURE_CLIENT_ID"),
        )
      }
      if (input.identity._tag === "ObjectId" || input.identity._tag === "ResourceId") {
        // A federated credential belongs to an app or identity named by its client id: an object or
        // resource id given here would be ignored (as @azure/identity ignores it) — refuse instead.
        return invalid(
          input.identity._tag === "ObjectId" ? "identity.objectId" : "identity.resourceId",
          "workload identity signs in as the identity named by its client id (AZURE_CLIENT_ID): an object id or resource id cannot select it",
        )
      }
      const client = workloadClientId(input)
      if (client === undefined) {
        return invalid(
          "AZURE_CLIENT_ID",
          needs(forcedBy, name, "AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID and AZURE_CLIENT_ID"),
        )
      }
      // The assertion proves the workload's identity to the authority: it travels over https only.
      if (!input.authorityHost.startsWith("https://")) {
        return invalid(
          input.authorityVariable ?? "AZURE_AUTHORITY_HOST",
          "must use https: workload identity sends its assertion (the service-account token) there",
        )
      }
      return done({
        _tag: "WorkloadIdentity",
        tokenFile: file,
        tenantId: input.tenantId,
        clientId: client.clientId,
        authorityHost: input.authorityHost,
      })
    }
  }
}

const mapRedacted = (value: string | undefined) => (value === undefined ? undefined : Redacted.make(value))

/**
 * HIMDS listens on IPv4 loopback; the agent writes `localhost`, which may resolve to `::1` first. Like MSAL
 * Node, azmi asks 127.0.0.1 — by the parsed host name, not by replacing text anywhere in the URL.
 */
const arcEndpoint = (endpoint: string): string => {
  const url = parseUrl(endpoint)
  if (url === undefined || url.hostname !== "localhost") return endpoint
  url.hostname = "127.0.0.1"
  return url.href
}

/** The name a forced or detected host is selected by, e.g. for `AZMI_MI_SOURCE`. */
export const isSourceName = (s: string): s is ManagedIdentitySourceName =>
  (SOURCE_NAMES as ReadonlyArray<string>).includes(s)

/** A selector that is not system-assigned (hosts that accept only the system-assigned identity refuse it). */
export const isUserAssigned = (selector: IdentitySelector): boolean =>
  !IdentitySelector.$is("SystemAssigned")(selector)
