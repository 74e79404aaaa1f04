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
import { appCommand, identityCommand, WHO_FEDERATES } from "./internal/federatedCredentialCommand.js"
import { grantingRole, WHO_GRANTS } from "./internal/grantingRole.js"
import { shellWord } from "./internal/shellWord.js"

const OptionalString = Schema.optional(Schema.String)
/** An epoch-ms instant as ISO-8601 (as is when it is not a finite number). */
const isoTime = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms))
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
    return `The token from ${this.endpoint} is already expired or about to expire: it expires at ${isoTime(this.expiresOn)}, and this machine's clock reads ${isoTime(this.receivedAt)}.`
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

/** Which Entra client credential a request carried: a client secret, or a workload's federated token. */
const EntraCredential = Schema.Literal("client-secret", "workload-identity")

/**
 * The token issuer refused the client credentials (a bad secret, a refused federated token) for a reason
 * azmi has no more specific type for.
 */
export class ClientAuthenticationFailed extends Schema.TaggedError<ClientAuthenticationFailed>()(
  "ClientAuthenticationFailed",
  {
    authority: Schema.String,
    status: Schema.Number,
    error: OptionalString,
    errorDescription: OptionalString,
    /** The credential refused (absent: a client secret). */
    credential: Schema.optional(EntraCredential),
  },
) {
  override get message(): string {
    return `The token issuer at ${this.authority} refused the client credentials (HTTP ${this.status}${this.error === undefined ? "" : `, ${this.error}`}).`
  }
  get hint(): string | undefined {
    return this.credential === "workload-identity"
      ? "Check AZURE_TENANT_ID, AZURE_CLIENT_ID and the federated token in AZURE_FEDERATED_TOKEN_FILE (its issuer, subject and expiry)."
      : "Check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET."
  }
}

/** Entra has no application with this client id in the tenant (AADSTS700016). */
export class ApplicationNotFound extends Schema.TaggedError<ApplicationNotFound>()("ApplicationNotFound", {
  authority: Schema.String,
  tenantId: Schema.String,
  clientId: Schema.String,
  credential: EntraCredential,
}) {
  override get message(): string {
    return `The token issuer at ${this.authority} has no application with client id ${this.clientId} in tenant ${this.tenantId} (AADSTS700016).`
  }
  get hint(): string | undefined {
    return this.credential === "workload-identity"
      ? "Check AZURE_CLIENT_ID (the webhook takes it from the service account's azure.workload.identity/client-id annotation: the client id of the managed identity or app registration) and AZURE_TENANT_ID (the tenant that identity lives in)."
      : "Check AZURE_CLIENT_ID (the app registration's client id, not its object id) and AZURE_TENANT_ID (the tenant it lives in)."
  }
}

// ---------------------------------------------------------------------------------------------------
// Workload identity (a federated token from AZURE_FEDERATED_TOKEN_FILE exchanged at Entra)
// ---------------------------------------------------------------------------------------------------

/** The federated token file could not be read, so nothing was sent. */
export class FederatedTokenFileUnreadable extends Schema.TaggedError<FederatedTokenFileUnreadable>()(
  "FederatedTokenFileUnreadable",
  {
    /** `AZURE_FEDERATED_TOKEN_FILE`. */
    path: Schema.String,
    reason: Schema.Literal("Missing", "PermissionDenied", "NotAFile", "Empty", "TooLarge", "ReadFailed"),
    /** The system's error code or a size, never the file's content. */
    detail: OptionalString,
  },
) {
  override get message(): string {
    const why = {
      Missing: "it does not exist",
      PermissionDenied: "permission denied",
      NotAFile: "it is not a regular file",
      Empty: "it is empty",
      TooLarge: `it is too large for a service-account token${this.detail === undefined ? "" : ` (${this.detail})`}`,
      ReadFailed: `the read failed${this.detail === undefined ? "" : ` (${this.detail})`}`,
    }[this.reason]
    return `Cannot read the federated token file ${this.path} (AZURE_FEDERATED_TOKEN_FILE): ${why}.`
  }
  get hint(): string | undefined {
    switch (this.reason) {
      case "Missing":
        return 'The projected service-account token is not mounted here: the pod needs the label azure.workload.identity/use: "true" and a service account annotated with azure.workload.identity/client-id (the webhook then mounts the token and sets AZURE_FEDERATED_TOKEN_FILE); or correct AZURE_FEDERATED_TOKEN_FILE.'
      case "PermissionDenied":
        return "This process may not read the token: run it as a user the projected volume allows (the pod's runAsUser / fsGroup), or correct AZURE_FEDERATED_TOKEN_FILE."
      case "Empty":
        return "The kubelet has not written the token yet, or something emptied the file: check the pod's projected volume, then retry."
      default:
        return "AZURE_FEDERATED_TOKEN_FILE must name the projected service-account token file (a JWT of a few KB) the workload identity webhook mounts."
    }
  }
}

