/**
 * Validation of world documents (`--world FILE`, state files, `startEmulator({ world })`): every rule reports
 * the JSON path of the offending field and the rule it breaks, e.g.
 * `world.resourceGroups[2].location: must be a region name like "westus" (got "")`.
 *
 * @example
 * ```ts
 * const world = parseWorld(JSON.parse(await readFile("world.json", "utf8")))  // throws WorldValidationError
 * ```
 * @module
 */
import { readFile } from "node:fs/promises"
import {
  BUILT_IN_ROLES,
  type FederatedIdentityCredential,
  HOST_KINDS,
  type Host,
  type HostKind,
  hostResourceId,
  type PrincipalType,
  type RecordedChange,
  type ResourceGroup,
  type RoleAssignment,
  type RoleDefinition,
  type ServicePrincipal,
  type Subscription,
  type Tenant,
  type UserAssignedIdentity,
  userAssignedIdentityResourceId,
  type VirtualMachine,
  type World,
} from "./model.js"

/** Thrown when a world document breaks a rule; `issues` lists every problem found (path: rule). */
export class WorldValidationError extends Error {
  override readonly name = "WorldValidationError"
  constructor(
    readonly issues: ReadonlyArray<string>,
    source?: string,
  ) {
    const shown = issues.slice(0, 20)
    const more = issues.length > shown.length ? `\n… and ${issues.length - shown.length} more` : ""
    super(
      `${source === undefined ? "Invalid world" : `Invalid world file ${source}`}:\n${shown.join("\n")}${more}`,
    )
  }
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
// Resource group names (ARM naming rules): letters, digits, _ - . ( ), 1..90, not ending in a period.
const RG_NAME = /^[-\p{L}\p{Nd}_.()]{1,90}$/u
// VM and identity names: a conservative subset of ARM's rules.
const RESOURCE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$/
// Any non-blank name: ARM's PUT stores what it is given (lower-cased, spaces removed), so a state file must reload it.
const REGION = /\S/
const PRINCIPAL_TYPES: ReadonlyArray<PrincipalType> = [
  "User",
  "Group",
  "ServicePrincipal",
  "ForeignGroup",
  "Device",
]
const SUBSCRIPTION_STATES = ["Enabled", "Disabled", "Warned", "PastDue", "Deleted"] as const

type Json = Record<string, unknown>

/** A JSON object (not null, not an array). */
export const isObject = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)
const lower = (s: string) => s.toLowerCase()
const describe = (u: unknown): string =>
  u === null ? "null" : Array.isArray(u) ? "an array" : typeof u === "string" ? JSON.stringify(u) : typeof u

/** Collects issues while reading one document. */
class Reader {
  readonly issues: Array<string> = []

  issue(path: string, rule: string): void {
    this.issues.push(`${path}: ${rule}`)
  }

  object(value: unknown, path: string, known: ReadonlyArray<string>): Json | undefined {
    if (!isObject(value)) {
      this.issue(path, `must be an object (got ${describe(value)})`)
      return undefined
    }
    for (const key of Object.keys(value)) {
      if (!known.includes(key))
        this.issue(`${path}.${key}`, `unknown field (expected one of ${known.join(", ")})`)
    }
    return value
  }

  array(value: unknown, path: string, optional: boolean): ReadonlyArray<unknown> {
    if (value === undefined && optional) return []
    if (!Array.isArray(value)) {
      this.issue(path, `must be an array (got ${describe(value)})`)
      return []
    }
    return value
  }

  string(o: Json, key: string, path: string, rule?: { re: RegExp; text: string }): string | undefined {
    const v = o[key]
    if (typeof v !== "string") {
      this.issue(`${path}.${key}`, `must be a string${rule ? ` (${rule.text})` : ""} (got ${describe(v)})`)
      return undefined
    }
    if (rule && !rule.re.test(v)) {
      this.issue(`${path}.${key}`, `must be ${rule.text} (got ${JSON.stringify(v)})`)
      return undefined
    }
    return v
  }

  optionalString(
    o: Json,
    key: string,
    path: string,
    rule?: { re: RegExp; text: string },
  ): string | undefined {
    return o[key] === undefined ? undefined : this.string(o, key, path, rule)
  }

  guid(o: Json, key: string, path: string): string | undefined {
    return this.string(o, key, path, { re: GUID, text: "a GUID like 00000000-0000-0000-0000-000000000000" })
  }

  /** Tags as ARM's PUT accepts them (any name, string values), so a state file always reloads. */
  tags(o: Json, key: string, path: string): Record<string, string> | undefined {
    const v = o[key]
    if (v === undefined) return undefined
    if (!isObject(v)) {
      this.issue(`${path}.${key}`, `must be an object of tag name to string value (got ${describe(v)})`)
      return undefined
    }
    const out: Record<string, string> = {}
    for (const [name, value] of Object.entries(v)) {
      if (typeof value !== "string") {
        this.issue(
          `${path}.${key}[${JSON.stringify(name)}]`,
          `tag values must be strings (got ${describe(value)})`,
        )
      } else out[name] = value
    }
    return out
  }

