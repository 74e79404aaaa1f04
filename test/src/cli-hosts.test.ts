/**
 * `azmi` and `azmi-http` on every Azure host the emulator plays: `azmi-emulator --source <host>` runs as its
 * own process, and the built CLI (and azmi-http) run in children whose environment is the start-up line's
 * `env` — what a process on that host sees — plus PATH and a private HOME. `azmi token` works; `azmi doctor`
 * opens with the host and the variables that decided it, then that host's checks; `azmi instance` says
 * plainly where a host has no IMDS; the cross-process token cache keeps hosts apart; azmi-http's broker
 * serves any upstream host with one upstream request. Then the hostile cases: a fake HIMDS whose challenge
 * names a file outside Arc's directory, a Service Fabric endpoint with another certificate, and Arc as a
 * user outside the himds group.
 */
import { chmodSync, cpSync, mkdtempSync, rmSync } from "node:fs"
import { createServer, type IncomingHttpHeaders, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { azmiBin } from "./cli-support.js"
import { type RunningEmulator, spawnEmulator } from "./emulator-process.js"
import { type HttpChild, spawnHttp } from "./http-support.js"
import { runAzmi } from "./reliability-support.js"

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

let home: string
beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), "azmi-cli-hosts-"))
})
afterAll(() => {
  rmSync(home, { recursive: true, force: true })
})

/** `azmi <args>` with exactly the host's env, PATH and a private HOME (plus `extra`). */
const azmi = (
  env: Record<string, string>,
  args: ReadonlyArray<string>,
  extra: { env?: Record<string, string>; uid?: number; bin?: string; home?: string } = {},
): Promise<Run> => {
  const h = extra.home ?? home
  return runAzmi(
    args,
    { ...env, HOME: h, XDG_RUNTIME_DIR: join(h, "run"), XDG_CACHE_HOME: join(h, "cache"), ...extra.env },
    { uid: extra.uid, bin: extra.bin },
  )
}

const HOSTS = [
  { source: "app-service", name: "App Service", vars: ["IDENTITY_ENDPOINT", "IDENTITY_HEADER"], imds: false },
  {
    source: "service-fabric",
    name: "Service Fabric",
    vars: ["IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT"],
    imds: true,
    check: "✔ Service Fabric certificate matches IDENTITY_SERVER_THUMBPRINT",
  },
  { source: "azure-ml", name: "Azure ML", vars: ["MSI_ENDPOINT", "MSI_SECRET"], imds: true },
  { source: "cloud-shell", name: "Cloud Shell", vars: ["MSI_ENDPOINT"], imds: false },
  {
    source: "arc",
    name: "Azure Arc",
    vars: ["IDENTITY_ENDPOINT", "IMDS_ENDPOINT"],
    imds: false,
    check: "✔ Azure Arc key directory readable: /var/opt/azcmagent/tokens",
  },
] as const

for (const host of HOSTS) {
  describe(`azmi on --source ${host.source}`, () => {
    let emu: RunningEmulator
    beforeAll(async () => {
      emu = await spawnEmulator(host.source)
    })
    afterAll(async () => {
      await emu?.stop()
    })

    it("azmi token gets the host identity's token (one token request)", async () => {
      const before = await emu.count({ target: `${host.source}-token`, status: 200 })
      const r = await azmi(emu.line.env, ["token", "--decode"])
      expect(r.stderr).toBe("")
      expect(r.code).toBe(0)
      const decoded = JSON.parse(r.stdout) as { claims: { oid: string; appid: string; aud: string } }
      expect(decoded.claims).toMatchObject({
        oid: emu.line.host.principalId,
        appid: emu.line.host.clientId,
        aud: "https://management.azure.com/",
      })
      expect((await emu.count({ target: `${host.source}-token`, status: 200 })) - before).toBe(1)
    })

    it("azmi doctor opens with the host and the variables that decided it, then the host's own checks", async () => {
      const r = await azmi(emu.line.env, ["doctor"])
      const lines = r.stdout.trimEnd().split("\n")
      expect(lines[0]).toMatch(
        new RegExp(`^✔ Host: ${host.name} at \\S+, decided by ${host.vars.join(", ")}$`),
      )
      if ("check" in host) expect(lines[1]).toMatch(new RegExp(`^${host.check}`))
      const upToToken = lines.slice(0, lines.findIndex((l) => l.startsWith("✔ Token obtainable")) + 1)
      expect(upToToken.length).toBeGreaterThan(1)
      expect(upToToken.join("\n")).not.toContain("✖")
      // Where the host has IMDS, doctor goes on to the VM's own group (which this identity may not read).
      expect(r.stdout).toContain(
        host.imds ? "✔ IMDS reachable" : "- Read access to a resource group: not checked",
      )
    })

    it(
      host.imds
        ? "azmi instance reads the IMDS the host's VMs have"
        : "azmi instance says plainly that the host has no IMDS (exit 3, at once)",
      async () => {
        const r = await azmi(emu.line.env, ["instance", "-o", "json"])
        if (host.imds) {
          expect(r.code).toBe(0)
          expect(JSON.parse(r.stdout)).toMatchObject({ subscriptionId: emu.line.subscriptionId })
        } else {
          expect(r.code).toBe(3)
          expect(r.stdout).toBe("")
          expect(r.stderr).toMatch(
            new RegExp(
              `^ERROR: ${host.name} has no instance metadata service \\(IMDS\\): there is no VM metadata to read on this host\\.\\nHINT: `,
            ),
          )
        }
      },
    )
  })
}

