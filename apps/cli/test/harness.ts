/**
 * Test harness: runs `azmi` in-process over the core's test layers (built from plain data), with
 * stdout/stderr captured.
 */
import {
  type AccessToken,
  type Azmi,
  AzureHost,
  ComputeMetadata,
  InstanceMetadata,
  ResourceGroup,
  ResourceGroups,
  RoleAssignment,
  RoleAssignments,
  TokenProvider,
  testToken,
} from "@azmi/core"
import { Effect, Layer, type Option, Redacted, Stream } from "effect"
import type { CliDeps, EmulatorModule } from "../src/context.js"
import { runCli } from "../src/program.js"

export const SUB = "98f51385-2edc-4b79-bed9-7718de4cb861"
export const OID = "11111111-2222-3333-4444-555555555555"
export const APPID = "66666666-7777-8888-9999-000000000000"

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url")

export const SIGNATURE = "c2lnbmF0dXJlLW5vdC1mb3ItcHJpbnRpbmc"
export const fakeJwt = (claims: Record<string, unknown> = {}) =>
  `${b64({ typ: "JWT", alg: "RS256", kid: "k1" })}.${b64({
    aud: "https://management.azure.com/",
    oid: OID,
    appid: APPID,
    exp: 1_900_000_000,
    ...claims,
  })}.${SIGNATURE}`

export const compute = new ComputeMetadata({
  subscriptionId: SUB,
  resourceGroupName: "DevTest",
  name: "myVM",
  location: "westus",
  vmId: "vm-1",
  resourceId: `/subscriptions/${SUB}/resourceGroups/DevTest/providers/Microsoft.Compute/virtualMachines/myVM`,
  vmSize: "",
  osType: "Linux",
  azEnvironment: "AzurePublicCloud",
  tags: "",
})

export const devTest = new ResourceGroup({
  id: `/subscriptions/${SUB}/resourceGroups/DevTest`,
  name: "DevTest",
  type: "Microsoft.Resources/resourceGroups",
  location: "westus",
  tags: { env: "dev" },
  properties: { provisioningState: "Succeeded" },
})

export const prod = new ResourceGroup({
  id: `/subscriptions/${SUB}/resourceGroups/Prod`,
  name: "Prod",
  type: "Microsoft.Resources/resourceGroups",
  location: "eastus",
  tags: {},
  properties: { provisioningState: "Succeeded" },
})

export const readerAssignment = new RoleAssignment({
  id: `/subscriptions/${SUB}/resourceGroups/DevTest/providers/Microsoft.Authorization/roleAssignments/3f2504e0-4f89-41d3-9a0c-0305e82c3301`,
  name: "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
  type: "Microsoft.Authorization/roleAssignments",
  properties: {
    roleDefinitionId:
      "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7",
    principalId: OID,
    principalType: "ServicePrincipal",
    scope: `/subscriptions/${SUB}/resourceGroups/DevTest`,
  },
})

/** What the fake services saw. */
export interface Calls {
  tokens: Array<string>
  computeReads: number
  get: Array<[string, string]>
  exists: Array<[string, string]>
  list: Array<[string, unknown]>
  create: Array<unknown>
  listAssignments: Array<unknown>
  deleted: Array<unknown>
}

export interface FakeOptions {
  /** The host detected (default: IMDS on a VM, no variables, no checks of its own). */
  readonly host?: Partial<AzureHost["Type"]>
  readonly token?: Effect.Effect<AccessToken, unknown>
  readonly compute?: Effect.Effect<ComputeMetadata, unknown>
  readonly get?: Effect.Effect<ResourceGroup, unknown>
  readonly groups?: ReadonlyArray<ResourceGroup>
  readonly assignments?: ReadonlyArray<RoleAssignment>
  /** The outcome of the n-th delete (default: the assignment was deleted). */
  readonly deleteOutcome?: (n: number) => Effect.Effect<Option.Option<RoleAssignment>, unknown>
}

export const token = (jwt = fakeJwt()): AccessToken =>
  testToken("https://management.azure.com/", {
    token: Redacted.make(jwt),
    expiresOn: 1_900_000_000_000,
    refreshOn: 1_899_990_000_000,
    clientId: APPID,
  })