  strings(o: Json, key: string, path: string, optional: boolean): Array<string> | undefined {
    const v = o[key]
    if (v === undefined && optional) return undefined
    if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) {
      this.issue(`${path}.${key}`, `must be an array of strings (got ${describe(v)})`)
      return undefined
    }
    return [...(v as Array<string>)]
  }

  duplicate(path: string, what: string, value: string, firstPath: string): void {
    this.issue(path, `duplicate ${what} ${JSON.stringify(value)} (already used at ${firstPath})`)
  }
}

const GUID_RULE = { re: GUID, text: "a GUID like 00000000-0000-0000-0000-000000000000" }
const REGION_RULE = { re: REGION, text: 'a region name like "westus"' }
const NAME_RULE = { re: RESOURCE_NAME, text: "1..80 letters, digits, _ . - starting with a letter or digit" }

/** A uniqueness index that reports the first path a key was seen at. */
class Unique {
  readonly #seen = new Map<string, string>()
  constructor(
    private readonly r: Reader,
    private readonly what: string,
  ) {}
  check(key: string | undefined, display: string | undefined, path: string): void {
    if (key === undefined || display === undefined) return
    const first = this.#seen.get(key)
    if (first !== undefined) this.r.duplicate(path, this.what, display, first)
    else this.#seen.set(key, path)
  }
}

const readTenant = (r: Reader, u: unknown, path: string): Tenant | undefined => {
  const o = r.object(u, path, ["tenantId", "displayName"])
  if (!o) return undefined
  const tenantId = r.guid(o, "tenantId", path)
  const displayName = r.optionalString(o, "displayName", path)
  if (tenantId === undefined) return undefined
  return { tenantId, ...(displayName !== undefined && { displayName }) }
}

const readSubscription = (r: Reader, u: unknown, path: string): Subscription | undefined => {
  const o = r.object(u, path, ["subscriptionId", "tenantId", "displayName", "state"])
  if (!o) return undefined
  const subscriptionId = r.guid(o, "subscriptionId", path)
  const tenantId = r.guid(o, "tenantId", path)
  const displayName = r.string(o, "displayName", path, { re: /^.{1,256}$/s, text: "1..256 characters" })
  let state: Subscription["state"]
  if (o.state !== undefined) {
    if (!SUBSCRIPTION_STATES.includes(o.state as never)) {
      r.issue(`${path}.state`, `must be one of ${SUBSCRIPTION_STATES.join(", ")} (got ${describe(o.state)})`)
    } else state = o.state as Subscription["state"]
  }
  if (subscriptionId === undefined || tenantId === undefined || displayName === undefined) return undefined
  return { subscriptionId, tenantId, displayName, ...(state !== undefined && { state }) }
}

const readResourceGroup = (r: Reader, u: unknown, path: string): ResourceGroup | undefined => {
  const o = r.object(u, path, ["subscriptionId", "name", "location", "tags", "managedBy"])
  if (!o) return undefined
  const subscriptionId = r.guid(o, "subscriptionId", path)
  const name = r.string(o, "name", path, {
    re: RG_NAME,
    text: "1..90 letters, digits, _ - . ( ) (a resource group name)",
  })
  if (name?.endsWith(".")) r.issue(`${path}.name`, `must not end with a period (got ${JSON.stringify(name)})`)
  const location = r.string(o, "location", path, REGION_RULE)
  const tags = r.tags(o, "tags", path)
  const managedBy = r.optionalString(o, "managedBy", path)
  if (subscriptionId === undefined || name === undefined || location === undefined) return undefined
  return {
    subscriptionId,
    name,
    location,
    ...(tags !== undefined && { tags }),
    ...(managedBy !== undefined && { managedBy }),
  }
}

