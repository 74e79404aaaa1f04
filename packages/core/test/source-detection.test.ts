/**
 * Detection, as the SDKs do it and written once: workload identity first, then MSAL's order (Service
 * Fabric → App Service → Azure ML → Cloud Shell → Arc → IMDS); a blank variable is unset; AZMI_MI_SOURCE
 * (or the option) forces a host; every endpoint variable is held to loopback/link-local and the error
 * names it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, ConfigProvider, Effect, Either, Exit, Option } from "effect"
import * as AzureHost from "../src/AzureHost.js"
import { AzmiConfig, type ConfigOptions, detectionInputOf, settings } from "../src/Config.js"
import { IdentitySelector } from "../src/IdentitySelector.js"
import * as Settings from "../src/Settings.js"
import { DEFAULT_ARC_ENDPOINT, detectSource, HIMDS_PATH } from "../src/SourceDetection.js"

const THUMB = "9F2C4E6A8B0D1F3E5A7C9B1D3F5E7A9C1B3D5F7E"
const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
const CLIENT = "0d7e6c5b-4a39-4827-9615-0f1e2d3c4b5a"

type Env = Readonly<Record<string, string>>

const vars = {
  sf: {
    IDENTITY_ENDPOINT: "https://127.0.0.1:2377/metadata/identity/oauth2/token",
    IDENTITY_HEADER: "sf-secret",
    IDENTITY_SERVER_THUMBPRINT: THUMB,
  },
  appService: { IDENTITY_ENDPOINT: "http://127.0.0.1:41741/msi/token", IDENTITY_HEADER: "app-secret" },
  ml: { MSI_ENDPOINT: "http://127.0.0.1:46808/msi/token", MSI_SECRET: "ml-secret" },
  cloudShell: { MSI_ENDPOINT: "http://localhost:50342/oauth2/token" },
  arc: {
    IDENTITY_ENDPOINT: "http://127.0.0.1:40342/metadata/identity/oauth2/token",
    IMDS_ENDPOINT: "http://127.0.0.1:40342",
  },
  workload: { AZURE_FEDERATED_TOKEN_FILE: "/var/run/secrets/azure/tokens/azure-identity-token" },
} satisfies Record<string, Env>

interface More {
  /** Options (and flags) given in code, over `env`. */
  readonly options?: ConfigOptions
  /** The identity asked for (default: AZURE_CLIENT_ID's, else system-assigned). */
  readonly identity?: IdentitySelector
  readonly identitySetBy?: string
  /** Whether the Arc agent is installed (default: not). */
  readonly himds?: () => boolean
}

/** The settings `env` (and `more.options`) give, read as the resolver reads them, into detection. */
const detectFrom = (env: Env, more: More = {}) => {
  const options = more.options ?? {}
  const all = Object.values(settings) as ReadonlyArray<Settings.Setting<unknown>>
  const source = Settings.sourceOf(ConfigProvider.fromMap(new Map(Object.entries(env))), [
    ...Settings.givenOptions(all, options),
    ...Settings.givenFlags(all, options.flags ?? {}),
  ])
  const read = Effect.runSync(Settings.readAll(settings, source))
  // AZURE_CLIENT_ID as the resolver reads it (blank: unset).
  const identity =
    more.identity ??
    Option.match(read.clientId, {
      onNone: () => IdentitySelector.SystemAssigned(),
      onSome: (r) => IdentitySelector.ClientId({ clientId: r.value }),
    })
  return detectSource(
    detectionInputOf(read, {
      identity,
      identitySetBy: more.identitySetBy,
      himdsInstalled: more.himds ?? (() => false),
    }),
  )
}

const detect = (env: Env, more: More = {}) => {
  const result = detectFrom(env, more)
  if (Either.isLeft(result)) throw new Error(`unexpected: ${result.left.message}`)
  return result.right
}

const refused = (env: Env, more: More = {}) => {
  const result = detectFrom(env, more)
  if (Either.isRight(result)) throw new Error(`expected a refusal, got ${result.right.name}`)
  return result.left
}

