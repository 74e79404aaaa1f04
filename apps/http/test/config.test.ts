import { readFileSync } from "node:fs"
import { Either, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { version } from "../src/app.js"
import { commandOf, defaultConfig, isLoopbackHost, loadConfig } from "../src/config.js"

const ok = (env: Record<string, string>, argv: Array<string> = []) => {
  const result = loadConfig(env, argv)
  if (Either.isLeft(result)) throw new Error(result.left.message)
  return result.right
}
const error = (env: Record<string, string>, argv: Array<string> = []) => {
  const result = loadConfig(env, argv)
  if (Either.isRight(result)) throw new Error("expected a configuration error")
  return result.left
}

describe("loadConfig", () => {
  it("defaults: loopback, 8080, 5 s cache, broker and API key off", () => {
    expect(ok({})).toEqual({
      ...defaultConfig,
      imdsEndpoint: undefined,
      armEndpoint: undefined,
      apiKey: undefined,
      identityHeader: undefined,
    })
    expect(defaultConfig.host).toBe("127.0.0.1")
  })

  it("reads every variable", () => {
    const config = ok({
      AZMI_HTTP_HOST: "0.0.0.0",
      AZMI_HTTP_PORT: "0",
      AZMI_IMDS_ENDPOINT: "http://127.0.0.1:4000",
      AZMI_ARM_ENDPOINT: "https://127.0.0.1:4443",
      AZMI_ARM_AUDIENCE: "https://management.usgovcloudapi.net/",
      AZMI_HTTP_API_KEY: "k".repeat(32),
      AZMI_IDENTITY_HEADER: "h".repeat(20),
      AZMI_HTTP_CACHE_TTL_MS: "250",
      AZMI_HTTP_MAX_BODY_BYTES: "0",
      AZMI_HTTP_MAX_HEADER_BYTES: "8192",
      AZMI_HTTP_SHUTDOWN_TIMEOUT_MS: "1500",
    })
    expect(config).toMatchObject({
      host: "0.0.0.0",
      port: 0,
      imdsEndpoint: "http://127.0.0.1:4000",
      armEndpoint: "https://127.0.0.1:4443",
      armAudience: "https://management.usgovcloudapi.net/",
      cacheTtlMs: 250,
      maxBodyBytes: 0,
      maxHeaderBytes: 8192,
      shutdownTimeoutMs: 1500,
    })
    expect(config.apiKey && Redacted.value(config.apiKey)).toBe("k".repeat(32))
    expect(config.identityHeader && Redacted.value(config.identityHeader)).toBe("h".repeat(20))
  })

  it("flags override variables", () => {
    expect(ok({ AZMI_HTTP_PORT: "9000" }, ["--port", "9001", "--cache-ttl-ms=0"])).toMatchObject({
      port: 9001,
      cacheTtlMs: 0,
    })
  })

  it.each([
    [{ AZMI_HTTP_PORT: "http" }, [], "AZMI_HTTP_PORT"],
    [{ AZMI_HTTP_PORT: "65536" }, [], "AZMI_HTTP_PORT"],
    [{ AZMI_HTTP_PORT: "-1" }, [], "AZMI_HTTP_PORT"],
    [{}, ["--port", "8o8o"], "--port"],
    [{ AZMI_HTTP_CACHE_TTL_MS: "5s" }, [], "AZMI_HTTP_CACHE_TTL_MS"],
    [{ AZMI_IMDS_ENDPOINT: "169.254.169.254" }, [], "AZMI_IMDS_ENDPOINT"],
    [{ AZMI_ARM_ENDPOINT: "ftp://x" }, [], "AZMI_ARM_ENDPOINT"],
    [{ AZMI_HTTP_HOST: "a host" }, [], "AZMI_HTTP_HOST"],
    [{ AZMI_HTTP_MAX_HEADER_BYTES: "10" }, [], "AZMI_HTTP_MAX_HEADER_BYTES"],
    [{}, ["--api-key", "x"], "arguments"],
  ] as const)("%j %j fails naming %s", (env, argv, variable) => {
    const e = error(env, [...argv])
    expect(e._tag).toBe("InvalidConfiguration")
    expect(e.variable).toBe(variable)
    expect(e.message).toContain(variable)
  })

  it("a short secret is refused, and its value is not repeated in the message", () => {
    const e = error({ AZMI_HTTP_API_KEY: "hunter2" })
    expect(e.variable).toBe("AZMI_HTTP_API_KEY")
    expect(e.message).not.toContain("hunter2")
    const h = error({ AZMI_IDENTITY_HEADER: "0123456789abcdef\n" })
    expect(h.variable).toBe("AZMI_IDENTITY_HEADER")
    expect(h.message).not.toContain("0123456789abcdef")
  })
})

describe("listening off loopback (the /v1 routes read with this machine's identity)", () => {
  const key = { AZMI_HTTP_API_KEY: "k".repeat(32) }

  it.each([
    "0.0.0.0",
    "::",
    "10.1.2.3",
    "192.168.0.10",
    "169.254.10.1",
    "fe80::1",
    "example.com",
    "127.example.com",
  ])("%s without AZMI_HTTP_API_KEY is refused, naming the host setting and saying why", (host) => {
    for (const [env, argv, variable] of [
      [{ AZMI_HTTP_HOST: host }, [], "AZMI_HTTP_HOST"],
      [{}, ["--host", host], "--host"],
    ] as const) {
      const e = error(env, [...argv])
      expect(e.variable).toBe(variable)
      expect(e.message).toContain("not a loopback address")
      expect(e.message).toContain("AZMI_HTTP_API_KEY")
      expect(e.message).toContain("--allow-unauthenticated-remote")
    }
  })

  it("with an API key, or with the explicit opt-out (flag or variable), it is allowed", () => {
    expect(ok({ AZMI_HTTP_HOST: "0.0.0.0", ...key }).host).toBe("0.0.0.0")
    expect(ok({ AZMI_HTTP_HOST: "0.0.0.0" }, ["--allow-unauthenticated-remote"])).toMatchObject({
      host: "0.0.0.0",
      allowUnauthenticatedRemote: true,
    })
    for (const yes of ["1", "true", "YES", "on"])
      expect(ok({ AZMI_HTTP_HOST: "::", AZMI_HTTP_ALLOW_UNAUTHENTICATED_REMOTE: yes }).host).toBe("::")
    for (const no of ["0", "false", "off", ""])
      expect(error({ AZMI_HTTP_HOST: "::", AZMI_HTTP_ALLOW_UNAUTHENTICATED_REMOTE: no }).variable).toBe(
        "AZMI_HTTP_HOST",
      )
    expect(error({ AZMI_HTTP_ALLOW_UNAUTHENTICATED_REMOTE: "sure" }).variable).toBe(
      "AZMI_HTTP_ALLOW_UNAUTHENTICATED_REMOTE",
    )
  })

  it.each(["127.0.0.1", "127.0.0.2", "127.1", "localhost", "LOCALHOST", "::1", "[::1]", "::ffff:127.0.0.1"])(
    "%s is loopback: no key needed",
    (host) => {
      expect(isLoopbackHost(host)).toBe(true)
      expect(ok({ AZMI_HTTP_HOST: host }).host).toBe(host)
    },
  )
})

describe("the command line", () => {
  it.each([
    [["--version"], "version"],
    [["-V"], "version"],
    [["--help"], "help"],
    [["-h"], "help"],
    [["--port", "0"], "run"],
    [["--nonsense"], "run"],
  ] as const)("%j is %s", (argv, command) => {
    expect(commandOf(argv)).toBe(command)
  })

  it("the version is package.json's", () => {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      version: string
    }
    expect(version).toBe(pkg.version)
  })
})

