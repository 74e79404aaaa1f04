/**
 * `azmi-emulator run` itself (issue 15): COMMAND runs in a private network, mount and PID namespace that is a
 * simulated Azure VM and has no way out; it gets the caller's stdio, its environment less Azure identity
 * variables plus the CA, and its exit status is run's; signals reach it; nothing is left running, mounted or
 * on disk afterwards; it works as a normal user; where namespaces cannot be made it exits 2 and says why.
 *
 * Every COMMAND that looks at the network starts behind `vm/guard.sh`, which checks inside the namespace that
 * nothing leads out before it runs anything.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import {
  asNobody,
  azmiBin,
  bareEnv,
  describeOnVm,
  emulatorBin,
  hostNetns,
  inPrivateMounts,
  type TempHome,
  tempHome,
  type VmRun,
  vmRun,
} from "./vm/support.js"

const home: TempHome = tempHome()
afterAll(() => home.close())

const describeVm = await describeOnVm(home.dir, "the simulated-VM tests")

const TOKEN_PATH =
  "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F"

interface IpLink {
  readonly ifname: string
  readonly flags: ReadonlyArray<string>
}
interface IpRoute {
  readonly dst: string
  readonly dev?: string
  readonly gateway?: string
  readonly type?: string
}

/** What COMMAND sees of its network: netns, links and routes (all tables, both families). */
const NETWORK_VIEW =
  "readlink /proc/self/ns/net; ip -j link show; ip -j -4 route show table all; ip -j -6 route show table all"

const parseView = (stdout: string) => {
  const [netns = "", links = "[]", routes4 = "[]", routes6 = "[]"] = stdout.trim().split("\n")
  return {
    netns,
    links: JSON.parse(links) as ReadonlyArray<IpLink>,
    routes: [...JSON.parse(routes4), ...JSON.parse(routes6)] as ReadonlyArray<IpRoute>,
  }
}

/** Starts `run`, waits for COMMAND's "ready" line, then hands the child over. */
const startUntilReady = async (
  command: ReadonlyArray<string>,
): Promise<{ child: ReturnType<typeof spawn>; done: Promise<VmRun> }> => {
  let child: ReturnType<typeof spawn> | undefined
  const done = vmRun(command, {
    home: home.dir,
    unguarded: true,
    started: (c) => {
      child = c
    },
  })
  const started = child as ReturnType<typeof spawn> | undefined
  if (started === undefined) throw new Error("run did not start")
  await new Promise<void>((resolve, reject) => {
    let out = ""
    const timer = setTimeout(() => reject(new Error("COMMAND never said ready")), 30_000)
    started.stdout?.on("data", (d) => {
      out += d
      if (out.includes("ready")) {
        clearTimeout(timer)
        resolve()
      }
    })
  })
  return { child: started, done }
}

const pgrep = (pattern: string): Promise<string> =>
  new Promise((resolve) => {
    const p = spawn("pgrep", ["-f", pattern], { stdio: ["ignore", "pipe", "ignore"] })
    let out = ""
    p.stdout.on("data", (d) => {
      out += d
    })
    p.once("close", () => resolve(out.trim()))
  })

/** Whether process `pid` has children. */
const children = (pid: string): Promise<boolean> =>
  new Promise((resolve) => {
    const p = spawn("pgrep", ["-P", pid], { stdio: "ignore" })
    p.once("close", (code) => resolve(code === 0))
  })