describe("detection order (MSAL's, with workload identity first as @azure/identity checks it)", () => {
  it.each([
    ["nothing set", {}, "imds", []],
    [
      "IDENTITY_ENDPOINT + IDENTITY_HEADER + IDENTITY_SERVER_THUMBPRINT",
      vars.sf,
      "service-fabric",
      ["IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT"],
    ],
    [
      "IDENTITY_ENDPOINT + IDENTITY_HEADER",
      vars.appService,
      "app-service",
      ["IDENTITY_ENDPOINT", "IDENTITY_HEADER"],
    ],
    [
      "App Service even with IMDS_ENDPOINT set too",
      { ...vars.appService, IMDS_ENDPOINT: "http://127.0.0.1:40342" },
      "app-service",
      ["IDENTITY_ENDPOINT", "IDENTITY_HEADER"],
    ],
    ["MSI_ENDPOINT + MSI_SECRET", vars.ml, "azure-ml", ["MSI_ENDPOINT", "MSI_SECRET"]],
    ["MSI_ENDPOINT alone", vars.cloudShell, "cloud-shell", ["MSI_ENDPOINT"]],
    ["IDENTITY_ENDPOINT + IMDS_ENDPOINT", vars.arc, "arc", ["IDENTITY_ENDPOINT", "IMDS_ENDPOINT"]],
    [
      "IDENTITY_ENDPOINT alone is nothing (IMDS)",
      { IDENTITY_ENDPOINT: vars.arc.IDENTITY_ENDPOINT },
      "imds",
      [],
    ],
    [
      "Service Fabric before Azure ML",
      { ...vars.sf, ...vars.ml },
      "service-fabric",
      ["IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT"],
    ],
    [
      "App Service before Azure ML",
      { ...vars.appService, ...vars.ml },
      "app-service",
      ["IDENTITY_ENDPOINT", "IDENTITY_HEADER"],
    ],
    ["Azure ML before Arc", { ...vars.arc, ...vars.ml }, "azure-ml", ["MSI_ENDPOINT", "MSI_SECRET"]],
    ["Cloud Shell before Arc", { ...vars.arc, ...vars.cloudShell }, "cloud-shell", ["MSI_ENDPOINT"]],
  ] as const)("%s → %s", (_, variables, name, decidedBy) => {
    const d = detect(variables)
    expect(d.name).toBe(name)
    expect(d.decidedBy).toEqual(decidedBy)
  })

  it("workload identity (token file + tenant + client id) comes before every other host, Service Fabric included", () => {
    const d = detect({ ...vars.sf, ...vars.workload, AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: CLIENT })
    expect(d).toMatchObject({
      name: "workload-identity",
      decidedBy: ["AZURE_FEDERATED_TOKEN_FILE", "AZURE_TENANT_ID", "AZURE_CLIENT_ID"],
      source: {
        _tag: "WorkloadIdentity",
        tokenFile: vars.workload.AZURE_FEDERATED_TOKEN_FILE,
        tenantId: TENANT,
        clientId: CLIENT,
        authorityHost: "https://login.microsoftonline.com",
      },
    })
  })

  it("workload identity needs all three: without the tenant or a client id, the next rule decides", () => {
    expect(detect({ ...vars.appService, ...vars.workload, AZURE_TENANT_ID: TENANT }).name).toBe("app-service")
    expect(detect({ ...vars.workload, AZURE_CLIENT_ID: CLIENT }).name).toBe("imds")
  })

  it("the Arc agent installed at /opt/azcmagent/bin/himds means Arc at 127.0.0.1:40342 — asked only when no variable decided", () => {
    let asked = 0
    const himds = () => {
      asked++
      return true
    }
    expect(detect(vars.ml, { himds }).name).toBe("azure-ml")
    expect(asked).toBe(0)
    const d = detect({}, { himds })
    expect(asked).toBe(1)
    expect(d).toMatchObject({
      name: "arc",
      decidedBy: [HIMDS_PATH],
      source: { endpoint: DEFAULT_ARC_ENDPOINT },
    })
  })

  it("an IMDS endpoint given in code or on a command line decides, as before; AZMI_IMDS_ENDPOINT alone does not", () => {
    expect(detect(vars.sf, { options: { imdsEndpoint: "http://127.0.0.1:1" } }).decidedBy).toEqual([
      "imdsEndpoint",
    ])
    expect(
      detect(vars.sf, { options: { flags: { "--imds-endpoint": "http://127.0.0.1:1" } } }).decidedBy,
    ).toEqual(["--imds-endpoint"])
    expect(detect({ ...vars.sf, AZMI_IMDS_ENDPOINT: "http://127.0.0.1:1" }).name).toBe("service-fabric")
  })

  it("an App Service endpoint given in code decides, with the header given in code too", () => {
    const d = detect(
      {},
      { options: { identityEndpoint: "http://127.0.0.1:2/msi/token", identityHeader: "h" } },
    )
    expect(d).toMatchObject({
      name: "app-service",
      decidedBy: ["identityEndpoint"],
      setBy: { endpoint: "identityEndpoint", secret: "identityHeader" },
    })
  })
})

