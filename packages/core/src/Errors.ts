/**
 * Every way azmi can fail, as tagged errors in the Effect error channel.
 *
 * Each error carries the facts a program needs to branch on (status, selector, action, scope) and a
 * `message` that tells a person what happened; `hint` (when there is one) tells them what to do.
 * No error ever carries a token or a client secret.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TokenProvider } from "@azmi/core"
 *
 * const program = Effect.flatMap(TokenProvider, (tp) => tp.getToken("https://management.azure.com/")).pipe(
 *   Effect.catchTag("IdentityNotFound", (e) => Effect.logWarning(e.message)),
 * )
 * ```
 * @module
 */
import { Schema } from "effect"
import { grantingRole, WHO_GRANTS } from "./internal/grantingRole.js"

const OptionalString = Schema.optional(Schema.String)
const OptionalNumber = Schema.optional(Schema.Number)

// ---------------------------------------------------------------------------------------------------
// Input and configuration
// ---------------------------------------------------------------------------------------------------

/** A value the caller supplied breaks a rule; no request was made. */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", {
  /** The name of the field, option or parameter, e.g. `subscriptionId`. */
  field: Schema.String,
  /** The rule the value broke, as a sentence fragment ("must be a GUID"). */
  rule: Schema.String,
  /** The offending value (never a secret), possibly truncated. */
  value: OptionalString,
}) {
  override get message(): string {
    const shown = this.value === undefined ? "" : ` (got ${JSON.stringify(truncate(this.value, 80))})`
    return `Invalid ${this.field}: ${this.rule}${shown}.`
  }
  get hint(): string | undefined {
    return undefined
  }
}