describeVm("azmi-emulator run: the simulated VM's network", () => {
  it("a namespace of its own: only lo, 169.254.169.254 on it, no default route, no gateway; the Azure names resolve to it privately", async () => {
    const hostsBefore = readFileSync("/etc/hosts", "utf8")
    const r = await vmRun(
      ["sh", "-c", `${NETWORK_VIEW}; getent hosts management.azure.com login.microsoftonline.com`],
      { home: home.dir },
    )
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split("\n")
    const view = parseView(lines.slice(0, 4).join("\n"))
    expect(view.netns).not.toBe(hostNetns)
    expect(view.links.map((l) => l.ifname)).toEqual(["lo"])
    expect(view.routes.filter((r) => r.dst === "default" || r.gateway !== undefined)).toEqual([])
    expect(view.routes.every((r) => r.dev === "lo")).toBe(true)
    expect(view.routes).toContainEqual(
      expect.objectContaining({ type: "local", dst: "169.254.169.254", dev: "lo" }),
    )
    expect(lines.slice(4)).toEqual([
      expect.stringMatching(/^127\.0\.0\.1\s+management\.azure\.com /),
      expect.stringMatching(/^127\.0\.0\.1\s+management\.azure\.com login\.microsoftonline\.com/),
    ])
    // The machine's own /etc/hosts was never touched.
    expect(readFileSync("/etc/hosts", "utf8")).toBe(hostsBefore)
  })

  it("--no-imds: lo plus a veth pair whose peer is down; packets to 169.254.169.254 are dropped (connect times out, never refused)", async () => {
    const r = await vmRun(
      [
        "sh",
        "-c",
        `${NETWORK_VIEW}; curl -sS --connect-timeout 4 -H Metadata:true '${TOKEN_PATH}' 2>/dev/null; echo "curl exit $?"`,
      ],
      { home: home.dir, runArgs: ["--no-imds"] },
    )
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split("\n")
    const view = parseView(lines.slice(0, 4).join("\n"))
    expect(view.netns).not.toBe(hostNetns)
    expect(view.links.map((l) => l.ifname).sort()).toEqual(["azmi-imds", "azmi-void", "lo"])
    expect(view.links.find((l) => l.ifname === "azmi-void")?.flags).not.toContain("UP")
    expect(view.routes.filter((r) => r.dst === "default" || r.gateway !== undefined)).toEqual([])
    expect(view.routes.filter((r) => r.dev !== "lo")).toEqual([
      expect.objectContaining({ dst: "169.254.169.254", dev: "azmi-imds" }),
    ])
    // curl: 28 = "Timeout was reached" (the SYN went unanswered); 7 would be "refused" or "unreachable" (a
    // failed ARP gives EHOSTUNREACH after 3 s, hence a 4 s timeout), 6 "no such host".
    expect(lines[4]).toBe("curl exit 28")
  })
})

describeVm("azmi-emulator run: names resolve in the namespace alone", () => {
  it.runIf(process.getuid?.() === 0)(
    "the machine's nscd and systemd-resolved sockets are hidden inside (they would resolve names outside)",
    async () => {
      // A machine with both daemons, made in a throwaway mount namespace (a tmpfs over /run, seen by nobody else).
      const machine = [
        "mount -t tmpfs tmpfs /run",
        "mkdir -p /run/nscd /run/systemd/resolve",
        "touch /run/nscd/socket /run/systemd/resolve/io.systemd.Resolve",
        `exec "${process.execPath}" "${emulatorBin}" run -- sh -c 'ls -A /run/nscd /run/systemd/resolve'`,
      ].join(" && ")
      const r = await inPrivateMounts(machine, bareEnv(home.dir))
      expect(r.stderr).toBe("")
      expect(r.code).toBe(0)
      expect(r.stdout).toBe("/run/nscd:\n\n/run/systemd/resolve:\n")
    },
  )
})