describe("the cross-process token cache (azmi --cache) is keyed by host and endpoint", () => {
  let arc: RunningEmulator
  let shell: RunningEmulator
  beforeAll(async () => {
    // Both at once, but if one fails to start the other is stopped here: afterAll has nothing to stop.
    const started = await Promise.allSettled([spawnEmulator("arc"), spawnEmulator("cloud-shell")])
    const running = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []))
    const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected")
    if (failed !== undefined) {
      await Promise.all(running.map((emu) => emu.stop()))
      throw failed.reason
    }
    ;[arc, shell] = running as [RunningEmulator, RunningEmulator]
  })
  afterAll(async () => {
    await Promise.all([arc?.stop(), shell?.stop()])
  })

  it("a second azmi token on the same host is a cache hit; another host with the same HOME asks its own endpoint", async () => {
    const cacheHome = mkdtempSync(join(tmpdir(), "azmi-cli-hosts-cache-"))
    try {
      for (const emu of [arc, shell, arc, shell]) {
        const r = await azmi(emu.line.env, ["--cache", "token", "--query", "resource", "-o", "tsv"], {
          home: cacheHome,
        })
        expect(r.code).toBe(0)
        expect(r.stdout).toBe("https://management.azure.com/\n")
      }
      expect(await arc.count({ target: "arc-token", status: 200 })).toBe(1)
      expect(await shell.count({ target: "cloud-shell-token", status: 200 })).toBe(1)
    } finally {
      rmSync(cacheHome, { recursive: true, force: true })
    }
  })
})

describe("azmi-http's broker over another host's source", () => {
  let emu: RunningEmulator
  let http: HttpChild
  const header = "broker-header-0123456789abcdef"
  beforeAll(async () => {
    emu = await spawnEmulator("arc")
    http = await spawnHttp({
      ...emu.line.env,
      PATH: process.env.PATH ?? "",
      AZMI_HTTP_HOST: "127.0.0.1",
      AZMI_HTTP_PORT: "0",
      AZMI_IDENTITY_HEADER: header,
    })
  })
  afterAll(async () => {
    await http?.stop()
    await emu?.stop()
  })

  it("100 concurrent /msi/token calls on an Arc server → one token from HIMDS", async () => {
    const answers = await Promise.all(
      Array.from({ length: 100 }, () =>
        fetch(
          `${http.url}/msi/token?api-version=2019-08-01&resource=${encodeURIComponent("https://management.azure.com/")}`,
          {
            headers: { "x-identity-header": header },
          },
        ).then(async (res) => ({
          status: res.status,
          body: (await res.json()) as { access_token?: string },
        })),
      ),
    )
    expect(answers.every((a) => a.status === 200 && typeof a.body.access_token === "string")).toBe(true)
    expect(new Set(answers.map((a) => a.body.access_token)).size).toBe(1)
    expect(await emu.count({ target: "arc-token", status: 200 })).toBe(1)
  })
})

