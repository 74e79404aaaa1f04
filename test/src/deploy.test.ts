/**
 * The deployment files (deploy/): the systemd unit passes `systemd-analyze verify`, and the unit's and the
 * Kubernetes sidecar's environment, ports and probes are what azmi-http itself reads and serves — checked
 * by loading that environment with azmi-http's own configuration reader and by starting the built
 * azmi-http with it and asking its probe paths.
 */
import { spawnSync } from "node:child_process"
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { type Emulator, startEmulator } from "@azmi/emulator"
import { type HttpConfig, loadConfig, routeTable } from "@azmi/http"
import { Either } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { parseAllDocuments } from "yaml"
import { startHttp } from "./http-support.js"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const deploy = join(root, "deploy")
const runtime = JSON.parse(readFileSync(join(deploy, "node-runtime.json"), "utf8")) as {
  nodeOptions: ReadonlyArray<string>
  env: Readonly<Record<string, string>>
}

const onPath = (command: string) => spawnSync("sh", ["-c", `command -v ${command}`]).status === 0

/** azmi-http's configuration from an environment, or the reason it refuses it. */
const configOf = (env: Record<string, string>): HttpConfig => {
  const config = loadConfig(env)
  if (Either.isLeft(config)) throw new Error(config.left.message)
  return config.right
}

// The paths the health listener serves (AZMI_HTTP_HEALTH_PORT), from the route table.
const healthPaths = (config: HttpConfig) =>
  routeTable(config)
    .map((r) => r.path)
    .filter((p) => p === "/healthz" || p === "/readyz")

let emu: Emulator
beforeAll(async () => {
  emu = await startEmulator({ limits: { imdsRequestsPerSecond: Infinity, imdsConcurrency: Infinity } })
})
afterAll(async () => {
  await emu?.close()
})