/** Configuration (environment variables, flags or options) is invalid or unsafe. */
export class InvalidConfiguration extends Schema.TaggedError<InvalidConfiguration>()("InvalidConfiguration", {
  /**
   * What the user set: the command-line flag (`--imds-endpoint`), the option in code (`imdsEndpoint`)
   * or the environment variable (`AZMI_IMDS_ENDPOINT`).
   */
  variable: Schema.String,
  reason: Schema.String,
  /** The environment variable a flag or option in `variable` stands for (they are one setting). */
  standsFor: OptionalString,
}) {
  override get message(): string {
    const also = this.standsFor === undefined ? "" : ` (${this.standsFor})`
    return `Invalid configuration ${this.variable}${also}: ${this.reason}.`
  }
  get hint(): string | undefined {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------------
// Managed identity / token acquisition
// ---------------------------------------------------------------------------------------------------

/** Nothing answered at the managed-identity endpoint: not on Azure, or IMDS blocked. */
export class ImdsUnavailable extends Schema.TaggedError<ImdsUnavailable>()("ImdsUnavailable", {
  endpoint: Schema.String,
  reason: Schema.Literal("ConnectionRefused", "ConnectTimeout", "Unreachable"),
  detail: OptionalString,
  /** The option or environment variable that chose the endpoint (absent: IMDS's own address). */
  endpointVariable: OptionalString,
}) {
  override get message(): string {
    const why =
      this.reason === "ConnectionRefused"
        ? "the connection was refused"
        : this.reason === "ConnectTimeout"
          ? "no TCP connection could be made in time"
          : "the host is unreachable"
    return `No managed identity endpoint at ${this.endpoint}: ${why}.`
  }
  get hint(): string | undefined {
    switch (this.endpointVariable) {
      case undefined:
        return "Run on an Azure VM with a managed identity, or point AZMI_IMDS_ENDPOINT at an emulator (`azmi emulator`)."
      case "IDENTITY_ENDPOINT":
      case "identityEndpoint":
        return `Nothing answers at ${this.endpointVariable} (${this.endpoint}): start the identity endpoint it names (e.g. azmi-http's token broker), or correct or unset ${this.endpointVariable}.`
      default: {
        // A flag is left out of the command line; a variable or option is unset.
        const v = this.endpointVariable
        const fix = v.startsWith("--") ? `correct ${v} or leave it out` : `correct or unset ${v}`
        return `Nothing answers at ${v} (${this.endpoint}): start what it points at (e.g. \`azmi emulator\`), or ${fix}.`
      }
    }
  }
}

/** IMDS says the requested identity is not assigned to this VM (or no identity is). */
export class IdentityNotFound extends Schema.TaggedError<IdentityNotFound>()("IdentityNotFound", {
  /** Which identity was asked for, e.g. `system-assigned` or `client_id=…`. */
  selector: Schema.String,
  description: OptionalString,
  /** The host that said so when it is not a VM's IMDS, e.g. `Service Fabric`. */
  source: OptionalString,
}) {
  override get message(): string {
    return `Identity not found: the ${this.selector} identity is not assigned to this resource.`
  }
  get hint(): string | undefined {
    if (this.source === "Service Fabric") {
      return "Service Fabric gives an application the identity its cluster resource declares: assign a managed identity to the application (its ARM template), then redeploy it."
    }
    const resource = this.source === undefined ? "the VM" : `this ${this.source} resource`
    return this.selector === "system-assigned"
      ? `Enable the system-assigned identity on ${resource}, or set AZURE_CLIENT_ID to a user-assigned identity's client id.`
      : `Assign that user-assigned identity to ${resource}, or check the id you passed.`
  }
}

/**
 * Several user-assigned identities exist and none was named. (Hints here are read by every caller —
 * the CLI, azmi-http, the SDK credential — so they name what all of them honour; a shell adds its own
 * options where it has them.)
 */
export class MultipleIdentities extends Schema.TaggedError<MultipleIdentities>()("MultipleIdentities", {
  description: OptionalString,
}) {
  override get message(): string {
    return "Several user-assigned identities are assigned to this resource and none was selected."
  }
  get hint(): string | undefined {
    return "Name the identity to use: set AZURE_CLIENT_ID to its client id."
  }
}

/** The token issuer does not know the requested resource (audience). */
export class InvalidResource extends Schema.TaggedError<InvalidResource>()("InvalidResource", {
  resource: Schema.String,
  description: OptionalString,
}) {
  override get message(): string {
    return `The resource ${JSON.stringify(this.resource)} is not known to the token issuer.`
  }
  get hint(): string | undefined {
    return "Use the resource's exact App ID URI, e.g. https://management.azure.com/ (trailing slash included)."
  }
}

/** IMDS kept answering 429 until retries ran out. */
export class ImdsThrottled extends Schema.TaggedError<ImdsThrottled>()("ImdsThrottled", {
  attempts: Schema.Number,
  retryAfterSeconds: OptionalNumber,
}) {
  override get message(): string {
    return `IMDS throttled the token request (429) on all ${this.attempts} attempts.`
  }
  get hint(): string | undefined {
    return "IMDS allows 20 requests/s and 5 concurrent per VM: share one token cache (azmi-http) between processes."
  }
}

/** The managed-identity endpoint answered with an error that azmi has no more specific type for. */
export class TokenRequestFailed extends Schema.TaggedError<TokenRequestFailed>()("TokenRequestFailed", {
  endpoint: Schema.String,
  status: Schema.Number,
  error: OptionalString,
  errorDescription: OptionalString,
  attempts: Schema.Number,
  /** The option or environment variable that chose the endpoint (absent: the default). */
  endpointVariable: OptionalString,
  /** The option or environment variable holding the secret the endpoint checks (App Service's `IDENTITY_HEADER`). */
  secretVariable: OptionalString,
  /** The header that carried that secret (absent: App Service's `X-IDENTITY-HEADER`). */
  secretHeader: OptionalString,
}) {
  override get message(): string {
    const detail = [this.error, this.errorDescription].filter((s) => s !== undefined && s !== "").join(": ")
    return `Token request to ${this.endpoint} failed with HTTP ${this.status} after ${this.attempts} attempt(s)${detail === "" ? "" : ` (${detail})`}.`
  }
  get hint(): string | undefined {
    if (this.status === 401 || this.status === 403) {
      // The endpoint refused this caller: retrying or waiting does not help; the configuration does.
      if (this.secretVariable !== undefined) {
        return this.secretHeader === undefined
          ? `The endpoint refused the X-IDENTITY-HEADER azmi sent: set ${this.secretVariable} to the secret it expects (for an azmi-http broker, the value of its AZMI_IDENTITY_HEADER).`
          : `The endpoint refused the ${this.secretHeader} header azmi sent: set ${this.secretVariable} to the secret the host gave this process.`
      }
      return this.endpointVariable !== undefined
        ? `The endpoint at ${this.endpointVariable} refused azmi: check that ${this.endpointVariable} names a managed-identity endpoint this process may use.`
        : "The endpoint refused azmi; check what answers at this address (a proxy?)."
    }
    return this.status >= 500 || this.status === 404 || this.status === 410
      ? "The endpoint is having trouble; try again later."
      : undefined
  }
}

/** The token response could not be understood: not JSON, or a required field missing or invalid. */
export class MalformedTokenResponse extends Schema.TaggedError<MalformedTokenResponse>()(
  "MalformedTokenResponse",
  {
    endpoint: Schema.String,
    /** The field that was missing or invalid, when one was. */
    field: OptionalString,
    detail: Schema.String,
  },
) {
  override get message(): string {
    return `Malformed token response from ${this.endpoint}${this.field === undefined ? "" : ` (field ${this.field})`}: ${this.detail}.`
  }
  get hint(): string | undefined {
    return "Something other than a token endpoint may be answering at that address (a proxy?)."
  }
}

/**
 * The token endpoint answered with a token that is already expired (or expires within
 * `TokenResponse.MIN_REMAINING_LIFETIME_MS`): handing it on would only move the failure to its user.
 */
export class TokenAlreadyExpired extends Schema.TaggedError<TokenAlreadyExpired>()("TokenAlreadyExpired", {
  endpoint: Schema.String,
  /** The token's expiry, epoch ms. */
  expiresOn: Schema.Number,
  /** This machine's clock when the token arrived, epoch ms. */
  receivedAt: Schema.Number,
}) {
  override get message(): string {
    const at = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms))
    return `The token from ${this.endpoint} is already expired or about to expire: it expires at ${at(this.expiresOn)}, and this machine's clock reads ${at(this.receivedAt)}.`
  }
  get hint(): string | undefined {
    return "Check this machine's clock (e.g. timedatectl); if it is right, the endpoint handed out a stale token: try again later."
  }
}