/** The federated token is not a JWT azmi can use (nothing was sent), or Entra said so (AADSTS50027). */
export class FederatedTokenMalformed extends Schema.TaggedError<FederatedTokenMalformed>()(
  "FederatedTokenMalformed",
  {
    path: Schema.String,
    /** What is wrong, never the token's content. */
    problem: Schema.String,
    /** Who found it: azmi before sending, or Entra (AADSTS50027). */
    refusedBy: Schema.Literal("azmi", "entra"),
  },
) {
  override get message(): string {
    return this.refusedBy === "entra"
      ? `Entra refused the federated token from ${this.path} as malformed (AADSTS50027): ${this.problem}.`
      : `The federated token in ${this.path} is not a usable JWT: ${this.problem}; nothing was sent.`
  }
  get hint(): string | undefined {
    return "AZURE_FEDERATED_TOKEN_FILE must name the Kubernetes projected service-account token (a signed JWT with iss, sub, aud and exp) that the workload identity webhook mounts, unmodified."
  }
}

/**
 * The federated token is expired: azmi found it so and did not send it, or Entra said it is outside its
 * validity period (AADSTS700024).
 */
export class FederatedTokenExpired extends Schema.TaggedError<FederatedTokenExpired>()(
  "FederatedTokenExpired",
  {
    path: Schema.String,
    /** The token's `exp`, epoch ms. */
    expiresOn: Schema.Number,
    /** This machine's clock when azmi looked (or sent it), epoch ms. */
    checkedAt: Schema.Number,
    refusedBy: Schema.Literal("azmi", "entra"),
  },
) {
  override get message(): string {
    return this.refusedBy === "entra"
      ? `Entra refused the federated token from ${this.path} as outside its validity period (AADSTS700024): it expires at ${isoTime(this.expiresOn)}, and this machine's clock read ${isoTime(this.checkedAt)} when it was sent.`
      : `The federated token in ${this.path} expired at ${isoTime(this.expiresOn)} (or is about to), and this machine's clock reads ${isoTime(this.checkedAt)}: azmi did not send it.`
  }
  get hint(): string | undefined {
    return this.refusedBy === "entra"
      ? "This machine's clock and Entra's disagree, or the file is stale: check the clock (e.g. timedatectl), and that the kubelet still rewrites the projected token (it does at 80 % of its lifetime)."
      : "The file is stale: the kubelet rewrites the projected token at 80 % of its lifetime, so an expired one means nothing refreshes it any more — check that AZURE_FEDERATED_TOKEN_FILE names the mounted projected volume (not a copy) and that the pod's kubelet is healthy; or check this machine's clock."
  }
}

/** Entra has no federated identity credential for the token's issuer, subject and audience (AADSTS70021). */
export class FederatedCredentialNotFound extends Schema.TaggedError<FederatedCredentialNotFound>()(
  "FederatedCredentialNotFound",
  {
    tenantId: Schema.String,
    clientId: Schema.String,
    /** The token's own `iss`, `sub` and audience. */
    issuer: Schema.String,
    subject: Schema.String,
    audience: Schema.String,
  },
) {
  override get message(): string {
    return `The identity ${this.clientId} has no federated credential for issuer ${this.issuer}, subject ${this.subject} and audience ${this.audience} (AADSTS70021).`
  }
  /** The exact command that adds it, built from the token's own claims; and who must run it. */
  get hint(): string | undefined {
    const facts = {
      clientId: this.clientId,
      issuer: this.issuer,
      subject: this.subject,
      audience: this.audience,
    }
    return `${WHO_FEDERATES} must run: ${identityCommand(facts)} — or, for an app registration: ${appCommand(facts)}`
  }
}