/**
 * The core's test layers, reporting into `calls`. Groups and role assignments live in memory with the
 * core's own rules (validation, role and scope filters, delete by id or name), except what the CLI's
 * tests script: `get` answers `fake.get` (default DevTest, whatever the name) and `list` streams
 * `fake.groups` whatever the filters — those tests are about what the CLI passes on and prints.
 */
export const fakeLayer = (fake: FakeOptions, calls: Calls) => {
  const groups = fake.groups ?? [devTest, prod]
  const deleteOutcome = fake.deleteOutcome
  return Layer.mergeAll(
    Layer.succeed(
      AzureHost,
      AzureHost.of({
        name: "imds",
        displayName: "IMDS",
        decidedBy: [],
        endpoint: "http://169.254.169.254",
        hasImds: true,
        checks: Effect.succeed([]),
        ...fake.host,
      }),
    ),
    TokenProvider.layerTest({
      description: "managed identity (system-assigned) via IMDS",
      onCall: (call) => calls.tokens.push(call.resource),
      getToken: () => (fake.token ?? Effect.succeed(token())) as Effect.Effect<AccessToken, never>,
    }),
    InstanceMetadata.layerTest(
      Effect.suspend(() => {
        calls.computeReads++
        return (fake.compute ?? Effect.succeed(compute)) as Effect.Effect<ComputeMetadata, never>
      }),
    ),
    ResourceGroups.layerTest({
      groups,
      onCall: (call) => {
        if (call.op === "list") calls.list.push([call.subscriptionId, call.options])
        else calls[call.op].push([call.subscriptionId, call.resourceGroupName])
      },
      get: () =>
        Effect.map((fake.get ?? Effect.succeed(devTest)) as Effect.Effect<ResourceGroup, never>, (value) => ({
          value,
          metadata: { requestId: "req-1" },
        })),
      list: () => Stream.fromIterable(groups),
    }),
    RoleAssignments.layerTest({
      assignments: fake.assignments ?? [readerAssignment],
      onCall: (call) => {
        if (call.op === "create") calls.create.push(call.input)
        else if (call.op === "list") calls.listAssignments.push(call.input)
        else calls.deleted.push(call.input)
      },
      delete:
        deleteOutcome &&
        (() =>
          deleteOutcome(calls.deleted.length - 1) as Effect.Effect<Option.Option<RoleAssignment>, never>),
    }),
  )
}

export interface RunResult {
  readonly stdout: string
  readonly stderr: string
  readonly code: number | undefined
  readonly calls: Calls
  readonly options: Array<Azmi.AzmiOptions>
  readonly extras: Array<{ readonly cache: boolean }>
}

export interface RunOptions {
  readonly env?: Record<string, string | undefined>
  /** stdout to write to instead of a captured string (e.g. one that fails). */
  readonly stdout?: CliDeps["stdout"]
  readonly stdoutTTY?: boolean
  readonly stderrTTY?: boolean
  readonly loadEmulator?: () => Promise<EmulatorModule>
  readonly waitForShutdown?: () => Promise<void>
  readonly runEmulator?: (args: ReadonlyArray<string>) => Promise<number>
}

/** Runs one `azmi` command line against fake services. */
export const azmi = async (args: ReadonlyArray<string>, fake: FakeOptions = {}, run: RunOptions = {}) => {
  const calls: Calls = {
    tokens: [],
    computeReads: 0,
    get: [],
    exists: [],
    list: [],
    create: [],
    listAssignments: [],
    deleted: [],
  }
  let stdout = ""
  let stderr = ""
  let code: number | undefined
  const options: Array<Azmi.AzmiOptions> = []
  const extras: Array<{ readonly cache: boolean }> = []
  const deps: CliDeps = {
    makeLayer: async (o, e) => {
      options.push(o)
      extras.push(e)
      return fakeLayer(fake, calls)
    },
    stdout: run.stdout ?? {
      write: (s) => {
        stdout += s
      },
      isTTY: run.stdoutTTY ?? false,
    },
    stderr: {
      write: (s) => {
        stderr += s
      },
      isTTY: run.stderrTTY ?? false,
    },
    env: run.env ?? {},
    setExitCode: (c) => {
      code = c
    },
    loadEmulator: run.loadEmulator,
    waitForShutdown: run.waitForShutdown,
    runEmulator: run.runEmulator,
  }
  await runCli(args, deps)
  return { stdout, stderr, code, calls, options, extras } satisfies RunResult
}