/**
 * The server's TLS certificate failed verification, so nothing was sent. Permanent: another attempt
 * would make the same handshake, so azmi fails at once (for every endpoint: IMDS, App Service, the
 * token issuer, ARM).
 */
export class TlsCertificateRejected extends Schema.TaggedError<TlsCertificateRejected>()(
  "TlsCertificateRejected",
  {
    endpoint: Schema.String,
    /** Node's code for the problem, e.g. `SELF_SIGNED_CERT_IN_CHAIN`, `CERT_HAS_EXPIRED`, `ERR_TLS_CERT_ALTNAME_INVALID`. */
    code: Schema.String,
    /** Node's description of it. */
    detail: Schema.String,
  },
) {
  override get message(): string {
    return `The TLS certificate of ${this.endpoint} was rejected: ${this.code} (${truncate(this.detail, 200)}).`
  }
  get hint(): string | undefined {
    switch (this.code) {
      case "CERT_HAS_EXPIRED":
      case "CERT_NOT_YET_VALID":
      case "ERROR_IN_CERT_NOT_BEFORE_FIELD":
      case "ERROR_IN_CERT_NOT_AFTER_FIELD":
        return "The certificate is outside its validity period: check this machine's clock; if it is right, the server needs a new certificate (trusting another CA does not help)."
      case "ERR_TLS_CERT_ALTNAME_INVALID":
      case "ERR_TLS_CERT_ALTNAME_FORMAT":
      case "HOSTNAME_MISMATCH":
        return "The certificate does not name the host azmi connected to: use the host name the certificate was issued for in the endpoint URL."
      case "CERT_REVOKED":
        return "The certificate was revoked: the server needs a new one."
      default:
        return "If the server's certificate comes from a private CA (the emulator's, a private cloud's), trust that CA: AZMI_CA_CERT_FILE=<ca.pem> (read by azmi), or NODE_EXTRA_CA_CERTS=<ca.pem> (read when Node starts)."
    }
  }
}

/**
 * The host takes only its system-assigned identity (Cloud Shell, Service Fabric), or selects a user-assigned
 * one by client id only (Azure ML), and another was asked for. Refused before any request was sent.
 */
export class IdentitySelectionUnsupported extends Schema.TaggedError<IdentitySelectionUnsupported>()(
  "IdentitySelectionUnsupported",
  {
    /** The host, e.g. `Cloud Shell`. */
    source: Schema.String,
    /** What was asked for, e.g. `client_id=…`. */
    selector: Schema.String,
    /** What the host accepts. */
    supported: Schema.Literal("system-assigned", "client-id"),
  },
) {
  override get message(): string {
    const accepts =
      this.supported === "system-assigned"
        ? "only its system-assigned identity"
        : "a user-assigned identity by its client id only"
    return `${this.source} supports ${accepts}, and ${this.selector} was asked for; no token request was sent.`
  }
  get hint(): string | undefined {
    switch (this.source) {
      case "Service Fabric":
        return "A Service Fabric application's identity is set in the cluster (the application's ARM template), not per request: unset AZURE_CLIENT_ID and do not name an identity."
      case "Cloud Shell":
        return "Cloud Shell has one identity, the signed-in user's: unset AZURE_CLIENT_ID and do not name an identity."
      default:
        return this.supported === "client-id"
          ? `Name the user-assigned identity by its client id (AZURE_CLIENT_ID) on ${this.source}.`
          : "Unset AZURE_CLIENT_ID and do not name an identity."
    }
  }
}

