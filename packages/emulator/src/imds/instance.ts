/**
 * IMDS instance metadata (`/metadata/instance[/…]`), `/metadata/versions` and `/metadata/identity/info`.
 * Every primitive is a string; fields appear only from the api-version that introduced them; sub-paths
 * filter the document; leaves need `format=text`.
 */
import { header, jsonReply, type Reply, type RouteRequest, textReply, withAllow } from "../http.js"
import { type VirtualMachine, vmResourceId, type WorldStore } from "../world/model.js"
import { attachedUserAssigned } from "./identity.js"
import { hasMetadataHeader, identityMethodNotAllowed, imdsError } from "./token.js"
import {
  API_VERSION_ERROR,
  IDENTITY_MIN_API_VERSION,
  IMDS_API_VERSIONS,
  IMDS_SERVER_HEADER,
  isImdsApiVersion,
  NEWEST_VERSIONS,
} from "./versions.js"

type Json = string | Json[] | { [key: string]: Json }

const instanceError = (status: number, error: string, extra: Record<string, unknown> = {}): Reply =>
  jsonReply(status, { error, ...extra }, { server: IMDS_SERVER_HEADER })

const methodNotAllowed = (): Reply => withAllow(instanceError(405, "Method not allowed"), ["GET"])

/** api-version that introduced each compute field (IMDS docs). */
const COMPUTE_SINCE: Readonly<Record<string, string>> = {
  azEnvironment: "2018-10-01",
  additionalCapabilities: "2021-11-01",
  customData: "2019-02-01",
  evictionPolicy: "2020-12-01",
  extendedLocation: "2021-03-01",
  host: "2021-11-15",
  hostGroup: "2021-11-15",
  isHostCompatibilityLayerVm: "2020-06-01",
  licenseType: "2020-09-01",
  location: "2017-04-02",
  name: "2017-04-02",
  offer: "2017-04-02",
  osProfile: "2020-07-15",
  osType: "2017-04-02",
  physicalZone: "2023-11-15",
  placementGroupId: "2017-08-01",
  plan: "2018-04-02",
  platformFaultDomain: "2017-04-02",
  platformSubFaultDomain: "2021-10-01",
  platformUpdateDomain: "2017-04-02",
  priority: "2020-12-01",
  provider: "2018-10-01",
  publicKeys: "2018-04-02",
  publisher: "2017-04-02",
  resourceGroupName: "2017-08-01",
  resourceId: "2019-03-11",
  securityProfile: "2020-06-01",
  sku: "2017-04-02",
  storageProfile: "2019-06-01",
  subscriptionId: "2017-08-01",
  tags: "2017-08-01",
  tagsList: "2019-06-04",
  userData: "2021-01-01",
  version: "2017-04-02",
  virtualMachineScaleSet: "2021-03-01",
  vmId: "2017-04-02",
  vmScaleSetName: "2017-12-01",
  vmSize: "2017-04-02",
  zone: "2017-12-01",
}

const computeFor = (vm: VirtualMachine, apiVersion: string): Record<string, Json> => {
  const tags = vm.tags ?? {}
  const image = vm.image ?? { publisher: "", offer: "", sku: "", version: "" }
  const all: Record<string, Json> = {
    additionalCapabilities: { hibernationEnabled: "false" },
    azEnvironment: "AzurePublicCloud",
    customData: "",
    evictionPolicy: "",
    extendedLocation: { name: "", type: "" },
    host: { id: "" },
    hostGroup: { id: "" },
    isHostCompatibilityLayerVm: "false",
    licenseType: "",
    location: vm.location,
    name: vm.name,
    offer: image.offer,
    osProfile: {
      adminUsername: vm.adminUsername ?? "",
      computerName: vm.computerName ?? vm.name,
      disablePasswordAuthentication: "true",
    },
    osType: vm.osType ?? "Linux",
    physicalZone: "",
    placementGroupId: "",
    plan: { name: "", product: "", publisher: "" },
    platformFaultDomain: "0",
    platformSubFaultDomain: "",
    platformUpdateDomain: "0",
    priority: "",
    provider: "Microsoft.Compute",
    publicKeys: [],
    publisher: image.publisher,
    resourceGroupName: vm.resourceGroup,
    resourceId: vmResourceId(vm),
    securityProfile: {
      encryptionAtHost: "false",
      secureBootEnabled: "false",
      securityType: "",
      virtualTpmEnabled: "false",
    },
    sku: image.sku,
    storageProfile: {
      dataDisks: [],
      imageReference: {
        id: "",
        offer: image.offer,
        publisher: image.publisher,
        sku: image.sku,
        version: image.version,
      },
      osDisk: {
        caching: "ReadWrite",
        createOption: "FromImage",
        diskSizeGB: "30",
        managedDisk: { id: "", storageAccountType: "Standard_LRS" },
        name: `${vm.name}_OsDisk_1`,
        osType: vm.osType ?? "Linux",
        writeAcceleratorEnabled: "false",
      },
    },
    subscriptionId: vm.subscriptionId,
    tags: Object.entries(tags)
      .map(([k, v]) => `${k}:${v}`)
      .join(";"),
    tagsList: Object.entries(tags).map(([name, value]) => ({ name, value })),
    userData: "",
    version: image.version,
    virtualMachineScaleSet: { id: "" },
    vmId: vm.vmId,
    vmScaleSetName: "",
    vmSize: vm.vmSize ?? "Standard_B1s",
    zone: vm.zone ?? "",
  }
  const out: Record<string, Json> = {}
  for (const [key, value] of Object.entries(all)) {
    const since = COMPUTE_SINCE[key]
    if (since === undefined || since <= apiVersion) out[key] = value
  }
  return out
}