describeVm("azmi-emulator run: COMMAND's environment, stdio and exit status", () => {
  it("the caller's variables, less identity/azmi/proxy ones (named on stderr, values never); the CA in four variables; AZMI_EMULATOR_INFO", async () => {
    const r = await vmRun(["sh", "-c", 'env; cat "$AZMI_EMULATOR_INFO"'], {
      home: home.dir,
      unguarded: true,
      env: {
        KEEP_ME: "kept",
        AZURE_CLIENT_SECRET: "s3cret-value",
        AZURE_CLIENT_ID: "someone",
        IDENTITY_ENDPOINT: "http://127.0.0.1:1/msi/token",
        AZMI_IMDS_ENDPOINT: "http://127.0.0.1:2",
        https_proxy: "http://127.0.0.1:3",
        NODE_EXTRA_CA_CERTS: "/etc/ssl/certs/ca-certificates.crt",
      },
    })
    expect(r.code).toBe(0)
    const envLines = r.stdout.slice(0, r.stdout.indexOf("{\n")).trim().split("\n")
    const env = Object.fromEntries(
      envLines.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    )
    const info = JSON.parse(r.stdout.slice(r.stdout.indexOf("{\n")))
    expect(env.KEEP_ME).toBe("kept")
    for (const gone of [
      "AZURE_CLIENT_SECRET",
      "AZURE_CLIENT_ID",
      "IDENTITY_ENDPOINT",
      "AZMI_IMDS_ENDPOINT",
      "https_proxy",
    ]) {
      expect(env[gone]).toBeUndefined()
      expect(r.stderr).toContain(gone)
    }
    // The emulator's one log line, prefixed, naming the variables (sorted) and never a value.
    expect(r.stderr).toBe(
      "azmi-emulator: not passed to sh (a VM has none of them): AZMI_IMDS_ENDPOINT, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, IDENTITY_ENDPOINT, https_proxy\n",
    )
    const ca = env.NODE_EXTRA_CA_CERTS
    expect(ca).toBe(info.caCertPath)
    for (const name of ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"]) expect(env[name]).toBe(ca)
    expect(Object.keys(env).filter((k) => k.startsWith("AZMI_"))).toEqual(["AZMI_EMULATOR_INFO"])
    expect(info).toMatchObject({
      source: "imds",
      imdsUrl: "http://169.254.169.254",
      armUrl: "https://management.azure.com",
      loginUrl: "https://login.microsoftonline.com",
      controlUrl: "http://127.0.0.1",
      env: {
        NODE_EXTRA_CA_CERTS: ca,
        REQUESTS_CA_BUNDLE: ca,
        SSL_CERT_FILE: ca,
        CURL_CA_BUNDLE: ca,
        AZMI_EMULATOR_INFO: env.AZMI_EMULATOR_INFO,
      },
      vm: { name: "myVM", resourceGroup: "DevTest" },
      admin: { clientSecret: expect.any(String) },
      logPath: null,
    })
    // Cleaned up: the info file and the CA are gone with the run.
    expect(existsSync(env.AZMI_EMULATOR_INFO ?? "")).toBe(false)
    expect(existsSync(ca ?? "")).toBe(false)
  })

  it("the exit status is COMMAND's: 0, 7, 127 when it does not exist, 128+N when signal N ended it", async () => {
    const [ok, seven, missing, killed] = await Promise.all([
      vmRun(["true"], { home: home.dir, unguarded: true }),
      vmRun(["sh", "-c", "echo out; echo err >&2; exit 7"], { home: home.dir, unguarded: true }),
      vmRun(["azmi-no-such-command"], { home: home.dir, unguarded: true }),
      vmRun(["sh", "-c", "kill -TERM $$"], { home: home.dir, unguarded: true }),
    ])
    expect(ok.code).toBe(0)
    expect(ok.stderr).toBe("")
    expect(seven).toMatchObject({ code: 7, stdout: "out\n", stderr: "err\n" })
    expect(missing.code).toBe(127)
    expect(missing.stderr).toContain("azmi-no-such-command: command not found")
    expect(killed.code).toBe(143)
  })

  it("COMMAND reads the caller's stdin", async () => {
    const r = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, [emulatorBin, "run", "--", "sh", "-c", "tr a-z A-Z"], {
        env: bareEnv(home.dir),
        stdio: ["pipe", "pipe", "inherit"],
      })
      let stdout = ""
      child.stdout.on("data", (d) => {
        stdout += d
      })
      child.stdin.end("from the caller\n")
      child.once("close", (code) => resolve({ code, stdout }))
    })
    expect(r).toEqual({ code: 0, stdout: "FROM THE CALLER\n" })
  })

  it("SIGTERM and SIGINT sent to run reach COMMAND, whose answer is the exit status", async () => {
    const trapping = await startUntilReady([
      "sh",
      "-c",
      'trap "echo got TERM; exit 5" TERM; trap "echo got INT; exit 6" INT; echo ready; while :; do sleep 0.1; done',
    ])
    trapping.child.kill("SIGTERM")
    expect(await trapping.done).toMatchObject({ code: 5, stdout: "ready\ngot TERM\n" })

    const interrupted = await startUntilReady([
      "sh",
      "-c",
      'trap "echo got INT; exit 6" INT; echo ready; while :; do sleep 0.1; done',
    ])
    interrupted.child.kill("SIGINT")
    expect(await interrupted.done).toMatchObject({ code: 6, stdout: "ready\ngot INT\n" })

    const plain = await startUntilReady(["sh", "-c", "echo ready; exec sleep 60"])
    plain.child.kill("SIGTERM")
    expect((await plain.done).code).toBe(143)
  })

  it("SIGTERM while the VM is still being built: COMMAND is never started, the status is 143", async () => {
    let child: ReturnType<typeof spawn> | undefined
    const done = vmRun(["sh", "-c", "echo COMMAND started"], {
      home: home.dir,
      unguarded: true,
      started: (c) => {
        child = c
      },
    })
    // Once run has started unshare its signal handlers are in place (both happen in one tick), and the
    // emulator's start-up (a new CA) is still ahead.
    const pid = String(child?.pid)
    while ((await pgrep(`unshare.*--inside-namespace`)) === "" || !(await children(pid))) {
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    child?.kill("SIGTERM")
    const r = await done
    expect(r).toMatchObject({ code: 143, stdout: "" })
    expect(r.stderr).toContain("SIGTERM before sh started: not starting it")
  })

  it("run killed outright (SIGKILL): COMMAND and everything it started are stopped, the VM's files removed", async () => {
    const marker = `${300 + Math.floor(Math.random() * 1000)}.${Date.now() % 1000}`
    const { child, done } = await startUntilReady([
      "sh",
      "-c",
      `sleep ${marker} & echo "$AZMI_EMULATOR_INFO"; echo ready; exec sleep ${marker}`,
    ])
    expect(await pgrep(`sleep ${marker}`)).not.toBe("")
    child.kill("SIGKILL")
    const r = await done
    expect(r.signal).toBe("SIGKILL")
    const infoPath = r.stdout.split("\n")[0] ?? ""
    expect(infoPath).toMatch(/emulator\.json$/)
    // The inside sees its caller gone, stops COMMAND (SIGTERM), closes the emulator and exits; being the PID
    // namespace's first process, its exit ends the background sleep too.
    const deadline = Date.now() + 20_000
    while (Date.now() < deadline && ((await pgrep(`sleep ${marker}`)) !== "" || existsSync(infoPath))) {
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    expect(await pgrep(`sleep ${marker}`)).toBe("")
    expect(existsSync(infoPath)).toBe(false)
  })
})

