/**
 * The simulated VM's network: the `ip` commands that build it, its private /etc/hosts, and the checks that a
 * namespace is fresh before it is touched and sealed before COMMAND starts. The fixtures are real `ip -j`
 * output (iproute2 6.1) from namespaces built by these commands.
 */
import { describe, expect, it } from "vitest"
import {
  AZURE_HOST_NAMES,
  hostsFile,
  type IpLink,
  type IpRoute,
  isPristine,
  leaksOut,
  networkCommands,
  resolverDaemonDirs,
} from "../src/run/vmNetwork.js"

const loDown: IpLink = { ifname: "lo", flags: ["LOOPBACK"], link_type: "loopback" }
const loUp: IpLink = { ifname: "lo", flags: ["LOOPBACK", "UP", "LOWER_UP"], link_type: "loopback" }
const voidPeer: IpLink = {
  ifname: "azmi-void",
  link: "azmi-imds",
  flags: ["BROADCAST", "MULTICAST"],
  link_type: "ether",
}
const blackhole: IpLink = {
  ifname: "azmi-imds",
  link: "azmi-void",
  flags: ["NO-CARRIER", "BROADCAST", "MULTICAST", "UP", "M-DOWN"],
  link_type: "ether",
}
const localRoutes: ReadonlyArray<IpRoute> = [
  { type: "local", dst: "127.0.0.0/8", dev: "lo", table: "local" },
  { type: "local", dst: "127.0.0.1", dev: "lo", table: "local" },
  { type: "broadcast", dst: "127.255.255.255", dev: "lo", table: "local" },
  { type: "local", dst: "::1", dev: "lo", table: "local" },
]
const imdsOnLo: IpRoute = { type: "local", dst: "169.254.169.254", dev: "lo", table: "local" }
const imdsToBlackhole: IpRoute = { dst: "169.254.169.254", dev: "azmi-imds" }

describe("the simulated VM's network", () => {
  it("IMDS: loopback up with 169.254.169.254 on it; --no-imds: the address routed into a veth whose peer stays down", () => {
    expect(networkCommands(false)).toEqual(["link set lo up", "address add 169.254.169.254/32 dev lo"])
    expect(networkCommands(true)).toEqual([
      "link set lo up",
      "link add azmi-imds type veth peer name azmi-void",
      "link set azmi-imds up",
      "route add 169.254.169.254/32 dev azmi-imds",
      "neigh replace 169.254.169.254 lladdr 02:00:00:00:00:01 dev azmi-imds nud permanent",
    ])
    expect(networkCommands(true).some((c) => c.includes("azmi-void up"))).toBe(false)
  })

  it("/etc/hosts sends every Azure name to the emulator's loopback address, and keeps localhost", () => {
    const hosts = hostsFile("vm")
    expect(hosts).toContain("127.0.0.1\tlocalhost vm\n")
    expect(hosts).toContain("::1\tlocalhost")
    expect(hosts).toContain(`127.0.0.1\t${AZURE_HOST_NAMES.join(" ")}\n`)
    expect(AZURE_HOST_NAMES).toEqual(
      expect.arrayContaining(["management.azure.com", "login.microsoftonline.com"]),
    )
    expect(hostsFile("localhost")).toContain("127.0.0.1\tlocalhost\n")
  })

  it("the machine's name-service daemons (nscd, systemd-resolved) are hidden where they exist, each real directory once", () => {
    const real: Record<string, string> = {
      "/run/nscd": "/run/nscd",
      "/var/run/nscd": "/run/nscd",
      "/run/systemd/resolve": "/run/systemd/resolve",
    }
    expect(resolverDaemonDirs((p) => real[p])).toEqual(["/run/nscd", "/run/systemd/resolve"])
    expect(resolverDaemonDirs(() => undefined)).toEqual([])
  })

  it("a fresh namespace has only lo; anything else is not touched", () => {
    expect(isPristine({ links: [loDown], routes: [] })).toBe(true)
    expect(isPristine({ links: [loDown, { ifname: "eth0", link_type: "ether" }], routes: [] })).toBe(false)
    expect(isPristine({ links: [], routes: [] })).toBe(false)
  })

  it("as built, both variants are sealed", () => {
    expect(leaksOut({ links: [loUp], routes: [...localRoutes, imdsOnLo] }, false)).toEqual([])
    expect(
      leaksOut({ links: [loUp, voidPeer, blackhole], routes: [imdsToBlackhole, ...localRoutes] }, true),
    ).toEqual([])
  })

  it.each<[string, { links: ReadonlyArray<IpLink>; routes: ReadonlyArray<IpRoute> }, boolean, RegExp]>([
    ["a default route", { links: [loUp], routes: [{ dst: "default", dev: "lo" }] }, false, /default route/],
    [
      "an IPv6 default route in another table",
      { links: [loUp], routes: [{ dst: "default", dev: "lo", table: "100" }] },
      false,
      /default route \(default dev lo table 100\)/,
    ],
    [
      "a gateway",
      { links: [loUp], routes: [{ dst: "10.0.0.0/8", gateway: "127.0.0.2", dev: "lo" }] },
      false,
      /gateway/,
    ],
    [
      "another interface",
      { links: [loUp, { ifname: "eth0", link_type: "ether" }], routes: [] },
      false,
      /eth0/,
    ],
    [
      "a route on another interface",
      { links: [loUp], routes: [{ dst: "192.0.2.0/24", dev: "eth0" }] },
      false,
      /route on eth0/,
    ],
    ["the veth without --no-imds", { links: [loUp, voidPeer, blackhole], routes: [] }, false, /azmi-void/],
    [
      "the peer up",
      { links: [loUp, { ...voidPeer, flags: ["UP"] }, blackhole], routes: [] },
      true,
      /azmi-void is up/,
    ],
    [
      "the peer in another namespace",
      { links: [loUp, { ifname: "azmi-imds", link_type: "ether", link_netnsid: 0 }], routes: [] },
      true,
      /linked to another namespace/,
    ],
    [
      "another route into the black hole",
      {
        links: [loUp, voidPeer, blackhole],
        routes: [imdsToBlackhole, { dst: "0.0.0.0/1", dev: "azmi-imds" }],
      },
      true,
      /route other than 169\.254\.169\.254 on azmi-imds/,
    ],
    [
      "lo that is not loopback",
      { links: [{ ifname: "lo", link_type: "ether" }], routes: [] },
      false,
      /not a loopback/,
    ],
  ])("%s is a way out", (_name, view, noImds, problem) => {
    expect(leaksOut(view, noImds).join("; ")).toMatch(problem)
  })
})
