/**
 * Every Azure host a managed identity lives on, simulated (`azmi-emulator run --source S`, issue 15 on top of
 * issue 13): COMMAND gets exactly the variables that host sets — its endpoint on 127.0.0.1 inside the namespace,
 * Arc's on 40342 like the real agent, workload identity's authority the real login.microsoftonline.com and its
 * token file where AKS mounts it — and 169.254.169.254 answers only where the host has an IMDS (elsewhere
 * packets to it are dropped). With nothing configured, the official SDKs get a token there, and once the admin
 * has granted the host's identity Reader (through management.azure.com inside), ARM accepts it.
 *
 * One `run` per host, every client inside it; each COMMAND starts behind `vm/guard.sh` (no way out of the
 * namespace, checked inside before anything dials). Python is required (Debian's python3-azure).
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { DEFAULT_SUBSCRIPTION_ID } from "@azmi/emulator"
import { afterAll, beforeAll, expect, it } from "vitest"
import { azmiBin } from "./cli-support.js"
import {
  asNobody,
  bareEnv,
  describeOnVm,
  emulatorBin,
  fixture,
  inPrivateMounts,
  python,
  pythonSdkMissing,
  type TempHome,
  tempHome,
  type VmRun,
  vmRun,
} from "./vm/support.js"

const home: TempHome = tempHome()
afterAll(() => home.close())

const describeVm = await describeOnVm(home.dir, "the simulated-host tests")

const children = join(dirname(fileURLToPath(import.meta.url)), "sdk-children")
const child = (name: string) => join(children, name)
const TOKEN_URL =
  "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F"
const ARC_KEYS = "/var/opt/azcmagent/tokens"
const AKS_TOKEN_FILE = "/var/run/secrets/azure/wi/token/azure-identity-token"
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** Variables that configure an identity or azmi: COMMAND must see exactly the host's ones (and the info file). */
const IDENTITY_NAME = /^(AZURE_|IDENTITY_|IMDS_|MSI_|DEFAULT_IDENTITY_|MSAL_|AZMI_)/

/** How `run` names each host in its messages. */
const LABELS: Readonly<Record<string, string>> = {
  "app-service": "an App Service app",
  arc: "an Azure Arc-enabled server",
  "service-fabric": "a Service Fabric application",
  "cloud-shell": "Cloud Shell",
  "azure-ml": "Azure ML compute",
  "workload-identity": "an AKS pod with workload identity",
}

interface HostCase {
  readonly source: string
  /** The variables the host sets, as COMMAND sees them (a string: exactly; a RegExp: its shape). */
  readonly variables: Readonly<Record<string, string | RegExp>>
  /** Whether 169.254.169.254 answers there. */
  readonly imds: boolean
  /** MSAL Node's ManagedIdentityApplication speaks this host's protocol (not workload identity's). */
  readonly msal: boolean
  /** A directory the SDKs insist on, private to the namespace. */
  readonly privateDirectory?: string
}

const HOSTS: ReadonlyArray<HostCase> = [
  {
    source: "app-service",
    variables: { IDENTITY_ENDPOINT: /^http:\/\/127\.0\.0\.1:\d+\/msi\/token$/, IDENTITY_HEADER: UUID },
    imds: false,
    msal: true,
  },
  {
    source: "arc",
    variables: {
      IDENTITY_ENDPOINT: "http://127.0.0.1:40342/metadata/identity/oauth2/token",
      IMDS_ENDPOINT: "http://127.0.0.1:40342",
    },
    imds: false,
    msal: true,
    privateDirectory: ARC_KEYS,
  },
  {
    source: "service-fabric",
    variables: {
      IDENTITY_ENDPOINT: /^https:\/\/127\.0\.0\.1:\d+\/metadata\/identity\/oauth2\/token$/,
      IDENTITY_HEADER: UUID,
      IDENTITY_SERVER_THUMBPRINT: /^[0-9A-F]{40}$/,
    },
    imds: true,
    msal: true,
  },
  {
    source: "cloud-shell",
    variables: { MSI_ENDPOINT: "http://127.0.0.1:50342/oauth2/token" },
    imds: false,
    msal: true,
  },
  {
    source: "azure-ml",
    variables: {
      MSI_ENDPOINT: /^http:\/\/127\.0\.0\.1:\d+\/msi\/token$/,
      MSI_SECRET: UUID,
      DEFAULT_IDENTITY_CLIENT_ID: UUID,
    },
    imds: true,
    msal: true,
  },
  {
    source: "workload-identity",
    variables: {
      AZURE_CLIENT_ID: UUID,
      AZURE_TENANT_ID: UUID,
      AZURE_FEDERATED_TOKEN_FILE: AKS_TOKEN_FILE,
      AZURE_AUTHORITY_HOST: "https://login.microsoftonline.com/",
    },
    imds: true,
    msal: false,
    privateDirectory: "/var/run/secrets/azure/wi/token",
  },
]

