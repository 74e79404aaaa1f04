/**
 * The commands that add the federated identity credential Entra did not find (AADSTS70021), built from
 * the assertion's own `iss`, `sub` and `aud` — so they match what the cluster presents, character for
 * character, which a credential typed by hand often does not (a missing trailing slash on the issuer is
 * the classic).
 * @internal
 */
import { shellWord } from "./shellWord.js"

/** The audience Entra requires of Kubernetes service-account tokens it exchanges (the webhook's default). */
export const TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"

/** Who can add a federated credential: the identity's owner, not the workload. */
export const WHO_FEDERATES =
  "Someone allowed to change the identity (its Owner, or Managed Identity Contributor on it)"

/**
 * A federated credential name for a subject (3–120 of letters, digits, `-` and `_`, starting with a
 * letter or digit): `system:serviceaccount:default:api` → `kubernetes-default-api`.
 */
export const credentialNameFor = (subject: string): string => {
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(subject)
  const base = sa === null ? `federated-${subject}` : `kubernetes-${sa[1]}-${sa[2]}`
  const name = base
    .replace(/[^A-Za-z0-9_-]+/g, "-")
    .replace(/^[-_]+/, "")
    .slice(0, 120)
    .replace(/[-_]+$/, "")
  return name.length >= 3 ? name : "kubernetes-workload"
}

/** The audience to federate: Entra's token-exchange audience when the assertion carries it. */
export const audienceFor = (audiences: ReadonlyArray<string>): string =>
  audiences.includes(TOKEN_EXCHANGE_AUDIENCE)
    ? TOKEN_EXCHANGE_AUDIENCE
    : (audiences[0] ?? TOKEN_EXCHANGE_AUDIENCE)

export interface FederationFacts {
  readonly clientId: string
  readonly issuer: string
  readonly subject: string
  readonly audience: string
}

/**
 * `az identity federated-credential create …` for a user-assigned managed identity (its name and group
 * looked up from the client id by `az` itself, so the command runs as printed). `clientId` must be a
 * validated GUID.
 */
export const identityCommand = (f: FederationFacts): string => {
  // The client id is a validated GUID: nothing in it is special inside double quotes.
  const lookup = (field: string) =>
    `"$(az identity list --query "[?clientId=='${f.clientId}'].${field} | [0]" -o tsv)"`
  return [
    "az identity federated-credential create",
    `--name ${shellWord(credentialNameFor(f.subject))}`,
    `--identity-name ${lookup("name")}`,
    `--resource-group ${lookup("resourceGroup")}`,
    `--issuer ${shellWord(f.issuer)}`,
    `--subject ${shellWord(f.subject)}`,
    `--audience ${shellWord(f.audience)}`,
  ].join(" ")
}

/** `az ad app federated-credential create …` for an app registration. */
export const appCommand = (f: FederationFacts): string =>
  `az ad app federated-credential create --id ${shellWord(f.clientId)} --parameters ${shellWord(
    JSON.stringify({
      name: credentialNameFor(f.subject),
      issuer: f.issuer,
      subject: f.subject,
      audiences: [f.audience],
    }),
  )}`