const readVm = (r: Reader, u: unknown, path: string): VirtualMachine | undefined => {
  const o = r.object(u, path, [
    "name",
    "subscriptionId",
    "resourceGroup",
    "location",
    "vmId",
    "vmSize",
    "osType",
    "computerName",
    "adminUsername",
    "image",
    "tags",
    "zone",
    "network",
    "systemAssigned",
    "userAssigned",
  ])
  if (!o) return undefined
  const name = r.string(o, "name", path, NAME_RULE)
  const subscriptionId = r.guid(o, "subscriptionId", path)
  const resourceGroup = r.string(o, "resourceGroup", path, { re: RG_NAME, text: "a resource group name" })
  const location = r.string(o, "location", path, REGION_RULE)
  const vmId = r.guid(o, "vmId", path)
  const vmSize = r.optionalString(o, "vmSize", path)
  let osType: VirtualMachine["osType"]
  if (o.osType !== undefined) {
    if (o.osType !== "Linux" && o.osType !== "Windows") {
      r.issue(`${path}.osType`, `must be "Linux" or "Windows" (got ${describe(o.osType)})`)
    } else osType = o.osType
  }
  const computerName = r.optionalString(o, "computerName", path)
  const adminUsername = r.optionalString(o, "adminUsername", path)
  let image: VirtualMachine["image"]
  if (o.image !== undefined) {
    const i = r.object(o.image, `${path}.image`, ["publisher", "offer", "sku", "version"])
    if (i) {
      const p = `${path}.image`
      const [publisher, offer, sku, version] = [
        r.string(i, "publisher", p),
        r.string(i, "offer", p),
        r.string(i, "sku", p),
        r.string(i, "version", p),
      ]
      if (publisher !== undefined && offer !== undefined && sku !== undefined && version !== undefined) {
        image = { publisher, offer, sku, version }
      }
    }
  }
  const tags = r.tags(o, "tags", path)
  const zone = r.optionalString(o, "zone", path)
  let network: VirtualMachine["network"]
  if (o.network !== undefined) {
    const p = `${path}.network`
    const n = r.object(o.network, p, [
      "privateIpAddress",
      "publicIpAddress",
      "macAddress",
      "subnetAddress",
      "subnetPrefix",
    ])
    if (n) {
      const ip = { re: /^\d{1,3}(\.\d{1,3}){3}$/, text: "an IPv4 address" }
      const privateIpAddress = r.string(n, "privateIpAddress", p, ip)
      const publicIpAddress =
        n.publicIpAddress === ""
          ? ""
          : r.optionalString(n, "publicIpAddress", p, { ...ip, text: 'an IPv4 address or ""' })
      const macAddress = r.string(n, "macAddress", p, { re: /^[0-9A-Fa-f]{12}$/, text: "12 hex digits" })
      const subnetAddress = r.string(n, "subnetAddress", p, ip)
      const subnetPrefix = r.string(n, "subnetPrefix", p, {
        re: /^\d{1,2}$/,
        text: 'a prefix length like "24"',
      })
      if (
        privateIpAddress !== undefined &&
        macAddress !== undefined &&
        subnetAddress !== undefined &&
        subnetPrefix !== undefined
      ) {
        network = {
          privateIpAddress,
          macAddress,
          subnetAddress,
          subnetPrefix,
          ...(publicIpAddress !== undefined && { publicIpAddress }),
        }
      }
    }
  }
  const readSa = readSystemAssigned(r, o, path)
  const systemAssigned = readSa === false ? undefined : readSa
  const userAssigned = r.strings(o, "userAssigned", path, true)
  if (
    name === undefined ||
    subscriptionId === undefined ||
    resourceGroup === undefined ||
    location === undefined ||
    vmId === undefined
  ) {
    return undefined
  }
  return {
    name,
    subscriptionId,
    resourceGroup,
    location,
    vmId,
    ...(vmSize !== undefined && { vmSize }),
    ...(osType !== undefined && { osType }),
    ...(computerName !== undefined && { computerName }),
    ...(adminUsername !== undefined && { adminUsername }),
    ...(image !== undefined && { image }),
    ...(tags !== undefined && { tags }),
    ...(zone !== undefined && { zone }),
    ...(network !== undefined && { network }),
    ...(systemAssigned !== undefined && { systemAssigned }),
    ...(userAssigned !== undefined && { userAssigned }),
  }
}

const readUami = (r: Reader, u: unknown, path: string): UserAssignedIdentity | undefined => {
  const o = r.object(u, path, [
    "name",
    "subscriptionId",
    "resourceGroup",
    "principalId",
    "clientId",
    "location",
  ])
  if (!o) return undefined
  const name = r.string(o, "name", path, NAME_RULE)
  const subscriptionId = r.guid(o, "subscriptionId", path)
  const resourceGroup = r.string(o, "resourceGroup", path, { re: RG_NAME, text: "a resource group name" })
  const principalId = r.guid(o, "principalId", path)
  const clientId = r.guid(o, "clientId", path)
  const location = r.optionalString(o, "location", path, REGION_RULE)
  if (
    name === undefined ||
    subscriptionId === undefined ||
    resourceGroup === undefined ||
    principalId === undefined ||
    clientId === undefined
  ) {
    return undefined
  }
  return {
    name,
    subscriptionId,
    resourceGroup,
    principalId,
    clientId,
    ...(location !== undefined && { location }),
  }
}

// Entra's rules for a federated identity credential's name.
const FIC_NAME = { re: /^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$/, text: "3..120 letters, digits, - and _" }

const readFederatedCredential = (
  r: Reader,
  u: unknown,
  path: string,
): FederatedIdentityCredential | undefined => {
  const o = r.object(u, path, ["name", "issuer", "subject", "audiences", "description"])
  if (!o) return undefined
  const name = r.string(o, "name", path, FIC_NAME)
  const issuer = r.string(o, "issuer", path, { re: /^https:\/\/[^\s]{1,600}$/, text: "an https URL" })
  const subject = r.string(o, "subject", path, { re: /^\S.{0,599}$/s, text: "1..600 characters" })
  const audiences = r.strings(o, "audiences", path, false)
  if (audiences !== undefined && (audiences.length !== 1 || audiences[0] === "")) {
    r.issue(`${path}.audiences`, "must hold exactly one non-empty audience (Entra's limit)")
  }
  const description = r.optionalString(o, "description", path)
  if (name === undefined || issuer === undefined || subject === undefined || audiences === undefined)
    return undefined
  return { name, issuer, subject, audiences, ...(description !== undefined && { description }) }
}

