/**
 * COMMAND's environment in `azmi-emulator run`: the caller's, less what a VM does not have, plus the CA and the
 * info file — and for IMDS nothing else.
 */
import { describe, expect, it } from "vitest"
import {
  CA_VARIABLES,
  commandEnvironment,
  IDENTITY_VARIABLES,
  PROXY_VARIABLES,
} from "../src/run/environment.js"

const base = { caCertPath: "/tmp/ca/ca.pem", infoPath: "/tmp/run/emulator.json", sourceEnv: {} }

describe("commandEnvironment", () => {
  it("IMDS: the caller's variables plus exactly the four CA variables and AZMI_EMULATOR_INFO", () => {
    const { env, added, removed } = commandEnvironment({
      ...base,
      caller: { PATH: "/usr/bin", HOME: "/home/u", LANG: "C.UTF-8", TERM: "xterm", EMPTY: "" },
    })
    expect(added).toEqual({
      NODE_EXTRA_CA_CERTS: "/tmp/ca/ca.pem",
      REQUESTS_CA_BUNDLE: "/tmp/ca/ca.pem",
      SSL_CERT_FILE: "/tmp/ca/ca.pem",
      CURL_CA_BUNDLE: "/tmp/ca/ca.pem",
      AZMI_EMULATOR_INFO: "/tmp/run/emulator.json",
    })
    expect(env).toEqual({
      PATH: "/usr/bin",
      HOME: "/home/u",
      LANG: "C.UTF-8",
      TERM: "xterm",
      EMPTY: "",
      ...added,
    })
    expect(removed).toEqual([])
  })

  it("leaves out every identity, azmi and proxy variable of the caller, naming them (values never)", () => {
    const caller: Record<string, string> = { PATH: "/bin", AZURE_SUBSCRIPTION_ID: "kept", NO_PROXY: "kept" }
    for (const name of [...IDENTITY_VARIABLES, ...PROXY_VARIABLES]) caller[name] = `secret-${name}`
    caller.AZMI_IMDS_ENDPOINT = "http://127.0.0.1:1"
    caller.AZMI_OUTPUT = "table"
    const { env, removed } = commandEnvironment({ ...base, caller })
    expect(Object.keys(env).sort()).toEqual(
      ["PATH", "AZURE_SUBSCRIPTION_ID", "NO_PROXY", ...CA_VARIABLES, "AZMI_EMULATOR_INFO"].sort(),
    )
    expect(removed).toEqual(
      [...IDENTITY_VARIABLES, ...PROXY_VARIABLES, "AZMI_IMDS_ENDPOINT", "AZMI_OUTPUT"].sort(),
    )
    expect(JSON.stringify(removed)).not.toContain("secret-")
  })

  it("the caller's own CA variables are replaced by the emulator's CA", () => {
    const { env } = commandEnvironment({
      ...base,
      caller: { NODE_EXTRA_CA_CERTS: "/corp.pem", SSL_CERT_FILE: "/etc/ssl/cert.pem" },
    })
    for (const name of CA_VARIABLES) expect(env[name]).toBe("/tmp/ca/ca.pem")
  })

  it("a host's own variables (another source) are added as given", () => {
    const { env, added } = commandEnvironment({
      ...base,
      caller: { IDENTITY_ENDPOINT: "http://elsewhere" },
      sourceEnv: { IDENTITY_ENDPOINT: "http://127.0.0.1:41000/msi/token", IDENTITY_HEADER: "h" },
    })
    expect(env.IDENTITY_ENDPOINT).toBe("http://127.0.0.1:41000/msi/token")
    expect(added.IDENTITY_HEADER).toBe("h")
  })
})