describeVm("azmi-emulator run: log, state, azmi emulator run, a normal user", () => {
  it("--log FILE: the start, each request answered and COMMAND's exit go there; stderr stays COMMAND's", async () => {
    const log = join(home.dir, "emulator.log")
    const r = await vmRun(
      ["sh", "-c", `curl -sS -o /dev/null -H Metadata:true '${TOKEN_PATH}'; echo done >&2`],
      {
        home: home.dir,
        runArgs: ["--log", log],
      },
    )
    expect(r.code).toBe(0)
    expect(r.stderr).toBe("done\n")
    const text = readFileSync(log, "utf8")
    expect(text).toMatch(
      /simulated VM up: IMDS http:\/\/169\.254\.169\.254, ARM https:\/\/management\.azure\.com/,
    )
    expect(text).toMatch(
      /imds-token GET \/metadata\/identity\/oauth2\/token\?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement\.azure\.com%2F → 200/,
    )
    expect(text).toMatch(/\/bin\/sh exited with status 0\n$/)
  })

  it("--state FILE: a grant made on one run is there on the next", async () => {
    const state = join(home.dir, "state.json")
    const grant = [
      "sh",
      "-c",
      `info() { node -p "require(process.env.AZMI_EMULATOR_INFO).$1"; }
       AZURE_TENANT_ID=$(info admin.tenantId) AZURE_CLIENT_ID=$(info admin.clientId) AZURE_CLIENT_SECRET=$(info admin.clientSecret) \
         node ${azmiBin} role assignment create --assignee-object-id $(info vm.systemAssigned.principalId) --role Reader \
         --scope /subscriptions/$(info subscriptionId)/resourceGroups/DevTest -o none`,
    ]
    const first = await vmRun(grant, { home: home.dir, runArgs: ["--state", state] })
    expect(first.stderr).toBe("")
    expect(first.code).toBe(0)
    const second = await vmRun(["node", azmiBin, "group", "show", "--query", "name", "-o", "tsv"], {
      home: home.dir,
      runArgs: ["--state", state],
    })
    expect(second).toMatchObject({ code: 0, stdout: "DevTest\n" })
  })

  it("azmi emulator run is the same command (its arguments passed through)", async () => {
    const r = await vmRun(["sh", "-c", `curl -sS -H Metadata:true '${TOKEN_PATH}'; exit 9`], {
      home: home.dir,
      via: "azmi",
    })
    expect(r.code).toBe(9)
    expect(JSON.parse(r.stdout)).toMatchObject({
      token_type: "Bearer",
      resource: "https://management.azure.com/",
    })
  })

  it.runIf(process.getuid?.() === 0)(
    "as a normal user (through an unprivileged user namespace): COMMAND runs as that user and gets the VM's token",
    async () => {
      // The bundled CLI needs nothing installed.
      const r = await vmRun(["sh", "-c", `id -u; id -g; curl -sS -H Metadata:true '${TOKEN_PATH}'`], {
        home: home.dir,
        ...asNobody(home.dir),
      })
      expect(r.stderr).toBe("")
      expect(r.code).toBe(0)
      const [uid, gid, body] = r.stdout.split("\n")
      expect([uid, gid]).toEqual(["65534", "65534"])
      expect(JSON.parse(body ?? "")).toMatchObject({ token_type: "Bearer" })
    },
  )
})