const readServicePrincipal = (r: Reader, u: unknown, path: string): ServicePrincipal | undefined => {
  const o = r.object(u, path, [
    "displayName",
    "clientId",
    "objectId",
    "secret",
    "tenantId",
    "federatedIdentityCredentials",
  ])
  if (!o) return undefined
  const displayName = r.string(o, "displayName", path, { re: /^.{1,256}$/s, text: "1..256 characters" })
  const clientId = r.guid(o, "clientId", path)
  const objectId = r.guid(o, "objectId", path)
  // Never echo the secret in an error message. Absent: an app without a client secret.
  let secret: string | undefined
  if (o.secret !== undefined) {
    if (typeof o.secret !== "string" || o.secret.length < 8) {
      r.issue(`${path}.secret`, "must be a string of at least 8 characters")
    } else secret = o.secret
  }
  const tenantId = r.optionalString(o, "tenantId", path, GUID_RULE)
  const fics = readAll(
    r,
    o.federatedIdentityCredentials,
    `${path}.federatedIdentityCredentials`,
    true,
    readFederatedCredential,
  )
  const ficNames = new Unique(r, "federated credential name")
  const ficPairs = new Unique(r, "federated credential issuer and subject")
  for (const f of fics) {
    ficNames.check(lower(f.value.name), f.value.name, `${f.path}.name`)
    ficPairs.check(`${f.value.issuer}\u0000${f.value.subject}`, f.value.subject, `${f.path}.subject`)
  }
  if (displayName === undefined || clientId === undefined || objectId === undefined) return undefined
  if (o.secret !== undefined && secret === undefined) return undefined
  return {
    displayName,
    clientId,
    objectId,
    ...(secret !== undefined && { secret }),
    ...(tenantId !== undefined && { tenantId }),
    ...(o.federatedIdentityCredentials !== undefined && {
      federatedIdentityCredentials: fics.map((f) => f.value),
    }),
  }
}

// Kubernetes names: a DNS-1123 label (namespaces) or subdomain (service accounts).
const K8S_LABEL = { re: /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, text: "a Kubernetes name (DNS-1123 label)" }
const K8S_SUBDOMAIN = {
  re: /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
  text: "a Kubernetes name (DNS-1123 subdomain)",
}

const readHost = (r: Reader, u: unknown, path: string): Host | undefined => {
  const o = r.object(u, path, [
    "kind",
    "name",
    "subscriptionId",
    "resourceGroup",
    "location",
    "systemAssigned",
    "userAssigned",
    "oidcIssuerId",
    "serviceAccount",
  ])
  if (!o) return undefined
  let kind: HostKind | undefined
  if (!HOST_KINDS.includes(o.kind as HostKind)) {
    r.issue(`${path}.kind`, `must be one of ${HOST_KINDS.join(", ")} (got ${describe(o.kind)})`)
  } else kind = o.kind as HostKind
  const name = r.string(o, "name", path, NAME_RULE)
  const subscriptionId = r.guid(o, "subscriptionId", path)
  const resourceGroup = r.string(o, "resourceGroup", path, { re: RG_NAME, text: "a resource group name" })
  const location = r.optionalString(o, "location", path, REGION_RULE)
  const systemAssigned = readSystemAssigned(r, o, path)
  const userAssigned = r.strings(o, "userAssigned", path, true)
  const oidcIssuerId = r.optionalString(o, "oidcIssuerId", path, GUID_RULE)
  let serviceAccount: Host["serviceAccount"]
  if (o.serviceAccount !== undefined) {
    const p = `${path}.serviceAccount`
    const sa = r.object(o.serviceAccount, p, ["namespace", "name", "clientId"])
    if (sa) {
      const namespace = r.string(sa, "namespace", p, K8S_LABEL)
      const saName = r.string(sa, "name", p, K8S_SUBDOMAIN)
      const clientId = r.guid(sa, "clientId", p)
      if (namespace !== undefined && saName !== undefined && clientId !== undefined)
        serviceAccount = { namespace, name: saName, clientId }
    }
  }
  if (kind !== undefined && kind !== "aks") {
    for (const field of ["oidcIssuerId", "serviceAccount"] as const) {
      if (o[field] !== undefined) r.issue(`${path}.${field}`, `only an "aks" host has ${field}`)
    }
  }
  if (
    kind === undefined ||
    name === undefined ||
    subscriptionId === undefined ||
    resourceGroup === undefined ||
    systemAssigned === false
  ) {
    return undefined
  }
  return {
    kind,
    name,
    subscriptionId,
    resourceGroup,
    ...(location !== undefined && { location }),
    ...(systemAssigned !== undefined && { systemAssigned }),
    ...(userAssigned !== undefined && { userAssigned }),
    ...(oidcIssuerId !== undefined && { oidcIssuerId }),
    ...(serviceAccount !== undefined && { serviceAccount }),
  }
}