/** Starts the built azmi-http with `env` (ports moved to free ones) against the emulator; GETs `paths` on its health listener. */
const probe = async (env: Record<string, string>, paths: ReadonlyArray<string>) => {
  // Free ports, and the health listener on loopback: tests listen on 127.0.0.1 only.
  const http = await startHttp(emu, {
    ...env,
    AZMI_HTTP_PORT: "0",
    AZMI_HTTP_HEALTH_PORT: "0",
    AZMI_HTTP_HEALTH_HOST: "127.0.0.1",
  })
  try {
    const line = JSON.parse(http.lines[0] ?? "{}") as { health?: string; imds?: string }
    expect(line.health).toMatch(/^http:\/\//)
    const answers: Record<string, number> = {}
    for (const path of paths) answers[path] = (await fetch(`${line.health}${path}`)).status
    // The health listener serves nothing else: no token, no group on the pod's address.
    answers.token = (
      await fetch(`${line.health}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x`, {
        headers: { Metadata: "true" },
      })
    ).status
    return { answers, imds: line.imds }
  } finally {
    await http.stop()
  }
}

describe("deploy/systemd/azmi-http.service", () => {
  const unitPath = join(deploy, "systemd", "azmi-http.service")
  const unit = readFileSync(unitPath, "utf8")
  const service = (key: string) =>
    [...unit.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].map((m) => (m[1] as string).trim())
  const env = Object.fromEntries(
    service("Environment").map((assignment) => {
      const at = assignment.indexOf("=")
      return [assignment.slice(0, at), assignment.slice(at + 1)]
    }),
  )

  const skipReason = !onPath("systemd-analyze")
    ? "systemd-analyze is not installed (apt-get install systemd)"
    : !existsSync("/usr/bin/node")
      ? "the unit's ExecStart names /usr/bin/node, which this machine does not have"
      : undefined
  it.skipIf(skipReason !== undefined)(
    `passes systemd-analyze verify${skipReason === undefined ? "" : ` — SKIPPED: ${skipReason}`}`,
    () => {
      const dir = mkdtempSync(join(tmpdir(), "azmi-unit-"))
      try {
        copyFileSync(unitPath, join(dir, "azmi-http.service"))
        const result = spawnSync("systemd-analyze", ["verify", "--man=no", join(dir, "azmi-http.service")], {
          encoding: "utf8",
          timeout: 30_000,
        })
        // A timed-out run has status null, and its error (ETIMEDOUT) in the output.
        const error = result.error === undefined ? "" : `${result.error.message}\n`
        expect({ status: result.status, output: `${error}${result.stdout}${result.stderr}`.trim() }).toEqual({
          status: 0,
          output: "",
        })
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  )

  it("is hardened: a dynamic user, no new privileges, a read-only system, IP and local sockets only", () => {
    expect(service("DynamicUser")).toEqual(["yes"])
    expect(service("NoNewPrivileges")).toEqual(["yes"])
    expect(service("ProtectSystem")).toEqual(["strict"])
    expect(service("RestrictAddressFamilies")).toEqual(["AF_INET AF_INET6 AF_UNIX"])
    expect(service("CapabilityBoundingSet")).toEqual([""])
  })

  it("its environment is a loopback IMDS front end azmi-http accepts, run with deploy/node-runtime.json", () => {
    const config = configOf(env)
    expect(config).toMatchObject({ host: "127.0.0.1", imds: true })
    expect(
      service("ExecStart")[0]
        ?.split(" ")
        .slice(0, 1 + runtime.nodeOptions.length),
    ).toEqual(["/usr/bin/node", ...runtime.nodeOptions])
    expect(env).toMatchObject(runtime.env)
  })

  it("started with that environment, azmi-http answers IMDS's token route (and its health routes)", async () => {
    const http = await startHttp(emu, { ...env, AZMI_HTTP_PORT: "0" })
    try {
      const health = await fetch(`${http.url}/healthz`)
      expect(health.status).toBe(200)
      const token = await fetch(
        `${http.url}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent("https://management.azure.com/")}`,
        { headers: { Metadata: "true" } },
      )
      expect(token.status).toBe(200)
    } finally {
      await http.stop()
    }
  })
})

interface Container {
  readonly name: string
  readonly command?: ReadonlyArray<string>
  readonly env?: ReadonlyArray<{ readonly name: string; readonly value?: string }>
  readonly ports?: ReadonlyArray<{ readonly name?: string; readonly containerPort: number }>
  readonly restartPolicy?: string
  readonly startupProbe?: { readonly httpGet?: { readonly path: string; readonly port: number | string } }
  readonly livenessProbe?: { readonly httpGet?: { readonly path: string; readonly port: number | string } }
  readonly readinessProbe?: { readonly httpGet?: { readonly path: string; readonly port: number | string } }
}

describe("deploy/kubernetes (kustomize base)", () => {
  const dir = join(deploy, "kubernetes")
  // Rendered by kustomize where kubectl exists; else the base's own files, as its kustomization lists them.
  const rendered = (): { documents: Array<Record<string, unknown>>; how: string } => {
    if (onPath("kubectl")) {
      const out = spawnSync("kubectl", ["kustomize", dir], { encoding: "utf8", timeout: 30_000 })
      if (out.status !== 0) throw new Error(`kubectl kustomize failed: ${out.error?.message ?? out.stderr}`)
      return { documents: parseAllDocuments(out.stdout).map((d) => d.toJS()), how: "kubectl kustomize" }
    }
    const kustomization = parseAllDocuments(
      readFileSync(join(dir, "kustomization.yaml"), "utf8"),
    )[0]?.toJS() as {
      resources: Array<string>
    }
    const documents = kustomization.resources.flatMap((file) =>
      parseAllDocuments(readFileSync(join(dir, file), "utf8")).map((d) => d.toJS()),
    )
    return { documents, how: "the yaml package (kubectl is not installed)" }
  }

  const { documents, how } = rendered()
  const deployment = documents.find((d) => d.kind === "Deployment") as {
    spec: { template: { spec: { initContainers?: Array<Container>; containers: Array<Container> } } }
  }
  const pod = deployment.spec.template.spec
  const sidecar = [...(pod.initContainers ?? []), ...pod.containers].find(
    (c) => c.name === "azmi-http",
  ) as Container
  const envOf = (c: Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? ""]))
  const sidecarEnv = envOf(sidecar)
  const portOf = (port: number | string) =>
    typeof port === "number" ? port : sidecar.ports?.find((p) => p.name === port)?.containerPort

  it(`renders (${how}): azmi-http is a native sidecar of the app`, () => {
    expect(pod.initContainers?.map((c) => c.name)).toContain("azmi-http")
    expect(sidecar.restartPolicy).toBe("Always")
    expect(documents.map((d) => d.kind)).not.toContain("Service")
  })

  it("its probes use the health listener's port and paths azmi-http serves, with its own environment", () => {
    const config = configOf(sidecarEnv)
    expect(config).toMatchObject({ host: "127.0.0.1", imds: true })
    const probes = {
      startup: sidecar.startupProbe?.httpGet,
      liveness: sidecar.livenessProbe?.httpGet,
      readiness: sidecar.readinessProbe?.httpGet,
    }
    expect(Object.fromEntries(Object.entries(probes).map(([k, g]) => [k, g?.path]))).toEqual({
      startup: "/healthz",
      liveness: "/healthz",
      readiness: "/readyz",
    })
    for (const get of Object.values(probes)) {
      expect(portOf(get?.port ?? "")).toBe(config.healthPort)
      expect(healthPaths(config)).toContain(get?.path)
    }
  })

  it("runs with deploy/node-runtime.json, and the app points its SDKs at the sidecar's loopback port", () => {
    expect(sidecar.command?.slice(0, 1 + runtime.nodeOptions.length)).toEqual([
      "node",
      ...runtime.nodeOptions,
    ])
    expect(sidecarEnv).toMatchObject(runtime.env)
    const app = pod.containers.find((c) => c.name === "app") as Container
    const config = configOf(sidecarEnv)
    expect(envOf(app).AZURE_POD_IDENTITY_AUTHORITY_HOST).toBe(`http://127.0.0.1:${config.port}`)
  })

  it("started with the sidecar's environment, azmi-http answers the probe paths on its health listener (and nothing else there)", async () => {
    const { answers } = await probe(sidecarEnv, ["/healthz", "/readyz"])
    expect(answers).toEqual({ "/healthz": 200, "/readyz": 200, token: 404 })
  })
})