describe("AZMI_MI_SOURCE (and the managedIdentitySource option) force a host", () => {
  it("forces a host whose variables are set, over the detection order", () => {
    const d = detect({ ...vars.sf, ...vars.ml, AZMI_MI_SOURCE: "azure-ml" })
    expect(d).toMatchObject({ name: "azure-ml", decidedBy: ["AZMI_MI_SOURCE"] })
    expect(detect({ ...vars.sf, AZMI_MI_SOURCE: " IMDS " }).name).toBe("imds")
  })

  it("the option wins over the variable", () => {
    expect(
      detect({ ...vars.ml, AZMI_MI_SOURCE: "imds" }, { options: { managedIdentitySource: "azure-ml" } }),
    ).toMatchObject({
      name: "azure-ml",
      decidedBy: ["managedIdentitySource"],
    })
  })

  it("forced Arc without variables asks the agent's own address", () => {
    expect(detect({ AZMI_MI_SOURCE: "arc" }).source).toEqual({
      _tag: "AzureArc",
      endpoint: DEFAULT_ARC_ENDPOINT,
    })
  })

  it.effect("an unknown name is refused, naming AZMI_MI_SOURCE and the names it takes", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(
        AzmiConfig.make().pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["AZMI_MI_SOURCE", "aks"]]))),
        ),
      )
      const e = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      expect(Option.getOrUndefined(e)).toMatchObject({
        _tag: "InvalidConfiguration",
        variable: "AZMI_MI_SOURCE",
      })
      expect(Option.getOrUndefined(e)?.message).toContain(
        "imds, app-service, service-fabric, azure-ml, cloud-shell, arc, workload-identity",
      )
    }),
  )

  it.each([
    [
      "service-fabric",
      { IDENTITY_ENDPOINT: vars.sf.IDENTITY_ENDPOINT, IDENTITY_HEADER: "x" },
      "IDENTITY_SERVER_THUMBPRINT",
    ],
    ["service-fabric", {}, "IDENTITY_ENDPOINT"],
    ["app-service", { IDENTITY_ENDPOINT: vars.appService.IDENTITY_ENDPOINT }, "IDENTITY_HEADER"],
    ["azure-ml", { MSI_ENDPOINT: vars.ml.MSI_ENDPOINT }, "MSI_SECRET"],
    ["cloud-shell", {}, "MSI_ENDPOINT"],
    ["workload-identity", {}, "AZURE_FEDERATED_TOKEN_FILE"],
  ] as const)(
    "forced %s without its variables names the one missing (%j → %s)",
    (name, variables, missing) => {
      const e = refused({ ...variables, AZMI_MI_SOURCE: name })
      expect(e.variable).toBe(missing)
      expect(e.reason).toContain(`AZMI_MI_SOURCE=${name} needs`)
    },
  )
})