/** `systemAssigned` of a VM or host: absent, null, or `{principalId, clientId}`; false when invalid. */
const readSystemAssigned = (r: Reader, o: Json, path: string): VirtualMachine["systemAssigned"] | false => {
  if (o.systemAssigned === null) return null
  if (o.systemAssigned === undefined) return undefined
  const p = `${path}.systemAssigned`
  const s = r.object(o.systemAssigned, p, ["principalId", "clientId"])
  if (!s) return false
  const principalId = r.guid(s, "principalId", p)
  const clientId = r.guid(s, "clientId", p)
  if (principalId === undefined || clientId === undefined) return false
  return { principalId, clientId }
}

const ROLE_DEF_ID =
  /^(?:\/subscriptions\/[^/]+)?\/providers\/Microsoft\.Authorization\/roleDefinitions\/([^/]+)$/i

const readRoleAssignment = (r: Reader, u: unknown, path: string): RoleAssignment | undefined => {
  const o = r.object(u, path, [
    "name",
    "scope",
    "roleDefinitionId",
    "principalId",
    "principalType",
    "description",
    "createdOn",
    "updatedOn",
    "createdBy",
  ])
  if (!o) return undefined
  const name = r.guid(o, "name", path)
  const scope = r.string(o, "scope", path, {
    re: /^(\/|\/subscriptions\/[^/]+(\/resourcegroups\/[^/]+(\/providers\/.+)?)?)$/i,
    text: 'a scope like "/", /subscriptions/{id} or /subscriptions/{id}/resourceGroups/{name}',
  })
  const roleDefinitionId = r.string(o, "roleDefinitionId", path, {
    re: ROLE_DEF_ID,
    text: "a role definition id like /providers/Microsoft.Authorization/roleDefinitions/{guid}",
  })
  const principalId = r.guid(o, "principalId", path)
  let principalType: PrincipalType | undefined
  if (!PRINCIPAL_TYPES.includes(o.principalType as PrincipalType)) {
    r.issue(
      `${path}.principalType`,
      `must be one of ${PRINCIPAL_TYPES.join(", ")} (got ${describe(o.principalType)})`,
    )
  } else principalType = o.principalType as PrincipalType
  const description = r.optionalString(o, "description", path)
  const createdOn = r.optionalString(o, "createdOn", path)
  const updatedOn = r.optionalString(o, "updatedOn", path)
  const createdBy = r.optionalString(o, "createdBy", path)
  if (
    name === undefined ||
    scope === undefined ||
    roleDefinitionId === undefined ||
    principalId === undefined ||
    principalType === undefined
  ) {
    return undefined
  }
  return {
    name,
    scope,
    roleDefinitionId,
    principalId,
    principalType,
    ...(description !== undefined && { description }),
    ...(createdOn !== undefined && { createdOn }),
    ...(updatedOn !== undefined && { updatedOn }),
    ...(createdBy !== undefined && { createdBy }),
  }
}

const readRoleDefinition = (r: Reader, u: unknown, path: string): RoleDefinition | undefined => {
  const o = r.object(u, path, [
    "name",
    "roleName",
    "description",
    "roleType",
    "permissions",
    "assignableScopes",
  ])
  if (!o) return undefined
  const name = r.guid(o, "name", path)
  const roleName = r.string(o, "roleName", path, { re: /^.{1,512}$/s, text: "1..512 characters" })
  const description = r.optionalString(o, "description", path)
  if (o.roleType !== undefined && o.roleType !== "CustomRole") {
    r.issue(
      `${path}.roleType`,
      `must be "CustomRole" (built-in roles are predefined) (got ${describe(o.roleType)})`,
    )
  }
  const permissions: Array<RoleDefinition["permissions"][number]> = []
  const perms = r.array(o.permissions, `${path}.permissions`, false)
  if (Array.isArray(o.permissions) && perms.length === 0) r.issue(`${path}.permissions`, "must not be empty")
  perms.forEach((pu, j) => {
    const p = `${path}.permissions[${j}]`
    const po = r.object(pu, p, ["actions", "notActions", "dataActions", "notDataActions"])
    if (!po) return
    const actions = r.strings(po, "actions", p, false)
    const notActions = r.strings(po, "notActions", p, true)
    const dataActions = r.strings(po, "dataActions", p, true)
    const notDataActions = r.strings(po, "notDataActions", p, true)
    if (actions === undefined) return
    permissions.push({
      actions,
      ...(notActions !== undefined && { notActions }),
      ...(dataActions !== undefined && { dataActions }),
      ...(notDataActions !== undefined && { notDataActions }),
    })
  })
  const assignableScopes = r.strings(o, "assignableScopes", path, true)
  if (name === undefined || roleName === undefined) return undefined
  return {
    name,
    roleName,
    roleType: "CustomRole",
    permissions,
    ...(description !== undefined && { description }),
    ...(assignableScopes !== undefined && { assignableScopes }),
  }
}

const readAll = <A>(
  r: Reader,
  value: unknown,
  path: string,
  optional: boolean,
  read: (r: Reader, u: unknown, path: string) => A | undefined,
): Array<{ readonly value: A; readonly path: string }> => {
  const out: Array<{ value: A; path: string }> = []
  r.array(value, path, optional).forEach((u, i) => {
    const p = `${path}[${i}]`
    const v = read(r, u, p)
    if (v !== undefined) out.push({ value: v, path: p })
  })
  return out
}