/** Entra could not verify the federated token's signature with its issuer's published keys (AADSTS700027). */
export class FederatedTokenSignatureInvalid extends Schema.TaggedError<FederatedTokenSignatureInvalid>()(
  "FederatedTokenSignatureInvalid",
  {
    path: Schema.String,
    issuer: Schema.String,
    /** Entra's reason, e.g. `The key was not found.` */
    reason: OptionalString,
  },
) {
  override get message(): string {
    return `Entra could not verify the signature of the federated token from ${this.path} with the keys its issuer ${this.issuer} publishes (AADSTS700027${this.reason === undefined ? "" : `: ${this.reason}`}).`
  }
  get hint(): string | undefined {
    return `The token was not signed by that issuer's current keys: the file may hold a token from another cluster, or a copy; or the cluster's signing keys were just rotated and Entra still has the old ones (retry in a few minutes). The cluster's issuer must be ${this.issuer} (az aks show --query oidcIssuerProfile.issuerUrl -o tsv).`
  }
}

/** Entra could not read the OIDC discovery document or keys of the federated token's issuer (AADSTS90061). */
export class FederatedIssuerUnreachable extends Schema.TaggedError<FederatedIssuerUnreachable>()(
  "FederatedIssuerUnreachable",
  {
    issuer: Schema.String,
  },
) {
  override get message(): string {
    return `Entra could not fetch the OIDC documents of the federated token's issuer ${this.issuer} (AADSTS90061).`
  }
  get hint(): string | undefined {
    return `Entra must be able to read ${this.issuer.replace(/\/?$/, "/")}.well-known/openid-configuration from the internet: enable the cluster's OIDC issuer (az aks update --enable-oidc-issuer …) and federate the issuer the cluster reports (az aks show --query oidcIssuerProfile.issuerUrl -o tsv).`
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
  | ApplicationNotFound
  | FederatedTokenFileUnreadable
  | FederatedTokenMalformed
  | FederatedTokenExpired
  | FederatedCredentialNotFound
  | FederatedTokenSignatureInvalid
  | FederatedIssuerUnreachable
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
    // No usable federated token here: the host does not provide the identity (like no endpoint).
    case "FederatedTokenFileUnreadable":
      return "NoIdentityEndpoint"
    case "ClientAuthenticationFailed":
    // Arc's key file (ours to read) could not be used, or HIMDS refused it.
    case "ArcChallengeFailed":
    // Entra refused the workload's federated token (or azmi did, knowing Entra would).
    case "ApplicationNotFound":
    case "FederatedTokenMalformed":
    case "FederatedTokenExpired":
    case "FederatedCredentialNotFound":
    case "FederatedTokenSignatureInvalid":
    case "FederatedIssuerUnreachable":
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

/**
 * The HTTP status a server answers for each kind of failure — azmi-http's API and its IMDS front end
 * alike: the caller's request is 4xx; the server's own configuration and credentials (which its caller
 * cannot fix) are 503; Azure failing or answering wrongly is 502, a time budget running out 504. One
 * entry per kind, so a new kind does not compile until it has a status.
 *
 * @example
 * ```ts
 * statusOfKind[errorKind(new FederatedTokenExpired({ … }))] // 503: the server's credential, not the caller's
 * ```
 */
export const statusOfKind: {
  readonly [K in ErrorKind]: 400 | 403 | 404 | 429 | 502 | 503 | 504
} = {
  InvalidInput: 400,
  InvalidConfiguration: 503,
  NoIdentityEndpoint: 503,
  IdentityUnavailable: 503,
  CredentialRejected: 503,
  AccessDenied: 403,
  TokenRejected: 502,
  UntrustedCertificate: 502,
  NotFound: 404,
  Throttled: 429,
  TimedOut: 504,
  UpstreamUnavailable: 503,
  UpstreamFailed: 502,
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
  "ApplicationNotFound",
  "FederatedTokenFileUnreadable",
  "FederatedTokenMalformed",
  "FederatedTokenExpired",
  "FederatedCredentialNotFound",
  "FederatedTokenSignatureInvalid",
  "FederatedIssuerUnreachable",
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

const truncate = (s: string, n: number) => (s.length <= n ? s : `${s.slice(0, n)}…`)