describe("every endpoint variable is held to loopback or link-local, and the error names it", () => {
  const remote = "http://10.0.0.4:2377/token"
  it.each([
    ["Service Fabric", { ...vars.sf, IDENTITY_ENDPOINT: "https://10.0.0.4:2377/token" }, "IDENTITY_ENDPOINT"],
    ["App Service", { ...vars.appService, IDENTITY_ENDPOINT: remote }, "IDENTITY_ENDPOINT"],
    ["Azure ML", { ...vars.ml, MSI_ENDPOINT: remote }, "MSI_ENDPOINT"],
    ["Cloud Shell", { MSI_ENDPOINT: "http://shell.example.com/oauth2/token" }, "MSI_ENDPOINT"],
    ["Arc (IDENTITY_ENDPOINT)", { ...vars.arc, IDENTITY_ENDPOINT: remote }, "IDENTITY_ENDPOINT"],
    [
      "Arc (IDENTITY_ENDPOINT, loopback only in its user-info)",
      { ...vars.arc, IDENTITY_ENDPOINT: "http://127.0.0.1@evil.example/" },
      "IDENTITY_ENDPOINT",
    ],
    [
      "Arc (IMDS_ENDPOINT, never called, still checked)",
      { ...vars.arc, IMDS_ENDPOINT: "http://169.254.169.254.evil.example" },
      "IMDS_ENDPOINT",
    ],
  ] as const)("%s", (_, variables, variable) => {
    const e = refused(variables)
    expect(e._tag).toBe("InvalidConfiguration")
    expect(e.variable).toBe(variable)
  })

  it("AZMI_ALLOW_REMOTE_ENDPOINTS lets a remote host through (the thumbprint still pins Service Fabric)", () => {
    const d = detect({
      ...vars.sf,
      IDENTITY_ENDPOINT: "https://10.0.0.4:2377/token",
      AZMI_ALLOW_REMOTE_ENDPOINTS: "1",
    })
    expect(d.name).toBe("service-fabric")
  })
})

describe("each host's own rules", () => {
  it("Service Fabric: https only, and the thumbprint normalised (case, colons, spaces)", () => {
    const e = refused({ ...vars.sf, IDENTITY_ENDPOINT: "http://127.0.0.1:2377/token" })
    expect(e.variable).toBe("IDENTITY_ENDPOINT")
    expect(e.reason).toContain("https")
    const pretty = THUMB.toLowerCase().match(/../g)?.join(":") ?? ""
    const d = detect({ ...vars.sf, IDENTITY_SERVER_THUMBPRINT: ` ${pretty.replaceAll(":1", " 1")} ` })
    expect(d.source).toMatchObject({ _tag: "ServiceFabric", thumbprint: THUMB })
    for (const bad of [`${THUMB}00`, THUMB.slice(2), `${THUMB.slice(0, 38)}GG`, THUMB.replace("9", "９")]) {
      expect(refused({ ...vars.sf, IDENTITY_SERVER_THUMBPRINT: bad }).variable).toBe(
        "IDENTITY_SERVER_THUMBPRINT",
      )
    }
  })

  it("Azure ML: DEFAULT_IDENTITY_CLIENT_ID is kept when it is a GUID, refused otherwise", () => {
    expect(detect({ ...vars.ml, DEFAULT_IDENTITY_CLIENT_ID: CLIENT }).source).toMatchObject({
      defaultClientId: CLIENT,
    })
    expect(detect(vars.ml).source).toMatchObject({ defaultClientId: undefined })
    expect(refused({ ...vars.ml, DEFAULT_IDENTITY_CLIENT_ID: "x&resource=evil" }).variable).toBe(
      "DEFAULT_IDENTITY_CLIENT_ID",
    )
  })

  it("Arc: localhost in IDENTITY_ENDPOINT is asked as 127.0.0.1 (HIMDS listens on IPv4)", () => {
    const d = detect({
      ...vars.arc,
      IDENTITY_ENDPOINT: "http://localhost:40342/metadata/identity/oauth2/token",
    })
    expect(d.source).toEqual({
      _tag: "AzureArc",
      endpoint: "http://127.0.0.1:40342/metadata/identity/oauth2/token",
    })
  })

  it("workload identity: an object or resource id cannot select it, and the authority must be https", () => {
    const wi = {
      ...vars.workload,
      AZMI_MI_SOURCE: "workload-identity",
      AZURE_TENANT_ID: TENANT,
      AZURE_CLIENT_ID: CLIENT,
    }
    expect(
      refused(wi, { identity: IdentitySelector.ObjectId({ objectId: CLIENT }), identitySetBy: "--object-id" })
        .variable,
    ).toBe("--object-id")
    // The service-URL rule lets http through to a loopback host; workload identity does not.
    expect(refused({ ...wi, AZURE_AUTHORITY_HOST: "http://127.0.0.1:8443" }).variable).toBe(
      "AZURE_AUTHORITY_HOST",
    )
  })
})