/** Where Azure Arc's challenge key files live (HIMDS writes them; only root and the `himds` group may read them). */
export const ARC_KEY_DIRECTORY = "/var/opt/azcmagent/tokens"

/** What to do when this user may not read Arc's key files (the token error and `azmi doctor` say the same). */
export const HIMDS_GROUP_HINT = `Only root and members of the himds group may read ${ARC_KEY_DIRECTORY}: run as root, or add this user to the group (sudo usermod -aG himds "$USER", then log in again).`

/**
 * Azure Arc's challenge could not be answered safely, so nothing from the key file was sent: the 401's
 * `WWW-Authenticate: Basic realm=<file>` was missing or malformed, named a file other than
 * `/var/opt/azcmagent/tokens/<name>.key`, or the file was a link, not a regular file, too large,
 * unreadable or empty — or HIMDS refused the file's secret (azmi answers one challenge only).
 */
export class ArcChallengeFailed extends Schema.TaggedError<ArcChallengeFailed>()("ArcChallengeFailed", {
  endpoint: Schema.String,
  /** The rule that failed. */
  rule: Schema.Literal(
    "missing-header",
    "header-format",
    "path",
    "platform",
    "missing-file",
    "symlink",
    "not-regular-file",
    "too-large",
    "unreadable",
    "invalid-content",
    "refused",
  ),
  /** The key file's path, once the challenge named one that passed the path rule (or the raw realm, truncated). */
  path: OptionalString,
  /** More: the errno code for `unreadable`, the platform for `platform`. Never the file's content. */
  detail: OptionalString,
}) {
  override get message(): string {
    const file = this.path ?? "the key file"
    const nothingSent = " Nothing from the file was sent."
    const messages: Record<ArcChallengeFailed["rule"], string> = {
      "missing-header": `Azure Arc at ${this.endpoint} answered 401 without a WWW-Authenticate: Basic realm=<key file> challenge.`,
      "header-format": `Azure Arc's challenge is not "Basic realm=<key file>" (got ${JSON.stringify(truncate(this.detail ?? "", 120))}).${nothingSent}`,
      path: `Azure Arc's challenge names ${JSON.stringify(truncate(this.path ?? "", 200))}, which is not a file ${ARC_KEY_DIRECTORY}/<name>.key (azmi reads the key only from there, after normalising the path).${nothingSent}`,
      platform: `Azure Arc's key files are read on Linux only (this is ${this.detail ?? "another platform"}).`,
      "missing-file": `Azure Arc's key file ${file} does not exist.`,
      symlink: `Azure Arc's key file ${file} is a symbolic link, or its directory resolves elsewhere: azmi reads only a regular file inside ${ARC_KEY_DIRECTORY}.${nothingSent}`,
      "not-regular-file": `Azure Arc's key file ${file} is not a regular file.${nothingSent}`,
      "too-large": `Azure Arc's key file ${file} is larger than 4096 bytes.${nothingSent}`,
      unreadable: `Azure Arc's key file ${file} could not be read (${this.detail ?? "error"}).`,
      "invalid-content": `Azure Arc's key file ${file} holds no usable secret (it is empty or contains control characters).${nothingSent}`,
      refused: `Azure Arc at ${this.endpoint} refused the secret from its own key file ${file}; azmi answers one challenge only.`,
    }
    return messages[this.rule]
  }
  get hint(): string | undefined {
    switch (this.rule) {
      case "unreadable":
        return this.detail === "EACCES" || this.detail === "EPERM" ? HIMDS_GROUP_HINT : undefined
      case "platform":
        return "Use the Arc agent's endpoint from Linux, or another credential on this platform."
      case "refused":
        return "Retry later; if it persists, restart the Azure Connected Machine agent (sudo systemctl restart himdsd)."
      default:
        return "Something other than the Azure Connected Machine agent may be answering at IDENTITY_ENDPOINT: check what listens there (the agent uses port 40342)."
    }
  }
}

/**
 * A user-assigned identity was asked for and the host's token response did not name it (Azure Arc echoes
 * the id it honoured): the token may be the system-assigned identity's, so azmi discards it (fail closed).
 */