describe("the core's settings, through the same resolver (flags over the environment)", () => {
  it("a refused core flag is named as the flag, with the variable it stands for", () => {
    const e = error({}, ["--imds-endpoint", "http://10.0.0.1"])
    expect(e).toMatchObject({ variable: "--imds-endpoint", standsFor: "AZMI_IMDS_ENDPOINT" })
    expect(e.message).toMatch(
      /^Invalid configuration --imds-endpoint \(AZMI_IMDS_ENDPOINT\): host 10\.0\.0\.1/,
    )
  })

  it("every core setting is checked at start, not when the first request builds the layer", () => {
    expect(error({ AZURE_CLIENT_ID: "not-a-guid" }).variable).toBe("AZURE_CLIENT_ID")
    expect(error({ AZMI_DEADLINE_MS: "soon" }).variable).toBe("AZMI_DEADLINE_MS")
  })

  it("the core gets the flags (named as flags), never process.env; the audience is the core's", () => {
    const before = { ...process.env }
    const config = ok({ AZMI_ARM_AUDIENCE: "https://management.usgovcloudapi.net/" }, [
      "--imds-endpoint",
      "http://127.0.0.1:4000",
    ])
    expect(config.core).toEqual({ flags: { "--imds-endpoint": "http://127.0.0.1:4000" } })
    expect(config.imdsEndpoint).toBe("http://127.0.0.1:4000")
    expect(config.armAudience).toBe("https://management.usgovcloudapi.net/")
    expect(process.env).toEqual(before)
  })

  it("a blank variable counts as unset, as everywhere in azmi", () => {
    expect(ok({ AZMI_HTTP_PORT: "", AZMI_HTTP_API_KEY: " ", AZMI_HTTP_HOST: "" })).toMatchObject({
      port: 8080,
      apiKey: undefined,
      host: "127.0.0.1",
    })
  })
})