describe("hostile hosts", () => {
  /** A fake HIMDS: challenges with `realm`, records every request's headers. */
  const fakeHimds = async (realm: string) => {
    const seen: Array<IncomingHttpHeaders> = []
    const server: Server = createServer((req, res) => {
      seen.push(req.headers)
      res.writeHead(401, { "content-type": "application/json", "www-authenticate": `Basic realm=${realm}` })
      res.end('{"error":"unauthorized_client"}')
    })
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
    const port = (server.address() as AddressInfo).port
    return {
      env: {
        IDENTITY_ENDPOINT: `http://127.0.0.1:${port}/metadata/identity/oauth2/token`,
        IMDS_ENDPOINT: `http://127.0.0.1:${port}`,
      },
      seen,
      close: () => new Promise<void>((r) => server.close(() => r())),
    }
  }

  it.each([
    ["/etc/shadow", "path"],
    ["/var/opt/azcmagent/tokens/../../../../etc/passwd.key", "path"],
    ["/etc/hostname.key", "path"],
  ])("an Arc challenge naming %s is refused: exit 4, the rule named, nothing read or sent", async (realm) => {
    const himds = await fakeHimds(realm)
    try {
      const r = await azmi(himds.env, ["token"])
      expect(r.code).toBe(4)
      expect(r.stdout).toBe("")
      expect(r.stderr).toContain("which is not a file /var/opt/azcmagent/tokens/<name>.key")
      expect(r.stderr).toContain("Nothing from the file was sent.")
      expect(himds.seen).toHaveLength(1)
      expect(himds.seen.every((h) => h.authorization === undefined)).toBe(true)
    } finally {
      await himds.close()
    }
  })

  describe("Service Fabric with another certificate than IDENTITY_SERVER_THUMBPRINT", () => {
    let emu: RunningEmulator
    beforeAll(async () => {
      emu = await spawnEmulator("service-fabric")
    })
    afterAll(async () => {
      await emu?.stop()
    })

    it("azmi token: exit 4 naming both thumbprints, and the secret never reached the endpoint", async () => {
      const actual = emu.line.env.IDENTITY_SERVER_THUMBPRINT!.toUpperCase()
      const pinned = `${actual.slice(0, 39)}${actual.endsWith("A") ? "B" : "A"}`
      const r = await azmi({ ...emu.line.env, IDENTITY_SERVER_THUMBPRINT: pinned.toLowerCase() }, ["token"])
      expect(r.code).toBe(4)
      expect(r.stderr).toContain(
        `has SHA-1 thumbprint ${actual}, but IDENTITY_SERVER_THUMBPRINT is ${pinned}`,
      )
      expect(r.stderr).toContain("the secret was not sent")
      expect(r.stderr).not.toContain(emu.line.env.IDENTITY_HEADER!)
      expect(await emu.count({ target: "service-fabric-token" })).toBe(0)
      const doctor = await azmi({ ...emu.line.env, IDENTITY_SERVER_THUMBPRINT: pinned }, ["doctor"])
      expect(doctor.code).toBe(4)
      expect(doctor.stdout.split("\n")[1]).toMatch(
        /^✖ Service Fabric certificate matches IDENTITY_SERVER_THUMBPRINT: /,
      )
    })
  })

  describe("Azure Arc as a user outside the himds group", () => {
    let emu: RunningEmulator
    let userHome: string
    let bin: string
    beforeAll(async () => {
      emu = await spawnEmulator("arc")
      userHome = mkdtempSync(join(tmpdir(), "azmi-cli-hosts-user-"))
      // The bundled CLI needs nothing installed: a copy where that user can read it.
      bin = join(userHome, "cli", "azmi.mjs")
      cpSync(dirname(azmiBin), dirname(bin), { recursive: true })
      chmodSync(userHome, 0o777)
    })
    afterAll(async () => {
      await emu?.stop()
      rmSync(userHome, { recursive: true, force: true })
    })

    it.runIf(process.getuid?.() === 0)(
      "azmi token: the key file is unreadable (EACCES): exit 4, and the hint explains the himds group",
      async () => {
        // Without NODE_EXTRA_CA_CERTS: that user may not read the emulator's CA file (and HIMDS is plain http).
        const { NODE_EXTRA_CA_CERTS: _, ...env } = emu.line.env
        const r = await azmi(env, ["token"], { uid: 65534, bin, home: userHome })
        expect(r.code).toBe(4)
        expect(r.stderr).toMatch(
          /^ERROR: Azure Arc's key file \/var\/opt\/azcmagent\/tokens\/\w+\.key could not be read \(EACCES\)\./,
        )
        expect(r.stderr).toContain(
          'HINT: Only root and members of the himds group may read /var/opt/azcmagent/tokens: run as root, or add this user to the group (sudo usermod -aG himds "$USER", then log in again).',
        )
      },
    )
  })
})