describe("workload identity: one rule in one place (detection, the configuration, the credential's validation)", () => {
  const webhook = {
    ...vars.workload,
    AZURE_TENANT_ID: TENANT,
    AZURE_CLIENT_ID: CLIENT,
    // AKS nodes have an IMDS too: naming it in the environment does not make the pod a VM.
    AZMI_IMDS_ENDPOINT: "http://127.0.0.1:40000",
  }
  const resolved = (env: Env, options: ConfigOptions = {}) =>
    Effect.runSync(
      Effect.either(AzmiConfig.make(options)).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
      ),
    )

  it("a blank token file, tenant or client id counts as unset: the next rule decides", () => {
    for (const blank of ["AZURE_FEDERATED_TOKEN_FILE", "AZURE_TENANT_ID", "AZURE_CLIENT_ID"]) {
      expect(detect({ ...webhook, ...vars.cloudShell, [blank]: "  " }).name).toBe("cloud-shell")
    }
  })

  it("AZMI_MI_SOURCE=workload-identity forces it, even over an IMDS endpoint on the command line", () => {
    const d = detect(
      { ...webhook, AZMI_MI_SOURCE: "workload-identity" },
      { options: { flags: { "--imds-endpoint": "http://127.0.0.1:1" } } },
    )
    expect(d).toMatchObject({ name: "workload-identity", decidedBy: ["AZMI_MI_SOURCE"] })
  })

  it("an IMDS endpoint on a command line or in code, or an identity endpoint in code, wins over it; from the environment neither does", () => {
    expect(detect(webhook).name).toBe("workload-identity")
    expect(detect({ ...webhook, ...vars.appService }).name).toBe("workload-identity")
    expect(detect(webhook, { options: { imdsEndpoint: "http://127.0.0.1:1" } }).name).toBe("imds")
    expect(detect(webhook, { options: { flags: { "--imds-endpoint": "http://127.0.0.1:1" } } }).name).toBe(
      "imds",
    )
    expect(
      detect(webhook, { options: { identityEndpoint: "http://127.0.0.1:2/msi/token", identityHeader: "h" } })
        .name,
    ).toBe("app-service")
  })

  it("the configuration's source is detection's, whatever decided (no second selection)", () => {
    const cases: ReadonlyArray<readonly [Env, ConfigOptions]> = [
      [webhook, {}],
      [webhook, { imdsEndpoint: "http://127.0.0.1:1" }],
      [{ ...webhook, AZMI_MI_SOURCE: "workload-identity" }, { imdsEndpoint: "http://127.0.0.1:1" }],
      [{ ...webhook, AZURE_CLIENT_ID: "" }, {}],
    ]
    for (const [env, options] of cases) {
      const config = Either.getOrThrow(resolved(env, options))
      expect(config.source).toBe(config.detection.source)
      expect(config.source._tag === "WorkloadIdentity").toBe(config.detection.name === "workload-identity")
    }
  })

  it("the credential's own validation builds the source (token path trimmed, authority normalised) and its refusal names what was set", () => {
    expect(
      detect({
        ...webhook,
        AZURE_FEDERATED_TOKEN_FILE: ` ${vars.workload.AZURE_FEDERATED_TOKEN_FILE} `,
        AZURE_AUTHORITY_HOST: "https://login.microsoftonline.us/",
      }).source,
    ).toEqual({
      _tag: "WorkloadIdentity",
      tokenFile: vars.workload.AZURE_FEDERATED_TOKEN_FILE,
      tenantId: TENANT,
      clientId: CLIENT,
      authorityHost: "https://login.microsoftonline.us",
    })
    const e = refused(webhook, { options: { authorityHost: "http://127.0.0.1:8443" } })
    expect(e).toMatchObject({
      _tag: "InvalidConfiguration",
      variable: "authorityHost",
      standsFor: "AZURE_AUTHORITY_HOST",
      reason: "must use https (workload identity sends the federated token to it)",
    })
  })
})