export class UserAssignedIdentityNotConfirmed extends Schema.TaggedError<UserAssignedIdentityNotConfirmed>()(
  "UserAssignedIdentityNotConfirmed",
  {
    source: Schema.String,
    selector: Schema.String,
  },
) {
  override get message(): string {
    return `${this.source} did not confirm the requested user-assigned identity (${this.selector}) in its token response, so the token was discarded: it may belong to the system-assigned identity.`
  }
  get hint(): string | undefined {
    return "Update the Azure Connected Machine agent (user-assigned identities need a recent one), or use the system-assigned identity: unset AZURE_CLIENT_ID."
  }
}

/**
 * The server's certificate is not the one `IDENTITY_SERVER_THUMBPRINT` names (Service Fabric): the
 * connection was closed before anything — the secret included — was sent.
 */
export class ServerCertificateMismatch extends Schema.TaggedError<ServerCertificateMismatch>()(
  "ServerCertificateMismatch",
  {
    endpoint: Schema.String,
    /** The thumbprint configured, normalised (40 upper-case hex digits). */
    expected: Schema.String,
    /** The SHA-1 thumbprint of the certificate the server presented. */
    actual: Schema.String,
    /** The variable that holds `expected`. */
    variable: Schema.String,
  },
) {
  override get message(): string {
    return `The certificate of ${this.endpoint} has SHA-1 thumbprint ${this.actual}, but ${this.variable} is ${this.expected}; the connection was closed and the secret was not sent.`
  }
  get hint(): string | undefined {
    return `Something other than the Service Fabric managed-identity endpoint answers there, or ${this.variable} is stale: compare it with the cluster's certificate.`
  }
}

/** The host has no instance metadata service (App Service, Cloud Shell, Azure Arc): there is no VM metadata. */
export class NoInstanceMetadata extends Schema.TaggedError<NoInstanceMetadata>()("NoInstanceMetadata", {
  /** The host, e.g. `App Service`. */
  source: Schema.String,
}) {
  override get message(): string {
    return `${this.source} has no instance metadata service (IMDS): there is no VM metadata to read on this host.`
  }
  get hint(): string | undefined {
    return "Name the subscription and resource group explicitly wherever they are needed, or point AZMI_IMDS_ENDPOINT at an IMDS."
  }
}

/** An operation did not finish within its time budget. */
export class Timeout extends Schema.TaggedError<Timeout>()("Timeout", {
  operation: Schema.String,
  millis: Schema.Number,
  /** Which budget ran out: one attempt's (`AZMI_ATTEMPT_TIMEOUT_MS`) or the whole call's (the default). */
  budget: Schema.optional(Schema.Literal("attempt", "deadline")),
}) {
  override get message(): string {
    return `${this.operation} did not complete within ${this.millis} ms.`
  }
  get hint(): string | undefined {
    return this.budget === "attempt"
      ? `Every attempt ran out of its ${this.millis} ms: raise AZMI_ATTEMPT_TIMEOUT_MS if the endpoint is just slow (--timeout bounds the whole call, not one attempt).`
      : "Raise the limit with --timeout (or AZMI_DEADLINE_MS) if the endpoint is just slow."
  }
}

/** The service principal's token request was refused by the token issuer (bad secret, unknown client…). */
export class ClientAuthenticationFailed extends Schema.TaggedError<ClientAuthenticationFailed>()(
  "ClientAuthenticationFailed",
  {
    authority: Schema.String,
    status: Schema.Number,
    error: OptionalString,
    errorDescription: OptionalString,
  },
) {
  override get message(): string {
    return `The token issuer at ${this.authority} refused the client credentials (HTTP ${this.status}${this.error === undefined ? "" : `, ${this.error}`}).`
  }
  get hint(): string | undefined {
    return "Check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET."
  }
}

// ---------------------------------------------------------------------------------------------------
// Azure Resource Manager
// ---------------------------------------------------------------------------------------------------

const RequestIds = {
  requestId: OptionalString,
  correlationId: OptionalString,
}

/** ARM refused the call: the identity lacks a role that grants `action` over `scope`. */
export class AuthorizationFailed extends Schema.TaggedError<AuthorizationFailed>()("AuthorizationFailed", {
  action: Schema.String,
  scope: Schema.String,
  principalId: OptionalString,
  clientId: OptionalString,
  armMessage: Schema.String,
  ...RequestIds,
}) {
  override get message(): string {
    return `Authorization failed: ${this.principalId === undefined ? "the caller" : `principal ${this.principalId}`} may not perform '${this.action}' over scope '${this.scope}'.`
  }
  /**
   * The exact command that grants the missing access, with a built-in role whose permissions include
   * `action` (Reader for reads; User Access Administrator for role assignments, which Contributor may
   * not write), and who must run it: the denied identity cannot grant itself anything.
   */
  get hint(): string | undefined {
    if (this.principalId === undefined) return undefined
    const role = grantingRole(this.action)
    return `${WHO_GRANTS} must run: azmi role assignment create --assignee-object-id ${this.principalId} --role ${shellWord(role)} --scope ${shellWord(this.scope)}`
  }
}