/**
 * Validate an untrusted world document (parsed JSON) and return a fresh {@link World}.
 *
 * Besides the shape of every field it checks: GUIDs; at least one tenant, subscription and VM; subscriptions
 * in a known tenant; groups, VMs and identities in a known subscription and group; duplicate ids and names
 * (names case-insensitively, like ARM); VM `userAssigned` ids that name a declared identity; role assignments
 * whose scope exists, whose role definition is built-in or declared, and — for `principalType`
 * `ServicePrincipal` — whose principal is a VM, user-assigned identity or service principal of the world
 * (users and groups are not modelled, so any GUID is accepted for them).
 *
 * @throws WorldValidationError listing every problem as `world.<path>: <rule>`
 */
export const parseWorld = (json: unknown, source?: string): World => {
  const r = new Reader()
  const root = r.object(json, "world", [
    "$schema",
    "tenants",
    "subscriptions",
    "resourceGroups",
    "vms",
    "userAssignedIdentities",
    "servicePrincipals",
    "hosts",
    "roleAssignments",
    "roleDefinitions",
  ])
  if (!root) throw new WorldValidationError(r.issues, source)

  const tenants = readAll(r, root.tenants, "world.tenants", false, readTenant)
  const subscriptions = readAll(r, root.subscriptions, "world.subscriptions", false, readSubscription)
  const resourceGroups = readAll(r, root.resourceGroups, "world.resourceGroups", true, readResourceGroup)
  const vms = readAll(r, root.vms, "world.vms", false, readVm)
  const uamis = readAll(r, root.userAssignedIdentities, "world.userAssignedIdentities", true, readUami)
  const sps = readAll(r, root.servicePrincipals, "world.servicePrincipals", true, readServicePrincipal)
  const hosts = readAll(r, root.hosts, "world.hosts", true, readHost)
  const assignments = readAll(r, root.roleAssignments, "world.roleAssignments", true, readRoleAssignment)
  const customRoles = readAll(r, root.roleDefinitions, "world.roleDefinitions", true, readRoleDefinition)

  if (Array.isArray(root.tenants) && root.tenants.length === 0)
    r.issue("world.tenants", "must contain at least one tenant")
  if (Array.isArray(root.subscriptions) && root.subscriptions.length === 0) {
    r.issue("world.subscriptions", "must contain at least one subscription")
  }
  if (Array.isArray(root.vms) && root.vms.length === 0) {
    r.issue("world.vms", "must contain at least one VM (IMDS answers for the first one)")
  }

  // ---- uniqueness
  const tenantIds = new Unique(r, "tenantId")
  for (const t of tenants) tenantIds.check(lower(t.value.tenantId), t.value.tenantId, `${t.path}.tenantId`)
  const subIds = new Unique(r, "subscriptionId")
  for (const s of subscriptions) {
    subIds.check(lower(s.value.subscriptionId), s.value.subscriptionId, `${s.path}.subscriptionId`)
  }
  const rgNames = new Unique(r, "resource group name")
  for (const g of resourceGroups) {
    rgNames.check(lower(`${g.value.subscriptionId}/${g.value.name}`), g.value.name, `${g.path}.name`)
  }
  const vmNames = new Unique(r, "VM name")
  for (const v of vms) {
    vmNames.check(
      lower(`${v.value.subscriptionId}/${v.value.resourceGroup}/${v.value.name}`),
      v.value.name,
      `${v.path}.name`,
    )
  }
  const uamiNames = new Unique(r, "user-assigned identity name")
  for (const i of uamis) {
    uamiNames.check(lower(userAssignedIdentityResourceId(i.value)), i.value.name, `${i.path}.name`)
  }
  // Object ids and client ids identify one principal each across VMs, identities and service principals.
  const objectIds = new Unique(r, "principal/object id")
  const clientIds = new Unique(r, "client id")
  for (const v of vms) {
    const sa = v.value.systemAssigned
    if (sa) {
      objectIds.check(lower(sa.principalId), sa.principalId, `${v.path}.systemAssigned.principalId`)
      clientIds.check(lower(sa.clientId), sa.clientId, `${v.path}.systemAssigned.clientId`)
    }
  }
  for (const i of uamis) {
    objectIds.check(lower(i.value.principalId), i.value.principalId, `${i.path}.principalId`)
    clientIds.check(lower(i.value.clientId), i.value.clientId, `${i.path}.clientId`)
  }
  for (const s of sps) {
    objectIds.check(lower(s.value.objectId), s.value.objectId, `${s.path}.objectId`)
    clientIds.check(lower(s.value.clientId), s.value.clientId, `${s.path}.clientId`)
  }
  const hostIds = new Unique(r, "host")
  for (const h of hosts) {
    hostIds.check(lower(hostResourceId(h.value)), h.value.name, `${h.path}.name`)
    const sa = h.value.systemAssigned
    if (sa) {
      objectIds.check(lower(sa.principalId), sa.principalId, `${h.path}.systemAssigned.principalId`)
      clientIds.check(lower(sa.clientId), sa.clientId, `${h.path}.systemAssigned.clientId`)
    }
  }
  const assignmentNames = new Unique(r, "role assignment name")
  for (const a of assignments) assignmentNames.check(lower(a.value.name), a.value.name, `${a.path}.name`)
  const roleIds = new Unique(r, "role definition name")
  const roleNames = new Unique(r, "roleName")
  for (const b of BUILT_IN_ROLES) {
    roleIds.check(lower(b.name), b.name, `built-in role ${b.roleName}`)
    roleNames.check(lower(b.roleName), b.roleName, `built-in role ${b.roleName}`)
  }
  for (const d of customRoles) {
    roleIds.check(lower(d.value.name), d.value.name, `${d.path}.name`)
    roleNames.check(lower(d.value.roleName), d.value.roleName, `${d.path}.roleName`)
  }

  // ---- references
  const tenantSet = new Set(tenants.map((t) => lower(t.value.tenantId)))
  const subSet = new Set(subscriptions.map((s) => lower(s.value.subscriptionId)))
  const rgSet = new Set(resourceGroups.map((g) => lower(`${g.value.subscriptionId}/${g.value.name}`)))
  const knownTenant = (id: string, path: string) => {
    if (!tenantSet.has(lower(id))) r.issue(path, `tenant ${JSON.stringify(id)} is not in world.tenants`)
  }
  const knownGroup = (sub: string, rg: string, path: string) => {
    if (!subSet.has(lower(sub))) {
      r.issue(`${path}.subscriptionId`, `subscription ${JSON.stringify(sub)} is not in world.subscriptions`)
    } else if (!rgSet.has(lower(`${sub}/${rg}`))) {
      r.issue(`${path}.resourceGroup`, `resource group ${JSON.stringify(rg)} is not in world.resourceGroups`)
    }
  }
  for (const s of subscriptions) knownTenant(s.value.tenantId, `${s.path}.tenantId`)
  for (const g of resourceGroups) {
    if (!subSet.has(lower(g.value.subscriptionId))) {
      r.issue(
        `${g.path}.subscriptionId`,
        `subscription ${JSON.stringify(g.value.subscriptionId)} is not in world.subscriptions`,
      )
    }
  }
  for (const v of vms) knownGroup(v.value.subscriptionId, v.value.resourceGroup, v.path)
  for (const i of uamis) knownGroup(i.value.subscriptionId, i.value.resourceGroup, i.path)
  for (const h of hosts) knownGroup(h.value.subscriptionId, h.value.resourceGroup, h.path)
  for (const s of sps) if (s.value.tenantId !== undefined) knownTenant(s.value.tenantId, `${s.path}.tenantId`)

  const uamiIds = new Set(uamis.map((i) => lower(userAssignedIdentityResourceId(i.value))))
  for (const v of [...vms, ...hosts]) {
    v.value.userAssigned?.forEach((id, j) => {
      if (!uamiIds.has(lower(id).replace(/\/+$/, ""))) {
        r.issue(
          `${v.path}.userAssigned[${j}]`,
          `${JSON.stringify(id)} is not a user-assigned identity in world.userAssignedIdentities`,
        )
      }
    })
  }
  const spClientIds = new Set(sps.map((s) => lower(s.value.clientId)))
  for (const h of hosts) {
    const sa = h.value.serviceAccount
    if (sa !== undefined && !spClientIds.has(lower(sa.clientId))) {
      r.issue(
        `${h.path}.serviceAccount.clientId`,
        `${JSON.stringify(sa.clientId)} is not the client id of a service principal in world.servicePrincipals`,
      )
    }
  }

  const roleSet = new Set([
    ...BUILT_IN_ROLES.map((b) => lower(b.name)),
    ...customRoles.map((d) => lower(d.value.name)),
  ])
  const principals = new Set([
    ...vms.flatMap((v) => (v.value.systemAssigned ? [lower(v.value.systemAssigned.principalId)] : [])),
    ...uamis.map((i) => lower(i.value.principalId)),
    ...sps.map((s) => lower(s.value.objectId)),
    ...hosts.flatMap((h) => (h.value.systemAssigned ? [lower(h.value.systemAssigned.principalId)] : [])),
  ])
  for (const a of assignments) {
    const m = /^\/subscriptions\/([^/]+)(?:\/resourcegroups\/([^/]+))?/i.exec(a.value.scope)
    const sub = m?.[1]
    const rg = m?.[2]
    if (sub !== undefined && !subSet.has(lower(sub))) {
      r.issue(`${a.path}.scope`, `subscription ${JSON.stringify(sub)} is not in world.subscriptions`)
    } else if (sub !== undefined && rg !== undefined && !rgSet.has(lower(`${sub}/${rg}`))) {
      r.issue(`${a.path}.scope`, `resource group ${JSON.stringify(rg)} is not in world.resourceGroups`)
    }
    const roleGuid = ROLE_DEF_ID.exec(a.value.roleDefinitionId)?.[1]
    if (roleGuid !== undefined && !roleSet.has(lower(roleGuid))) {
      r.issue(
        `${a.path}.roleDefinitionId`,
        `role definition ${JSON.stringify(roleGuid)} is neither built-in nor in world.roleDefinitions`,
      )
    }
    if (a.value.principalType === "ServicePrincipal" && !principals.has(lower(a.value.principalId))) {
      r.issue(
        `${a.path}.principalId`,
        `principal ${JSON.stringify(a.value.principalId)} is not a VM identity, user-assigned identity or service principal of this world`,
      )
    }
  }

  if (r.issues.length > 0) throw new WorldValidationError(r.issues, source)
  const values = <A>(xs: ReadonlyArray<{ readonly value: A }>) => xs.map((x) => x.value)
  return {
    tenants: values(tenants),
    subscriptions: values(subscriptions),
    resourceGroups: values(resourceGroups),
    vms: values(vms),
    userAssignedIdentities: values(uamis),
    servicePrincipals: values(sps),
    ...(root.hosts !== undefined && { hosts: values(hosts) }),
    roleAssignments: values(assignments),
    roleDefinitions: values(customRoles),
  }
}

