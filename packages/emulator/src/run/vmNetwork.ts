/**
 * The simulated VM's network, as `azmi-emulator run` builds it inside a private network namespace: which
 * addresses and names exist there, the `ip` commands that make them, the private `/etc/hosts`, and the check
 * that nothing in the namespace leads out of it.
 *
 * Everything here is data or a pure function over `ip -j` output; `namespace.ts` runs the commands.
 * @module
 */

/** Where IMDS lives on every Azure VM. */
export const IMDS_ADDRESS = "169.254.169.254"

/** The namespace's loopback address that the Azure host names resolve to; the ARM + login server listens here. */
export const EMULATOR_ADDRESS = "127.0.0.1"

/**
 * The public-cloud names the official clients dial in the managed-identity and ARM flows: ARM itself, and the
 * Entra authority hosts (`login.microsoftonline.com` is the default of @azure/identity, MSAL and azure-identity;
 * `login.microsoft.com` and `login.windows.net` are its aliases in MSAL's cloud metadata and older
 * libraries' defaults). On IMDS the managed-identity token itself never leaves 169.254.169.254.
 */
export const AZURE_HOST_NAMES = [
  "management.azure.com",
  "login.microsoftonline.com",
  "login.microsoft.com",
  "login.windows.net",
] as const

/** What the emulator advertises inside the namespace. */
export const ARM_URL = "https://management.azure.com"
export const LOGIN_URL = "https://login.microsoftonline.com"

/**
 * `--no-imds`: a veth pair created inside the namespace, both ends kept there, the peer left down. Packets to
 * 169.254.169.254 are routed to `IMDS_BLACKHOLE` (with a permanent neighbour entry, so no ARP is tried and
 * fails fast with EHOSTUNREACH) and dropped by the down peer: a client's connect waits for its own timeout,
 * exactly as on a laptop or in a container with no IMDS.
 */
export const IMDS_BLACKHOLE = "azmi-imds"
export const IMDS_BLACKHOLE_PEER = "azmi-void"

/** The `ip -batch` commands that build the namespace's network (it starts with only `lo`, down). */
export const networkCommands = (noImds: boolean): ReadonlyArray<string> =>
  noImds
    ? [
        "link set lo up",
        `link add ${IMDS_BLACKHOLE} type veth peer name ${IMDS_BLACKHOLE_PEER}`,
        `link set ${IMDS_BLACKHOLE} up`,
        `route add ${IMDS_ADDRESS}/32 dev ${IMDS_BLACKHOLE}`,
        `neigh replace ${IMDS_ADDRESS} lladdr 02:00:00:00:00:01 dev ${IMDS_BLACKHOLE} nud permanent`,
      ]
    : ["link set lo up", `address add ${IMDS_ADDRESS}/32 dev lo`]

/** The namespace's `/etc/hosts`, bind-mounted over the host's in the private mount namespace. */
export const hostsFile = (hostname: string): string =>
  [
    "# azmi-emulator run: this namespace's private /etc/hosts (the machine's own file is untouched).",
    `127.0.0.1\tlocalhost${hostname === "" || hostname === "localhost" ? "" : ` ${hostname}`}`,
    "::1\tlocalhost ip6-localhost ip6-loopback",
    `${EMULATOR_ADDRESS}\t${AZURE_HOST_NAMES.join(" ")}`,
    "",
  ].join("\n")

/**
 * Where name-service daemons of the machine listen (nscd, systemd-resolved's varlink socket). Unix sockets
 * cross network namespaces: glibc would ask the machine's daemon — which reads the machine's /etc/hosts and
 * sends DNS queries from the machine's network — before (nscd) or after (nss-resolve) the private /etc/hosts.
 * Each that exists is covered by an empty directory inside the namespace, so names resolve there alone.
 */
export const RESOLVER_DAEMON_DIRS = [
  "/run/nscd",
  "/var/run/nscd",
  "/run/systemd/resolve",
  "/var/run/systemd/resolve",
]