/** The resource group does not exist in the subscription. */
export class ResourceGroupNotFound extends Schema.TaggedError<ResourceGroupNotFound>()(
  "ResourceGroupNotFound",
  {
    subscriptionId: Schema.String,
    resourceGroupName: Schema.String,
    ...RequestIds,
  },
) {
  override get message(): string {
    return `Resource group '${this.resourceGroupName}' could not be found in subscription ${this.subscriptionId}.`
  }
  get hint(): string | undefined {
    return "Check the name (it is case-insensitive) and the subscription; `azmi group list` shows what you can see."
  }
}

/** The subscription does not exist (or is not visible to the caller's tenant). */
export class SubscriptionNotFound extends Schema.TaggedError<SubscriptionNotFound>()("SubscriptionNotFound", {
  subscriptionId: Schema.String,
  ...RequestIds,
}) {
  override get message(): string {
    return `The subscription '${this.subscriptionId}' could not be found.`
  }
  get hint(): string | undefined {
    return "Check --subscription; by default azmi uses the VM's own subscription from instance metadata."
  }
}

/** ARM rejected the bearer token (missing, malformed, expired, wrong audience or wrong tenant). */
export class InvalidAuthenticationToken extends Schema.TaggedError<InvalidAuthenticationToken>()(
  "InvalidAuthenticationToken",
  {
    reason: Schema.Literal("Invalid", "Audience", "Expired", "WrongTenant", "Missing"),
    code: Schema.String,
    armMessage: Schema.String,
    ...RequestIds,
  },
) {
  override get message(): string {
    return `ARM rejected the access token (${this.code}): ${this.armMessage}`
  }
  get hint(): string | undefined {
    switch (this.reason) {
      case "Audience":
        return "Request the token for https://management.azure.com/ (or set AZMI_ARM_AUDIENCE for sovereign clouds)."
      case "WrongTenant":
        return "The identity belongs to another tenant than the subscription."
      case "Expired":
        return "The token expired; azmi already retried once with a fresh token. Check the machine's clock."
      default:
        return undefined
    }
  }
}

/** ARM kept answering 429 until retries ran out. */
export class ArmThrottled extends Schema.TaggedError<ArmThrottled>()("ArmThrottled", {
  retryAfterSeconds: OptionalNumber,
  armMessage: OptionalString,
  ...RequestIds,
}) {
  override get message(): string {
    return `ARM throttled the request (429)${this.retryAfterSeconds === undefined ? "" : `; retry after ${this.retryAfterSeconds} s`}.`
  }
  get hint(): string | undefined {
    return "Slow down, or cache reads (azmi-http caches resource-group reads)."
  }
}

/** A role name could not be resolved to a role definition at the scope. */
export class RoleNotFound extends Schema.TaggedError<RoleNotFound>()("RoleNotFound", {
  role: Schema.String,
  scope: Schema.String,
}) {
  override get message(): string {
    return `No role definition named '${this.role}' is available at scope '${this.scope}'.`
  }
  get hint(): string | undefined {
    return "Built-in roles: Reader, Contributor, Owner. Or pass the role definition's GUID."
  }
}

/** Nothing answered at the ARM endpoint (connection refused, reset, no response) after retries. */
export class ArmUnreachable extends Schema.TaggedError<ArmUnreachable>()("ArmUnreachable", {
  endpoint: Schema.String,
  detail: Schema.String,
  attempts: Schema.Number,
  /** The option or environment variable that chose the endpoint (absent: public-cloud ARM). */
  endpointVariable: OptionalString,
}) {
  override get message(): string {
    return `ARM at ${this.endpoint} could not be reached after ${this.attempts} attempt(s): ${this.detail}.`
  }
  get hint(): string | undefined {
    return this.endpointVariable === undefined
      ? "Check the network (and any firewall or proxy) between this machine and ARM."
      : `Check ${this.endpointVariable} (${this.endpoint}) and the network.`
  }
}