/**
 * Parse and validate the text of a world file read from `source`.
 * @throws WorldValidationError naming `source` (not JSON, or breaking a rule)
 */
export const parseWorldText = (text: string, source: string): World => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    throw new WorldValidationError([`world: not valid JSON (${(e as Error).message})`], source)
  }
  return parseWorld(json, source)
}

const unreadable = (part: "world" | "journal", code: string, source: string): WorldValidationError =>
  new WorldValidationError([`${part}: cannot read the file (${code})`], source)

/**
 * The text of a file of the world (the world file, or a state file's journal), or `undefined` when it does not
 * exist. `part` is what the file is ("world", "journal") and `source` how the error names it.
 * @throws WorldValidationError naming `source` when the file exists but cannot be read
 * @example
 * ```ts
 * const text = await readWorldText("state.json.journal", "state.json (journal state.json.journal)", "journal")
 * ```
 */
export const readWorldText = async (
  path: string,
  source: string = path,
  part: "world" | "journal" = "world",
): Promise<string | undefined> => {
  try {
    return await readFile(path, "utf8")
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === "ENOENT") return undefined
    throw unreadable(part, code ?? "read error", source)
  }
}

/**
 * Read and validate a world JSON file.
 * @throws WorldValidationError naming the file (unreadable, not JSON, or breaking a rule)
 */