/** The shell lines of one step: its output as one line `label<TAB>output`, or `label<TAB>exit N`. */
const step = (label: string, command: string) =>
  `out=$(${command}) || out="exit $?"; printf '%s\\t%s\\n' ${label} "$(printf '%s' "$out" | tr '\\n' ' ')"`

const node = (script: string, ...args: ReadonlyArray<string>) =>
  [process.execPath, script, ...args].map((a) => `'${a}'`).join(" ")

/** What COMMAND saw and what each client got, by step label. */
interface Observed {
  readonly run: VmRun
  readonly steps: Readonly<Record<string, string>>
  readonly json: (label: string) => unknown
}

const observe = (run: VmRun): Observed => {
  const steps: Record<string, string> = {}
  for (const line of run.stdout.split("\n")) {
    const tab = line.indexOf("\t")
    if (tab > 0) steps[line.slice(0, tab)] = line.slice(tab + 1).trim()
  }
  return {
    run,
    steps,
    json: (label) => {
      try {
        return JSON.parse(steps[label] ?? "")
      } catch {
        throw new Error(`step ${label}: ${steps[label]}\n--- stderr:\n${run.stderr}`)
      }
    },
  }
}

/** The whole visit to one host: what COMMAND sees, then every client, before and after the admin's grant. */
const hostScript = (host: HostCase): string => {
  const sub = DEFAULT_SUBSCRIPTION_ID
  return [
    step("env", `${process.execPath} -e 'console.log(JSON.stringify(process.env))'`),
    step("info", `${process.execPath} -p 'JSON.stringify(require(process.env.AZMI_EMULATOR_INFO))'`),
    step(
      "imds",
      `curl -sS -o /dev/null -w '%{http_code}' --connect-timeout 1 -H Metadata:true '${TOKEN_URL}' 2>/dev/null; echo " $?"`,
    ),
    ...(host.privateDirectory === undefined
      ? []
      : [step("fstype", `stat -f -c %T '${host.privateDirectory}'`)]),
    step("before", node(child("identity-js.mjs"), sub)),
    step("grant", node(fixture("grant-reader.mjs"))),
    step("identity", node(child("identity-js.mjs"), sub)),
    step("default", node(child("default-js.mjs"), sub)),
    ...(host.msal ? [step("msal", node(child("msal-node.mjs"), sub))] : []),
    step("python", `${python} '${child("azure_identity.py")}' ${sub}`),
    // azmi with nothing configured: it detects the host from the same variables the SDKs read.
    step("azmi", node(azmiBin, "token", "--decode", "--query", "claims.{oid: oid, appid: appid}")),
    ...(host.privateDirectory === undefined ? [] : [step("files", `ls -A '${host.privateDirectory}'`)]),
  ].join("\n")
}

