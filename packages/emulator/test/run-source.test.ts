/**
 * The Azure host `azmi-emulator run --source S` simulates, as COMMAND finds it inside the namespace: an IMDS at
 * 169.254.169.254 only where the real host has one, the host's endpoint on 127.0.0.1 (Arc and Cloud Shell on
 * their real ports), and the directories the SDKs insist on.
 */
import { describe, expect, it } from "vitest"
import { simulatedHost } from "../src/run/source.js"

describe("simulatedHost", () => {
  it.each([
    ["imds", true, 0, []],
    ["app-service", false, 0, []],
    ["arc", false, 40342, ["/var/opt/azcmagent/tokens"]],
    ["service-fabric", true, 0, []],
    ["cloud-shell", false, 50342, []],
    ["azure-ml", true, 0, []],
    ["workload-identity", true, 0, ["/var/run/secrets/azure/wi/token"]],
  ] as const)(
    "%s: IMDS %s, endpoint 127.0.0.1 port %i (0: free), private directories %j",
    (source, imds, port, dirs) => {
      const host = simulatedHost(source, { noImds: false })
      expect(host.imds).toBe(imds)
      expect(host.endpoint).toEqual({ host: "127.0.0.1", port })
      expect(host.privateDirectories).toEqual(dirs)
    },
  )

  it("--no-imds takes IMDS away from any host", () => {
    for (const source of ["imds", "service-fabric", "azure-ml", "workload-identity"] as const) {
      expect(simulatedHost(source, { noImds: true }).imds).toBe(false)
    }
  })

  it("workload identity: the projected token where the AKS webhook mounts it, in its private directory", () => {
    expect(simulatedHost("workload-identity", { noImds: false }).federatedTokenFile).toBe(
      "/var/run/secrets/azure/wi/token/azure-identity-token",
    )
    expect(simulatedHost("arc", { noImds: false }).federatedTokenFile).toBeUndefined()
  })
})