/** Any other ARM failure: the status, ARM's error code and message, and the request ids to quote. */
export class ArmRequestFailed extends Schema.TaggedError<ArmRequestFailed>()("ArmRequestFailed", {
  status: Schema.Number,
  code: Schema.String,
  armMessage: Schema.String,
  attempts: Schema.Number,
  ...RequestIds,
}) {
  override get message(): string {
    return `ARM request failed with HTTP ${this.status} ${this.code}: ${this.armMessage}`
  }
  get hint(): string | undefined {
    return this.requestId === undefined
      ? undefined
      : `Quote x-ms-request-id ${this.requestId} to Azure support.`
  }
}

// ---------------------------------------------------------------------------------------------------
// Unions and classification
// ---------------------------------------------------------------------------------------------------

/** Failures of token acquisition (managed identity or service principal). */
export type TokenError =
  | InvalidInput
  | InvalidConfiguration
  | ImdsUnavailable
  | IdentityNotFound
  | MultipleIdentities
  | InvalidResource
  | ImdsThrottled
  | TokenRequestFailed
  | MalformedTokenResponse
  | TokenAlreadyExpired
  | Timeout
  | ClientAuthenticationFailed
  | TlsCertificateRejected
  | IdentitySelectionUnsupported
  | ArcChallengeFailed
  | UserAssignedIdentityNotConfirmed
  | ServerCertificateMismatch
  | NoInstanceMetadata

/** Failures of ARM calls (which include getting the token for them). */
export type ArmError =
  | TokenError
  | AuthorizationFailed
  | ResourceGroupNotFound
  | SubscriptionNotFound
  | InvalidAuthenticationToken
  | ArmThrottled
  | RoleNotFound
  | ArmUnreachable
  | ArmRequestFailed

/** Every typed failure azmi produces. */
export type AzmiError = ArmError

/**
 * What kind of failure an error is, coarsely: the CLI's exit codes, and the SDK credential's error
 * name, follow it. {@link ErrorKind} refines it with whose fault the failure is.
 */
export type ErrorCategory =
  | "InvalidInput"
  | "CredentialUnavailable"
  | "AuthenticationFailed"
  | "NotFound"
  | "Throttled"
  | "Transient"

/**
 * What went wrong and whose fault it is — the one classification every shell derives its answer from,
 * each in one exhaustive table (the CLI's exit code through the kind's {@link ErrorCategory}; azmi-http's
 * status from the kind itself). A CLI user is the caller, the configuration's author and the operator
 * at once; a server's caller is only the first, so the shells answer some kinds differently.
 *
 * | Kind                   | Whose fault                                   | Category              |
 * | ---------------------- | --------------------------------------------- | --------------------- |
 * | `InvalidInput`         | the request: a value breaks a rule            | InvalidInput          |
 * | `InvalidConfiguration` | the configuration: invalid or unsafe          | InvalidInput          |
 * | `NoIdentityEndpoint`   | the host: nothing answers at the MI endpoint  | CredentialUnavailable |
 * | `IdentityUnavailable`  | whoever chose the identity: absent, ambiguous | CredentialUnavailable |
 * | `CredentialRejected`   | the configuration: its secret is refused      | AuthenticationFailed  |
 * | `AccessDenied`         | the request: the identity may not do it       | AuthenticationFailed  |
 * | `TokenRejected`        | upstream: ARM refuses the issuer's token      | AuthenticationFailed  |
 * | `UntrustedCertificate` | upstream: its TLS certificate is refused      | AuthenticationFailed  |
 * | `NotFound`             | the request: it names what does not exist     | NotFound              |
 * | `Throttled`            | nobody's: too many requests, retry later      | Throttled             |
 * | `TimedOut`             | nobody's: a time budget ran out               | Transient             |
 * | `UpstreamUnavailable`  | upstream: ARM is unavailable (503)            | Transient             |
 * | `UpstreamFailed`       | upstream: failed or answered wrongly          | Transient             |
 */
export type ErrorKind =
  | "InvalidInput"
  | "InvalidConfiguration"
  | "NoIdentityEndpoint"
  | "IdentityUnavailable"
  | "CredentialRejected"
  | "AccessDenied"
  | "TokenRejected"
  | "UntrustedCertificate"
  | "NotFound"
  | "Throttled"
  | "TimedOut"
  | "UpstreamUnavailable"
  | "UpstreamFailed"

/**
 * The {@link ErrorKind} of an azmi error (exhaustive: a new error does not compile until it is here).
 *
 * @example
 * ```ts
 * errorKind(new TokenRequestFailed({ endpoint, status: 401, attempts: 1 })) // "CredentialRejected"
 * ```
 */