const networkFor = (vm: VirtualMachine): Record<string, Json> => {
  const n = vm.network ?? {
    privateIpAddress: "10.0.0.4",
    publicIpAddress: "",
    macAddress: "000D3A000000",
    subnetAddress: "10.0.0.0",
    subnetPrefix: "24",
  }
  return {
    interface: [
      {
        ipv4: {
          ipAddress: [{ privateIpAddress: n.privateIpAddress, publicIpAddress: n.publicIpAddress ?? "" }],
          subnet: [{ address: n.subnetAddress, prefix: n.subnetPrefix }],
        },
        ipv6: { ipAddress: [] },
        macAddress: n.macAddress,
      },
    ],
  }
}

const isLeaf = (node: Json): node is string => typeof node === "string"

/** Walks `segments` (object keys case-insensitively, array indexes) from `root`. */
const walk = (root: Json, segments: ReadonlyArray<string>): Json | undefined => {
  let node: Json | undefined = root
  for (const segment of segments) {
    if (node === undefined || isLeaf(node)) return undefined
    if (Array.isArray(node)) {
      node = /^\d+$/.test(segment) ? node[Number(segment)] : undefined
    } else {
      const key: string | undefined = Object.keys(node).find((k) => k.toLowerCase() === segment.toLowerCase())
      node = key === undefined ? undefined : node[key]
    }
  }
  return node
}

const asText = (node: Json): string => {
  if (isLeaf(node)) return node
  if (Array.isArray(node)) return node.map((child, i) => (isLeaf(child) ? String(i) : `${i}/`)).join("\n")
  return Object.entries(node)
    .map(([k, child]) => (isLeaf(child) ? k : `${k}/`))
    .join("\n")
}

/** Checks shared by every instance-category route; returns an error reply or the api-version. */
const precheck = (req: RouteRequest): Reply | string => {
  if (req.method !== "GET") return methodNotAllowed()
  if (!hasMetadataHeader(req))
    return instanceError(400, "Bad request. Required metadata header not specified")
  if (header(req.headers, "x-forwarded-for") !== undefined) {
    return instanceError(400, "Bad request. Requests with the X-Forwarded-For header are not accepted")
  }
  const names = [...req.query.keys()].map((k) => k.toLowerCase())
  if (new Set(names).size !== names.length) {
    return instanceError(400, "Bad request. Duplicate query parameter names are not allowed")
  }
  const apiVersion = req.query.get("api-version")
  if (!isImdsApiVersion(apiVersion)) {
    return instanceError(400, API_VERSION_ERROR, { "newest-versions": NEWEST_VERSIONS })
  }
  return apiVersion
}

/** `GET /metadata/instance[/sub/path]`; `subPath` is what follows `/metadata/instance`. */
export const handleInstance = (req: RouteRequest, vm: VirtualMachine | undefined, subPath: string): Reply => {
  const checked = precheck(req)
  if (typeof checked !== "string") return checked
  if (vm === undefined) return instanceError(404, "Not found")
  const format = req.query.get("format") ?? "json"
  if (format !== "json" && format !== "text") {
    return instanceError(400, "Bad request. Invalid format; use format=json or format=text")
  }
  const root: Json = { compute: computeFor(vm, checked), network: networkFor(vm) }
  const segments = subPath.split("/").filter((s) => s !== "")
  const node = walk(root, segments)
  if (node === undefined) return instanceError(404, "Not found")
  if (format === "text") return textReply(200, asText(node), { server: IMDS_SERVER_HEADER })
  if (isLeaf(node)) {
    return instanceError(400, "Bad request. Leaf nodes can only be requested with format=text")
  }
  return jsonReply(200, node, { server: IMDS_SERVER_HEADER })
}

/** `GET /metadata/versions` (no api-version needed). */
export const handleVersions = (req: RouteRequest): Reply => {
  if (req.method !== "GET") return methodNotAllowed()
  if (!hasMetadataHeader(req))
    return instanceError(400, "Bad request. Required metadata header not specified")
  return jsonReply(200, { apiVersions: IMDS_API_VERSIONS }, { server: IMDS_SERVER_HEADER })
}

/** `GET /metadata/identity/info`: the tenant of the VM's identity. */
export const handleIdentityInfo = (
  req: RouteRequest,
  store: WorldStore,
  vm: VirtualMachine | undefined,
): Reply => {
  if (req.method !== "GET") return identityMethodNotAllowed()
  if (!hasMetadataHeader(req))
    return imdsError(400, "invalid_request", "Required metadata header not specified")
  const apiVersion = req.query.get("api-version")
  if (!isImdsApiVersion(apiVersion) || apiVersion < IDENTITY_MIN_API_VERSION) {
    return imdsError(400, "invalid_request", API_VERSION_ERROR)
  }
  if (vm === undefined || (!vm.systemAssigned && attachedUserAssigned(store, vm).length === 0)) {
    return imdsError(400, "invalid_request", "Identity not found")
  }
  const tenantId = store.findSubscription(vm.subscriptionId)?.tenantId ?? store.defaultTenantId
  return jsonReply(200, { tenantId }, { server: IMDS_SERVER_HEADER })
}
