import { spawnSync } from "node:child_process"
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  DEFAULT_RESOURCE_GROUP,
  DEFAULT_VM_PRINCIPAL_ID,
  defaultWorld,
  READER_ROLE_ID,
} from "../src/world/model.js"
import { adminToken, imdsToken, pkgDir, run as runBin, start as startBin, useBin } from "./bin-process.js"

const bin = useBin("bin")
const run = (args: ReadonlyArray<string>, as?: { uid: number; gid: number }) => runBin(bin, args, as)
const start = (args: ReadonlyArray<string>) => startBin(bin, args)
let dir: string

/** Runs a command to its end (bounded), for what `run` cannot express (another namespace). */
const runSync = (command: string, args: ReadonlyArray<string>) => {
  const r = spawnSync(command, args, { encoding: "utf8", timeout: 20_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "azmi-bin-"))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe("azmi-emulator usage errors", () => {
  it("the source starts with a node shebang", async () => {
    expect((await readFile(join(pkgDir, "src", "bin.ts"), "utf8")).split("\n")[0]).toBe("#!/usr/bin/env node")
  })

  it("--help prints usage and exits 0", async () => {
    const r = await run(["--help"])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("Usage: azmi-emulator")
    expect(r.stdout).toContain("--no-tls")
  })

  it("an unknown flag exits 2 with the usage on stderr", async () => {
    const r = await run(["--bogus"])
    expect(r.code).toBe(2)
    expect(r.stdout).toBe("")
    expect(r.stderr).toContain("--bogus")
    expect(r.stderr).toContain("Usage: azmi-emulator")
  })

  it("an unknown --source exits 2 naming every source", async () => {
    const r = await run(["--source", "mainframe"])
    expect(r.code).toBe(2)
    expect(r.stdout).toBe("")
    expect(r.stderr).toContain(
      '--source: must be one of imds, app-service, arc, service-fabric, cloud-shell, azure-ml, workload-identity (got "mainframe")',
    )
  })

  it("--source arc exits 2 naming /var/opt/azcmagent/tokens and why when it cannot write there", async () => {
    // Tests run as root (here and in CI), who may write there: root runs the emulator in a mount
    // namespace of its own whose /var is a tmpfs holding the directory, then made read-only (running it
    // as `nobody` instead needs a checkout other users can enter, which a fresh clone in a 0700 temp
    // directory is not).
    const r =
      process.getuid?.() === 0
        ? runSync("unshare", [
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            'mount -t tmpfs tmpfs /var && mkdir -p /var/opt/azcmagent/tokens && mount -o remount,ro /var && exec "$@"',
            "sh",
            process.execPath,
            bin.path,
            "--source",
            "arc",
          ])
        : await run(["--source", "arc"])
    expect(r.code).toBe(2)
    expect(r.stdout).toBe("")
    expect(r.stderr).toMatch(
      /^azmi-emulator: --source arc: cannot write Azure Arc's secret files to \/var\/opt\/azcmagent\/tokens \((EACCES|EPERM|EROFS): /,
    )
    expect(r.stderr).not.toContain("    at ")
  })

  it("a bad port exits 2", async () => {
    const r = await run(["--imds-port", "99999"])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("imdsPort: must be a port number 0..65535 (got 99999)")
    const word = await run(["--arm-port", "http"])
    expect(word.code).toBe(2)
    expect(word.stderr).toContain('--arm-port: must be a port number (got "http")')
  })

  it("an invalid world file exits 2 naming the file and the field, without a stack trace", async () => {
    const path = join(dir, "world.json")
    const world = structuredClone(defaultWorld()) as unknown as {
      resourceGroups: Array<{ location: string }>
    }
    world.resourceGroups[0]!.location = ""
    await writeFile(path, JSON.stringify(world))
    const r = await run(["--world", path])
    expect(r.code).toBe(2)
    expect(r.stdout).toBe("")
    expect(r.stderr).toContain(`Invalid world file ${path}`)
    expect(r.stderr).toContain("world.resourceGroups[0].location: must be a region name")
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })

  it("a missing world file exits 2", async () => {
    const r = await run(["--world", join(dir, "nope.json")])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("cannot read the file (ENOENT)")
  })
})

describe("azmi-emulator run: usage (no namespace is made)", () => {
  it("run --help prints run's usage and exits 0; the main usage mentions run", async () => {
    const r = await run(["run", "--help"])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("Usage: azmi-emulator run [options] [--] COMMAND [ARGS...]")
    expect(r.stdout).toContain("--no-imds")
    expect((await run(["--help"])).stdout).toContain("azmi-emulator run [options] -- COMMAND")
  })

  it.each([
    [["run"], "COMMAND is missing"],
    [["run", "--bogus", "--", "true"], 'unknown option "--bogus"'],
    [["run", "--source", "mainframe", "--", "true"], '--source: "mainframe" is not a host'],
  ])("%j exits 2 with the message and run's usage", async (args, message) => {
    const r = await run(args)
    expect(r.code).toBe(2)
    expect(r.stdout).toBe("")
    expect(r.stderr).toContain(`azmi-emulator run: ${message}`)
    expect(r.stderr).toContain("Usage: azmi-emulator run")
  })

  it("an invalid world file exits 2 before any namespace exists", async () => {
    const r = await run(["run", "--world", join(dir, "nope.json"), "--", "true"])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("cannot read the file (ENOENT)")
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })

  it("the internal flag without the IPC channel is refused", async () => {
    const r = await run(["run", "--inside-namespace"])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("internal")
  })
})

describe("azmi-emulator running", () => {
  it("prints one JSON line with endpoints and credentials, serves them, and exits 0 on SIGTERM", async () => {
    const started = await start([])
    const { info } = started
    expect(Object.keys(info).sort()).toEqual(
      [
        "admin",
        "armUrl",
        "caCertPath",
        "controlUrl",
        "env",
        "host",
        "imdsUrl",
        "loginUrl",
        "source",
        "subscriptionId",
        "tenantId",
        "vm",
      ].sort(),
    )
    expect(info.imdsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(info.armUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    expect(info.controlUrl).toBe(info.imdsUrl)
    // The default host is the VM: its env points SDKs at IMDS, and the line names the VM's identity.
    expect(info.source).toBe("imds")
    expect(info.env).toEqual({
      AZURE_POD_IDENTITY_AUTHORITY_HOST: info.imdsUrl,
      AZMI_IMDS_ENDPOINT: info.imdsUrl,
      AZMI_ARM_ENDPOINT: info.armUrl,
      NODE_EXTRA_CA_CERTS: info.caCertPath,
      REQUESTS_CA_BUNDLE: info.caCertPath,
      SSL_CERT_FILE: info.caCertPath,
    })
    expect(info.host).toMatchObject({ source: "imds", name: "myVM", principalId: DEFAULT_VM_PRINCIPAL_ID })
    expect(await readFile(info.caCertPath, "utf8")).toContain("BEGIN CERTIFICATE")
    expect(info.vm.systemAssigned?.principalId).toBe(DEFAULT_VM_PRINCIPAL_ID)
    expect(info.admin.clientSecret.length).toBeGreaterThan(0)
    await imdsToken(info.imdsUrl)
    started.child.kill("SIGTERM")
    expect(await started.exited).toBe(0)
    expect(started.stdout().trimEnd().split("\n")).toHaveLength(1)
    // Closed: the CA temp file is gone and the port refuses connections.
    await expect(readFile(info.caCertPath)).rejects.toThrow()
    await expect(fetch(`${info.imdsUrl}/metadata/versions`)).rejects.toThrow()
  })

  it("--source app-service: the line's env holds App Service's variables and names the host identity", async () => {
    const started = await start(["--source", "app-service"])
    const { info } = started
    expect(info.source).toBe("app-service")
    const env = info.env as Record<string, string>
    expect(env.IDENTITY_ENDPOINT).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/msi\/token$/)
    expect(env.IDENTITY_HEADER).toMatch(/^[0-9a-f-]{36}$/)
    expect(env.AZURE_POD_IDENTITY_AUTHORITY_HOST).toBeUndefined()
    expect(info.host).toMatchObject({ source: "app-service", name: "myApp" })
    started.child.kill("SIGTERM")
    expect(await started.exited).toBe(0)
  })

  it("SIGTERM is not held up by clients that connected and said nothing (not even a TLS handshake)", async () => {
    const started = await start([])
    const sockets = [started.info.imdsUrl, started.info.armUrl].map((url) => {
      const socket = connect(Number(new URL(url).port), "127.0.0.1")
      socket.on("error", () => undefined)
      return socket
    })
    await Promise.all(sockets.map((s) => new Promise((resolve) => s.once("connect", resolve))))
    const asked = Date.now()
    started.child.kill("SIGTERM")
    // A hang, not a speed check: the TLS handshake timeout would hold the process for 120 s.
    const code = await Promise.race([
      started.exited,
      new Promise<string>((resolve) => setTimeout(() => resolve("still running after 10 s"), 10_000)),
    ])
    for (const s of sockets) s.destroy()
    expect(code).toBe(0)
    expect(Date.now() - asked).toBeLessThan(10_000)
  })

  it("closes gracefully on SIGINT too", async () => {
    const started = await start(["--no-tls", "--host", "127.0.0.1"])
    expect(started.info.armUrl).toMatch(/^http:\/\//)
    expect(started.info.caCertPath).toBe("")
    started.child.kill("SIGINT")
    expect(await started.exited).toBe(0)
  })

  it("--state: a role assignment made through ARM survives a restart", async () => {
    const state = join(dir, "state.json")
    const first = await start(["--state", state, "--no-tls"])
    const { info } = first
    const scope = `/subscriptions/${info.subscriptionId}/resourceGroups/${DEFAULT_RESOURCE_GROUP}`
    const name = "6f0c3c8e-2d7a-4b1e-9c5d-8a7b6c5d4e3f"
    const put = await fetch(
      `${info.armUrl}${scope}/providers/Microsoft.Authorization/roleAssignments/${name}?api-version=2022-04-01`,
      {
        method: "PUT",
        headers: { authorization: `Bearer ${await adminToken(info)}`, "content-type": "application/json" },
        body: JSON.stringify({
          properties: {
            roleDefinitionId: `/subscriptions/${info.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${READER_ROLE_ID}`,
            principalId: DEFAULT_VM_PRINCIPAL_ID,
            principalType: "ServicePrincipal",
          },
        }),
      },
    )
    expect(put.status).toBe(201)
    first.child.kill("SIGTERM")
    expect(await first.exited).toBe(0)

    const second = await start(["--state", state, "--no-tls"])
    const res = await fetch(`${second.info.armUrl}${scope}?api-version=2021-04-01`, {
      headers: { authorization: `Bearer ${await imdsToken(second.info.imdsUrl)}` },
    })
    expect(res.status).toBe(200)
    expect(((await res.json()) as { name: string }).name).toBe(DEFAULT_RESOURCE_GROUP)
    second.child.kill("SIGTERM")
    expect(await second.exited).toBe(0)
  })

  it("an invalid state file exits 2 naming the file", async () => {
    const state = join(dir, "broken-state.json")
    await writeFile(state, JSON.stringify({ ...defaultWorld(), tenants: [] }))
    const r = await run(["--state", state])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(`Invalid world file ${state}`)
    expect(r.stderr).toContain("world.tenants: must contain at least one tenant")
  })

  it("a damaged state journal exits 2 naming the journal and the line, and leaves both files as they were", async () => {
    const state = join(dir, "journaled-state.json")
    const world = `${JSON.stringify(defaultWorld())}\n`
    await writeFile(state, world)
    const journal = 'not json\n{"seq":1,"changes":[]}\n'
    await writeFile(`${state}.journal`, journal)
    const r = await run(["--state", state, "--no-tls"])
    expect(r.code).toBe(2)
    expect(r.stdout).toBe("")
    expect(r.stderr).toContain(`Invalid world file ${state} (journal ${state}.journal)`)
    expect(r.stderr).toContain("journal line 1: not valid JSON")
    expect(r.stderr).not.toMatch(/\n\s+at /)
    expect(await readFile(state, "utf8")).toBe(world)
    expect(await readFile(`${state}.journal`, "utf8")).toBe(journal)
  })

  it("--state in a directory that does not exist exits 2 naming the directory, and creates nothing", async () => {
    const missing = join(dir, "no-such-dir", "deeper")
    const r = await run(["--state", join(missing, "s.json"), "--no-tls"])
    expect(r.code).toBe(2)
    expect(r.stdout).toBe("")
    expect(r.stderr).toContain(`directory ${missing} does not exist`)
    await expect(readdir(join(dir, "no-such-dir"))).rejects.toThrow("ENOENT")
  })

  it("a second emulator on the same --state exits 2 naming the first; the first keeps its file", async () => {
    const state = join(dir, "shared-state.json")
    const first = await start(["--state", state, "--no-tls"])
    const r = await run(["--state", state, "--no-tls"])
    expect(r.code).toBe(2)
    expect(r.stdout).toBe("")
    expect(r.stderr).toContain(`State file ${state} is in use by another emulator (pid ${first.child.pid})`)
    expect(r.stderr).toContain(`${state}.lock`)
    // The first still serves and owns the file; once it stops, the file is free again.
    expect((await fetch(`${first.info.controlUrl}/_emulator/world`)).status).toBe(200)
    first.child.kill("SIGTERM")
    expect(await first.exited).toBe(0)
    await expect(readFile(`${state}.lock`)).rejects.toThrow("ENOENT")
    const again = await start(["--state", state, "--no-tls"])
    again.child.kill("SIGTERM")
    expect(await again.exited).toBe(0)
  })

  it("a port already in use exits 1 with the reason", async () => {
    const started = await start(["--no-tls"])
    const port = new URL(started.info.imdsUrl).port
    const r = await run(["--imds-port", port, "--no-tls"])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("EADDRINUSE")
    started.child.kill("SIGTERM")
    expect(await started.exited).toBe(0)
  })
})