describe("azmi-emulator run where namespaces cannot be made", () => {
  it("exits 2 naming what is missing and how to enable it; COMMAND never runs", async () => {
    const fake = join(home.dir, "fake-bin")
    mkdirSync(fake, { recursive: true })
    writeFileSync(
      join(fake, "unshare"),
      "#!/bin/sh\necho 'unshare: unshare failed: Operation not permitted' >&2\nexit 1\n",
      { mode: 0o755 },
    )
    const r = await vmRun(["sh", "-c", "echo COMMAND ran"], {
      home: home.dir,
      unguarded: true,
      env: { PATH: `${fake}:/usr/local/bin:/usr/bin:/bin` },
    })
    expect(r.code).toBe(2)
    expect(r.stdout).toBe("")
    expect(r.stderr).toContain(
      "azmi-emulator run: cannot create a private network namespace for the simulated VM: unshare: unshare failed: Operation not permitted",
    )
    expect(r.stderr).toContain("Run as root, or where unprivileged user namespaces are allowed.")
  })

  it("exits 2 naming util-linux when unshare is not there", async () => {
    const r = await vmRun(["true"], {
      home: home.dir,
      unguarded: true,
      env: { PATH: join(home.dir, "empty-bin") },
    })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/`unshare` \(util-linux\).*not found/)
  })
})