export const readWorldFile = async (path: string): Promise<World> => {
  const text = await readWorldText(path)
  if (text === undefined) throw unreadable("world", "ENOENT", path)
  return parseWorldText(text, path)
}

/** Each recorded change's payload field and its reader (a new kind of change fails to compile until it has one). */
const RECORDED_PAYLOADS: {
  readonly [K in RecordedChange["kind"]]: {
    readonly field: string
    readonly read: (r: Reader, u: unknown, path: string) => unknown
  }
} = {
  "resourceGroup.put": { field: "resourceGroup", read: readResourceGroup },
  "resourceGroup.delete": { field: "resourceGroup", read: readResourceGroup },
  "roleAssignment.put": { field: "roleAssignment", read: readRoleAssignment },
  "roleAssignment.delete": { field: "roleAssignment", read: readRoleAssignment },
  "host.put": { field: "host", read: readHost },
  "servicePrincipal.put": { field: "servicePrincipal", read: readServicePrincipal },
}

const isRecordedKind = (kind: unknown): kind is RecordedChange["kind"] =>
  typeof kind === "string" && Object.hasOwn(RECORDED_PAYLOADS, kind)

/**
 * Validate one change as a state journal records it, e.g. `{"kind":"resourceGroup.put","resourceGroup":{…}}`:
 * its kind, and its payload by the same rules as the world's own entries. What the payload refers to (a scope,
 * a principal) is checked once the journal is replayed, by {@link parseWorld} on the resulting world.
 *
 * @example
 * ```ts
 * store.apply(parseRecordedChange(JSON.parse(line), "changes[0]", "state.json.journal"))
 * ```
 * @throws WorldValidationError listing every problem as `<path>.<field>: <rule>`, naming `source`
 */
export const parseRecordedChange = (json: unknown, path: string, source: string): RecordedChange => {
  const r = new Reader()
  const kind = isObject(json) ? json.kind : undefined
  if (!isRecordedKind(kind)) {
    if (isObject(json))
      r.issue(
        `${path}.kind`,
        `must be one of ${Object.keys(RECORDED_PAYLOADS).join(", ")} (got ${describe(kind)})`,
      )
    else r.issue(path, `must be an object (got ${describe(json)})`)
    throw new WorldValidationError(r.issues, source)
  }
  const { field, read } = RECORDED_PAYLOADS[kind]
  const o = r.object(json, path, ["kind", field]) as Json
  const payload = read(r, o[field], `${path}.${field}`)
  if (payload === undefined || r.issues.length > 0) throw new WorldValidationError(r.issues, source)
  return { kind, [field]: payload } as RecordedChange
}