export const errorKind = (error: AzmiError): ErrorKind => {
  switch (error._tag) {
    case "InvalidInput":
    case "InvalidResource":
      return "InvalidInput"
    case "InvalidConfiguration":
      return "InvalidConfiguration"
    case "ImdsUnavailable":
      return "NoIdentityEndpoint"
    case "IdentityNotFound":
    case "MultipleIdentities":
    // The host cannot give, or did not confirm, the identity asked for: whoever chose it can fix that.
    case "IdentitySelectionUnsupported":
    case "UserAssignedIdentityNotConfirmed":
      return "IdentityUnavailable"
    case "NoInstanceMetadata":
      return "NoIdentityEndpoint"
    case "ClientAuthenticationFailed":
    // Arc's key file (ours to read) could not be used, or HIMDS refused it.
    case "ArcChallengeFailed":
      return "CredentialRejected"
    case "ServerCertificateMismatch":
      return "UntrustedCertificate"
    case "TokenRequestFailed":
      // The endpoint refused this caller (App Service: a wrong IDENTITY_HEADER): no retry helps.
      return error.status === 401 || error.status === 403 ? "CredentialRejected" : "UpstreamFailed"
    case "AuthorizationFailed":
      return "AccessDenied"
    case "InvalidAuthenticationToken":
      return "TokenRejected"
    case "TlsCertificateRejected":
      return "UntrustedCertificate"
    case "ResourceGroupNotFound":
    case "SubscriptionNotFound":
    case "RoleNotFound":
      return "NotFound"
    case "ImdsThrottled":
    case "ArmThrottled":
      return "Throttled"
    case "Timeout":
      return "TimedOut"
    case "MalformedTokenResponse":
    case "TokenAlreadyExpired":
    case "ArmUnreachable":
      return "UpstreamFailed"
    case "ArmRequestFailed":
      switch (error.status) {
        case 401:
          return "TokenRejected"
        case 403:
          return "AccessDenied"
        case 404:
          return "NotFound"
        case 503:
          return "UpstreamUnavailable"
        case 504:
          return "TimedOut"
        default:
          // Any other 4xx is ARM refusing what was asked (408 is its timeout: transient).
          return error.status >= 400 && error.status < 500 && error.status !== 408
            ? "InvalidInput"
            : "UpstreamFailed"
      }
  }
}

/** The {@link ErrorCategory} of each {@link ErrorKind}. */
export const categoryOfKind: { readonly [K in ErrorKind]: ErrorCategory } = {
  InvalidInput: "InvalidInput",
  InvalidConfiguration: "InvalidInput",
  NoIdentityEndpoint: "CredentialUnavailable",
  IdentityUnavailable: "CredentialUnavailable",
  CredentialRejected: "AuthenticationFailed",
  AccessDenied: "AuthenticationFailed",
  TokenRejected: "AuthenticationFailed",
  UntrustedCertificate: "AuthenticationFailed",
  NotFound: "NotFound",
  Throttled: "Throttled",
  TimedOut: "Transient",
  UpstreamUnavailable: "Transient",
  UpstreamFailed: "Transient",
}

/** The {@link ErrorCategory} of an azmi error. */
export const errorCategory = (error: AzmiError): ErrorCategory => categoryOfKind[errorKind(error)]

/** True when `u` is one of azmi's tagged errors. */
export const isAzmiError = (u: unknown): u is AzmiError =>
  typeof u === "object" && u !== null && "_tag" in u && typeof u._tag === "string" && azmiTags.has(u._tag)

const azmiTags = new Set<string>([
  "InvalidInput",
  "InvalidConfiguration",
  "ImdsUnavailable",
  "IdentityNotFound",
  "MultipleIdentities",
  "InvalidResource",
  "ImdsThrottled",
  "TokenRequestFailed",
  "MalformedTokenResponse",
  "TokenAlreadyExpired",
  "Timeout",
  "ClientAuthenticationFailed",
  "TlsCertificateRejected",
  "IdentitySelectionUnsupported",
  "ArcChallengeFailed",
  "UserAssignedIdentityNotConfirmed",
  "ServerCertificateMismatch",
  "NoInstanceMetadata",
  "AuthorizationFailed",
  "ResourceGroupNotFound",
  "SubscriptionNotFound",
  "InvalidAuthenticationToken",
  "ArmThrottled",
  "RoleNotFound",
  "ArmUnreachable",
  "ArmRequestFailed",
])

/** A word a POSIX shell reads back unchanged: as is when it is plain, else single-quoted. */
const shellWord = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`)

const truncate = (s: string, n: number) => (s.length <= n ? s : `${s.slice(0, n)}…`)
