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
const run = (args: ReadonlyArray<string>) => runBin(bin, args)
const start = (args: ReadonlyArray<string>) => startBin(bin, args)
let dir: string

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
        "imdsUrl",
        "loginUrl",
        "subscriptionId",
        "tenantId",
        "vm",
      ].sort(),
    )
    expect(info.imdsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(info.armUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    expect(info.controlUrl).toBe(info.imdsUrl)
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