for (const host of HOSTS) {
  describeVm(`azmi-emulator run --source ${host.source}`, () => {
    let seen: Observed
    let info: {
      env: Record<string, string>
      host: { principalId: string; clientId: string }
      tenantId: string
      imdsUrl: string | null
    }

    beforeAll(async () => {
      const missing = pythonSdkMissing()
      if (missing !== undefined) throw new Error(missing)
      seen = observe(
        await vmRun(["sh", "-c", hostScript(host)], {
          home: home.dir,
          runArgs: ["--source", host.source],
          timeoutMs: 120_000,
          // The caller's own identity variables never reach COMMAND: the host's replace them.
          env: { IDENTITY_ENDPOINT: "http://127.0.0.1:1/elsewhere", AZURE_CLIENT_SECRET: "caller-secret" },
        }),
      )
      info = seen.json("info") as typeof info
    }, 150_000)

    it("COMMAND sees exactly the host's variables (endpoints as reachable inside), plus the CA and the info file", () => {
      expect(seen.run.code, seen.run.stderr).toBe(0)
      const env = seen.json("env") as Record<string, string>
      const identity = Object.fromEntries(Object.entries(env).filter(([name]) => IDENTITY_NAME.test(name)))
      expect(Object.keys(identity).sort()).toEqual(
        [...Object.keys(host.variables), "AZMI_EMULATOR_INFO"].sort(),
      )
      for (const [name, shape] of Object.entries(host.variables)) {
        if (typeof shape === "string") expect(identity[name], name).toBe(shape)
        else expect(identity[name], name).toMatch(shape)
      }
      if (host.source === "azure-ml") expect(env.DEFAULT_IDENTITY_CLIENT_ID).toBe(info.host.clientId)
      if (host.source === "workload-identity") {
        expect(env.AZURE_CLIENT_ID).toBe(info.host.clientId)
        expect(env.AZURE_TENANT_ID).toBe(info.tenantId)
      }
      expect(seen.run.stderr).toContain(
        `azmi-emulator: not passed to /bin/sh (the caller's; ${LABELS[host.source]} sets its own): AZURE_CLIENT_SECRET, IDENTITY_ENDPOINT\n`,
      )
      expect(seen.run.stderr).not.toContain("caller-secret")
      // The info file names the same variables, and the CA in the four variables.
      for (const name of Object.keys(host.variables)) expect(info.env[name]).toBe(env[name])
      for (const name of ["NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"]) {
        expect(env[name]).toMatch(/ca\.pem$/)
      }
    })

    if (host.imds) {
      it("169.254.169.254 answers (the host's machine is an Azure VM)", () => {
        expect(seen.steps.imds).toBe("200 0")
        expect(info.imdsUrl).toBe("http://169.254.169.254")
      })
    } else {
      it("169.254.169.254 does not answer: packets to it are dropped (curl times out, exit 28)", () => {
        expect(seen.steps.imds).toBe("000 28")
        expect(info.imdsUrl).toBeNull()
      })
    }

    it("before the admin's grant, ARM knows the host's identity and refuses it (403)", () => {
      expect(seen.json("before")).toEqual({ arm: 403, oid: info.host.principalId, appid: info.host.clientId })
      expect(seen.json("grant")).toEqual({ granted: info.host.principalId })
    })

    const accepted = (label: string) => () =>
      expect(seen.json(label)).toEqual({ arm: 200, oid: info.host.principalId, appid: info.host.clientId })
    it("@azure/identity ManagedIdentityCredential: a token ARM accepts", accepted("identity"))
    it("@azure/identity DefaultAzureCredential: a token ARM accepts", accepted("default"))
    if (host.msal) it("MSAL Node ManagedIdentityApplication: a token ARM accepts", accepted("msal"))
    it(
      "azure-identity for Python (Debian's python3-azure) ManagedIdentityCredential: a token ARM accepts",
      accepted("python"),
    )
    it("azmi token, with nothing configured, gets the host identity's token", () => {
      expect(seen.json("azmi")).toEqual({ oid: info.host.principalId, appid: info.host.clientId })
    })

    if (host.privateDirectory !== undefined) {
      const dir = host.privateDirectory
      it(`${dir} is a tmpfs of the namespace's own: what the emulator wrote there never reached the machine`, () => {
        expect(seen.steps.fstype).toBe("tmpfs")
        const inside = (seen.steps.files ?? "").split(" ").filter((f) => f !== "")
        expect(inside.length).toBeGreaterThan(0)
        if (host.source === "arc") for (const f of inside) expect(f).toMatch(/^[0-9a-f]{32}\.key$/)
        else expect(inside).toEqual(["azure-identity-token"])
        // The names are random (Arc) or in a directory the machine lacks (AKS): other tests writing to the
        // machine's own directory at the same time cannot make this pass or fail.
        const machine = listMachine(dir)
        for (const f of inside) expect(machine).not.toContain(f)
      })
    }
  })
}

/** The machine's own entries of `dir` (none when it does not exist). */
function listMachine(dir: string): ReadonlyArray<string> {
  return existsSync(dir) ? readdirSync(dir) : []
}