/** The distinct real directories among `RESOLVER_DAEMON_DIRS` (`/var/run` is usually `/run`). */
export const resolverDaemonDirs = (realpath: (path: string) => string | undefined): ReadonlyArray<string> => [
  ...new Set(RESOLVER_DAEMON_DIRS.map(realpath).filter((p): p is string => p !== undefined)),
]

/** One interface as `ip -j link show` prints it (the fields read here). */
export interface IpLink {
  readonly ifname: string
  readonly flags?: ReadonlyArray<string>
  readonly link_type?: string
  /** The peer's name, for a veth whose peer is in this namespace. */
  readonly link?: string
  /** Present when the peer lives in another namespace. */
  readonly link_netnsid?: number
}

/** One route as `ip -j route show table all` prints it (the fields read here). */
export interface IpRoute {
  readonly dst?: string
  readonly dev?: string
  readonly gateway?: string
  readonly type?: string
  readonly table?: string
}

export interface NetworkView {
  readonly links: ReadonlyArray<IpLink>
  readonly routes: ReadonlyArray<IpRoute>
}

const isUp = (link: IpLink) => (link.flags ?? []).includes("UP")

/**
 * True when the namespace is as `unshare --net` makes it: nothing but a loopback interface. Checked before
 * anything is configured, so that a namespace that is not fresh (or no namespace at all) is never touched.
 */
export const isPristine = (view: NetworkView): boolean =>
  view.links.length === 1 && view.links[0]?.ifname === "lo" && view.links[0]?.link_type === "loopback"

/**
 * Why the namespace might lead out of the machine; empty when it cannot. Sealed means: interfaces are `lo`
 * and, with `--no-imds`, the veth pair whose peer is down; no default route in any table, IPv4 or IPv6; no
 * gateway anywhere; every route on `lo` or the black hole.
 */
export const leaksOut = (view: NetworkView, noImds: boolean): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const allowed = new Set(noImds ? ["lo", IMDS_BLACKHOLE, IMDS_BLACKHOLE_PEER] : ["lo"])
  for (const link of view.links) {
    if (!allowed.has(link.ifname)) problems.push(`unexpected interface ${link.ifname}`)
    if (link.link_netnsid !== undefined) problems.push(`${link.ifname} is linked to another namespace`)
    if (link.ifname === "lo" && link.link_type !== "loopback") problems.push("lo is not a loopback interface")
    if (link.ifname === IMDS_BLACKHOLE_PEER && isUp(link)) problems.push(`${IMDS_BLACKHOLE_PEER} is up`)
    if (link.ifname === IMDS_BLACKHOLE && link.link !== IMDS_BLACKHOLE_PEER)
      problems.push(`${IMDS_BLACKHOLE}'s peer is not ${IMDS_BLACKHOLE_PEER} in this namespace`)
  }
  const routeDevices = new Set(noImds ? ["lo", IMDS_BLACKHOLE] : ["lo"])
  for (const route of view.routes) {
    const where = `${route.dst ?? "?"} dev ${route.dev ?? "?"} table ${route.table ?? "main"}`
    if (route.dst === "default") problems.push(`default route (${where})`)
    if (route.gateway !== undefined) problems.push(`route via a gateway (${where} via ${route.gateway})`)
    if (route.dev !== undefined && !routeDevices.has(route.dev))
      problems.push(`route on ${route.dev} (${where})`)
    // IPv6 link-local and multicast routes may appear on the black hole; like it, they reach only the down peer.
    const linkLocal = /^(fe80|ff00):/.test(route.dst ?? "") || route.type === "multicast"
    if (route.dev === IMDS_BLACKHOLE && route.dst !== IMDS_ADDRESS && !linkLocal)
      problems.push(`route other than ${IMDS_ADDRESS} on ${IMDS_BLACKHOLE} (${where})`)
  }
  if (noImds && !view.links.some((l) => l.ifname === IMDS_BLACKHOLE_PEER))
    problems.push(`${IMDS_BLACKHOLE_PEER} is missing`)
  return problems
}