describe("loadConfig: the access log", () => {
  it("is on by default; AZMI_HTTP_ACCESS_LOG or --access-log (which wins) turn it off or on", () => {
    expect(ok({}).accessLog).toBe(true)
    expect(ok({ AZMI_HTTP_ACCESS_LOG: "off" }).accessLog).toBe(false)
    expect(ok({ AZMI_HTTP_ACCESS_LOG: "0" }).accessLog).toBe(false)
    expect(ok({}, ["--access-log", "off"]).accessLog).toBe(false)
    expect(ok({ AZMI_HTTP_ACCESS_LOG: "off" }, ["--access-log", "on"]).accessLog).toBe(true)
  })

  it("the flag takes a value, and a wrong one is refused naming the flag", () => {
    expect(error({}, ["--access-log", "sometimes"]).message).toContain("--access-log")
    expect(Either.isLeft(loadConfig({}, ["--access-log"]))).toBe(true)
  })
})

describe("loadConfig: the IMDS front end, Host names, stale-if-error, the health listener", () => {
  it("defaults: IMDS's protocol off, no extra Host names, stale reads for 5 minutes, no health listener", () => {
    expect(ok({})).toMatchObject({ imds: false, allowedHosts: [], staleIfErrorMs: 300_000 })
    expect(ok({}).healthPort).toBeUndefined()
  })

  it("reads each from its variable, and the flag wins", () => {
    const env = {
      AZMI_HTTP_IMDS: "1",
      AZMI_HTTP_ALLOWED_HOSTS: " azmi.internal , 169.254.169.254,",
      AZMI_HTTP_STALE_IF_ERROR_MS: "0",
      AZMI_HTTP_HEALTH_PORT: "42081",
      AZMI_HTTP_HEALTH_HOST: "0.0.0.0",
    }
    expect(ok(env)).toMatchObject({
      imds: true,
      allowedHosts: ["azmi.internal", "169.254.169.254"],
      staleIfErrorMs: 0,
      healthPort: 42081,
      healthHost: "0.0.0.0",
    })
    expect(
      ok(env, ["--allowed-hosts", "a.lan", "--stale-if-error-ms", "1000", "--health-port", "0"]),
    ).toMatchObject({ allowedHosts: ["a.lan"], staleIfErrorMs: 1000, healthPort: 0 })
    expect(ok({}, ["--imds"]).imds).toBe(true)
  })

  it.each([
    [{ AZMI_HTTP_IMDS: "maybe" }, "AZMI_HTTP_IMDS"],
    [{ AZMI_HTTP_ALLOWED_HOSTS: "good.lan,bad host" }, "AZMI_HTTP_ALLOWED_HOSTS"],
    [{ AZMI_HTTP_STALE_IF_ERROR_MS: "-1" }, "AZMI_HTTP_STALE_IF_ERROR_MS"],
    [{ AZMI_HTTP_HEALTH_PORT: "70000" }, "AZMI_HTTP_HEALTH_PORT"],
    [{ AZMI_HTTP_HEALTH_HOST: "a b" }, "AZMI_HTTP_HEALTH_HOST"],
    [{ AZMI_HTTP_ACCESS_LOG: "quiet" }, "AZMI_HTTP_ACCESS_LOG"],
  ])("%j is refused, naming %s", (env, variable) => {
    expect(error(env).variable).toBe(variable)
  })
})