describeVm("azmi-emulator run --source: through azmi, and as a normal user", () => {
  it("azmi emulator run --source cloud-shell passes through: curl POSTs Cloud Shell's form to MSI_ENDPOINT", async () => {
    const r = await vmRun(
      [
        "sh",
        "-c",
        `curl -sS -X POST -H Metadata:true --data-urlencode resource=https://management.azure.com/ "$MSI_ENDPOINT"`,
      ],
      { home: home.dir, via: "azmi", runArgs: ["--source", "cloud-shell"] },
    )
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({
      token_type: "Bearer",
      resource: "https://management.azure.com/",
    })
  })

  it.runIf(process.getuid?.() === 0)(
    "as a normal user: Arc's key directory and AKS's token directory exist for COMMAND (private tmpfs), and Python gets a token",
    async () => {
      // Another user may not read the checkout: the Python child goes along in HOME, like the bundled CLI.
      const nobody = asNobody(home.dir)
      const script = join(home.dir, "azure_identity.py")
      copyFileSync(child("azure_identity.py"), script)
      const visit = (source: string, dir: string) =>
        vmRun(
          ["sh", "-c", `id -u; stat -f -c %T '${dir}'; ${python} '${script}' ${DEFAULT_SUBSCRIPTION_ID}`],
          {
            home: home.dir,
            ...nobody,
            runArgs: ["--source", source],
          },
        )
      for (const [source, dir] of [
        ["arc", ARC_KEYS],
        ["workload-identity", dirname(AKS_TOKEN_FILE)],
      ] as const) {
        const r = await visit(source, dir)
        expect(r.stderr, source).toBe("")
        expect(r.code, source).toBe(0)
        const [uid, fstype, outcome] = r.stdout.trim().split("\n")
        expect([uid, fstype], source).toEqual(["65534", "tmpfs"])
        // No grant here: ARM knows the identity and refuses it.
        expect(JSON.parse(outcome ?? ""), source).toMatchObject({
          arm: 403,
          oid: expect.stringMatching(UUID),
        })
      }
    },
  )
})

describeVm("azmi-emulator run --source: a private directory that cannot be made", () => {
  it.runIf(process.getuid?.() === 0)(
    "exits 1 before COMMAND, naming the directory and the way around; never removes its own directory through the mirror's mounts",
    async () => {
      // A machine whose /run is a throwaway tmpfs (in a mount namespace of its own, seen by nobody else), and a
      // `mount` that refuses the last step of the mirror (`--move`): the mirror's bind mounts of /run's entries
      // stay under run's own directory (in TMPDIR, this test's HOME), which run must then not remove recursively.
      const bin = join(home.dir, "refusing-bin")
      mkdirSync(bin, { recursive: true })
      writeFileSync(
        join(bin, "mount"),
        '#!/bin/sh\nfor a; do [ "$a" = --move ] && { echo "mount: --move refused by the test" >&2; exit 32; }; done\nexec /usr/bin/mount "$@"\n',
        { mode: 0o755 },
      )
      const machine = [
        "mount -t tmpfs tmpfs /run",
        "mkdir /run/canary && echo kept > /run/canary/file && echo kept > /run/canary-file",
        `"${process.execPath}" "${emulatorBin}" run --source workload-identity -- sh -c 'echo COMMAND ran'`,
        'echo "status $?"; cat /run/canary/file /run/canary-file',
      ].join("; ")
      const r = await inPrivateMounts(
        machine,
        bareEnv(home.dir, { PATH: `${bin}:${bareEnv(home.dir).PATH}`, TMPDIR: home.dir }),
      )
      expect(r.stdout).toBe("status 1\nkept\nkept\n")
      // No failure while cleaning up (Node's recursive removal stops at a mount point with EBUSY today; one
      // that went on would delete the machine's files through the binds) and no stack trace.
      expect(r.stderr).not.toContain("EBUSY")
      expect(r.stderr).not.toContain("    at ")
      expect(r.stderr).toContain(
        "azmi-emulator: cannot make /var/run/secrets/azure/wi/token in the namespace: ",
      )
      expect(r.stderr).toContain("mount: --move refused by the test")
      expect(r.stderr).toContain("(e.g. sudo mkdir -p /var/run/secrets/azure/wi/token)")
      expect(r.stderr).toMatch(
        /azmi-emulator: left .*\/azmi-run-\w+ in place: still mounted there: .*\/private-0/,
      )
    },
  )
})