describe("AzmiConfig runs detection on the environment", () => {
  const config = (env: Record<string, string>, options: ConfigOptions = {}) =>
    AzmiConfig.make(options).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
    )

  it.effect('a blank variable counts as unset: IDENTITY_HEADER="" and MSI_SECRET="  " select nothing', () =>
    Effect.gen(function* () {
      const c = yield* config({
        ...vars.appService,
        IDENTITY_HEADER: "",
        MSI_SECRET: "  ",
        MSI_ENDPOINT: vars.ml.MSI_ENDPOINT,
      })
      expect(c.detection.name).toBe("cloud-shell")
      expect(c.detection.decidedBy).toEqual(["MSI_ENDPOINT"])
    }),
  )

  it.effect(
    "AZURE_CLIENT_ID + AZURE_TENANT_ID + AZURE_FEDERATED_TOKEN_FILE → workload identity with that client id",
    () =>
      Effect.gen(function* () {
        const c = yield* config({ ...vars.workload, AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: CLIENT })
        expect(c.source).toMatchObject({ _tag: "WorkloadIdentity", clientId: CLIENT, tenantId: TENANT })
      }),
  )

  it.effect(
    "the identity key names the host, its endpoint and a digest of its secret — never the secret",
    () =>
      Effect.gen(function* () {
        const keys = [
          (yield* config({})).identityKey,
          (yield* config(vars.sf)).identityKey,
          (yield* config({ ...vars.sf, IDENTITY_SERVER_THUMBPRINT: THUMB.replace("9F", "00") })).identityKey,
          (yield* config({ ...vars.sf, IDENTITY_HEADER: "other" })).identityKey,
          (yield* config(vars.ml)).identityKey,
          (yield* config({ ...vars.ml, DEFAULT_IDENTITY_CLIENT_ID: CLIENT })).identityKey,
          (yield* config(vars.cloudShell)).identityKey,
          (yield* config(vars.arc)).identityKey,
          (yield* config({
            ...vars.arc,
            IDENTITY_ENDPOINT: "http://127.0.0.1:40343/metadata/identity/oauth2/token",
          })).identityKey,
          (yield* config({ ...vars.workload, AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: CLIENT })).identityKey,
        ]
        expect(new Set(keys).size).toBe(keys.length)
        for (const key of keys) {
          for (const secret of ["sf-secret", "other", "ml-secret"]) expect(key).not.toContain(secret)
        }
        expect(JSON.parse(keys[7]!)).toEqual([
          "managed-identity",
          "Azure Arc",
          vars.arc.IDENTITY_ENDPOINT,
          "system-assigned",
        ])
      }),
  )

  it.effect("the host as shown to people (doctor, azmi-http) names its endpoint without a query", () =>
    Effect.gen(function* () {
      const c = yield* config({
        ...vars.ml,
        MSI_ENDPOINT: `${vars.ml.MSI_ENDPOINT}?api-version=2017-09-01&x=1`,
      })
      expect(AzureHost.make(c).endpoint).toBe(vars.ml.MSI_ENDPOINT)
    }),
  )

  it.effect("an invalid endpoint fails the configuration naming the variable", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(config({ ...vars.ml, MSI_ENDPOINT: "http://10.1.2.3/msi/token" }))
      expect(exit).toMatchObject(Exit.fail(expect.objectContaining({ variable: "MSI_ENDPOINT" })))
    }),
  )
})
