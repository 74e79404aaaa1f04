import { ArmRequestFailed, ComputeMetadata } from "@azmi/core"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import type { EmulatorModule } from "../src/context.js"
import { azmi, compute } from "./harness.js"

const ESC = "\u001b"
// biome-ignore lint/suspicious/noControlCharactersInRegex: the assertion is about control characters
const rawControl = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/

describe("azmi (program)", () => {
  it("--help prints usage on stdout with every command and exits 0", async () => {
    const r = await azmi(["--help"])
    expect(r.code).toBe(0)
    for (const c of ["token", "group", "role", "instance", "doctor", "emulator", "completion"]) {
      expect(r.stdout).toContain(c)
    }
    expect(r.stdout).toContain("--output <format>")
  })

  it("subcommand help shows the global options too", async () => {
    const r = await azmi(["group", "show", "--help"])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("Global Options:")
    expect(r.stdout).toContain("--query <jmespath>")
  })

  it("help teaches by example: the root and each command end with their own examples", async () => {
    const root = await azmi(["--help"])
    expect(root.stdout).toMatch(/Examples:\n {2}\$ azmi doctor/)
    const grant = await azmi(["role", "assignment", "create", "--help"])
    expect(grant.stdout).toContain("Examples:")
    expect(grant.stdout).toContain("azmi role assignment create --assignee-object-id <oid> --role Reader")
    const show = await azmi(["group", "show", "--help"])
    expect(show.stdout).toContain("$ azmi group show -g DevTest")
    expect(show.stdout).not.toContain("role assignment create")
  })

  it("unknown commands and options exit 2", async () => {
    expect((await azmi(["nope"])).code).toBe(2)
    expect((await azmi(["token", "--bogus"])).code).toBe(2)
    expect((await azmi(["group", "show", "--timeout", "-1"])).code).toBe(2)
  })

  it("global options reach the core's options and the cache switch", async () => {
    const r = await azmi([
      "token",
      "--imds-endpoint",
      "http://127.0.0.1:1",
      "--arm-endpoint",
      "https://127.0.0.1:2",
      "--timeout",
      "2.5",
      "--cache",
    ])
    // The endpoint flags reach the core as flags, so its errors and hints name them.
    expect(r.options[0]).toEqual({
      flags: { "--imds-endpoint": "http://127.0.0.1:1", "--arm-endpoint": "https://127.0.0.1:2" },
      deadlineMs: 2500,
    })
    expect(r.extras[0]).toEqual({ cache: true })
    expect((await azmi(["token"])).extras[0]).toEqual({ cache: false })
    expect((await azmi(["token"], {}, { env: { AZMI_TOKEN_CACHE: "1" } })).extras[0]).toEqual({ cache: true })
  })

  it("instance prints the compute metadata", async () => {
    const r = await azmi(["instance", "--query", "name", "-o", "tsv"])
    expect(r.stdout).toBe("myVM\n")
    expect(JSON.parse((await azmi(["instance"])).stdout).subscriptionId).toBe(compute.subscriptionId)
  })

  it("--debug shows the core's debug lines on stderr; default shows none; --only-show-errors hides warnings", async () => {
    const noisy = {
      compute: Effect.logDebug("IMDS GET /metadata/instance → 200").pipe(
        Effect.zipRight(Effect.logWarning("something to warn about")),
        Effect.as(compute),
      ),
    }
    const debug = await azmi(["instance", "--debug"], noisy)
    expect(debug.stderr).toContain("DEBUG: IMDS GET /metadata/instance → 200")
    const plain = await azmi(["instance"], noisy)
    expect(plain.stderr).toBe("WARN: something to warn about\n")
    expect((await azmi(["instance", "--only-show-errors"], noisy)).stderr).toBe("")
    expect((await azmi(["instance", "--verbose"], noisy)).stderr).not.toContain("DEBUG")
  })

  it("Azure's strings in diagnostics are escaped: ERROR/HINT, log lines and doctor's report stay one line each", async () => {
    const hostile = `denied${ESC}[2J\r\nHINT: run rm -rf ~\u009b31m\u202e`
    const error = await azmi(["group", "show"], {
      get: Effect.fail(new ArmRequestFailed({ status: 400, code: "Bad", armMessage: hostile, attempts: 1 })),
    })
    expect(error.code).toBe(2)
    expect(error.stderr.split("\n")).toHaveLength(2) // one ERROR line (no HINT: no request id) + the end
    expect(error.stderr).not.toMatch(rawControl)
    expect(error.stderr).toContain("denied\\u001b[2J\\r\\nHINT: run rm -rf ~\\u009b31m\\u202e")

    const logged = await azmi(["instance"], {
      compute: Effect.logWarning(hostile).pipe(Effect.annotateLogs("why", hostile), Effect.as(compute)),
    })
    expect(logged.stderr.split("\n")).toHaveLength(2)
    expect(logged.stderr).not.toMatch(rawControl)

    const vm = new ComputeMetadata({ ...compute, name: hostile })
    const doctor = await azmi(["doctor"], { compute: Effect.succeed(vm) })
    expect(doctor.stdout.trimEnd().split("\n")).toHaveLength(6)
    expect(doctor.stdout).not.toMatch(rawControl)
  })

  it("--timeout bounds the whole command, not only each request: a step that never ends exits 6", async () => {
    const r = await azmi(["instance", "--timeout", "0.05"], { compute: Effect.never })
    expect(r.code).toBe(6)
    expect(r.stderr).toBe(
      "ERROR: The command did not complete within 50 ms.\n" +
        "HINT: Raise --timeout (now 0.05 s) if the endpoints are just slow.\n",
    )
  })

  it("a defect (bug) exits 1 with one line, and the stack only with --debug", async () => {
    const broken = { compute: Effect.die(new Error("boom")) }
    const r = await azmi(["instance"], broken)
    expect(r.code).toBe(1)
    expect(r.stderr).toBe("ERROR: boom\n")
    expect((await azmi(["instance", "--debug"], broken)).stderr).toMatch(/ERROR: boom\n[\s\S]*at /)
  })

  it("a layer that cannot be built (core not configured) is reported, not thrown", async () => {
    // The harness's makeLayer never throws; an empty argument list shows help on stderr instead.
    const r = await azmi([])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("Usage: azmi")
  })

  it("emulator --source with a source the emulator does not know exits 2 with the emulator's message", async () => {
    const r = await azmi(
      ["emulator", "--source", "mainframe"],
      {},
      {
        loadEmulator: () => import("@azmi/emulator"),
        waitForShutdown: () => new Promise(() => {}),
      },
    )
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(
      'source: must be one of imds, app-service, arc, service-fabric, cloud-shell, azure-ml, workload-identity (got "mainframe")',
    )
  })

  it("emulator prints export lines, waits for shutdown, then closes", async () => {
    let closed = false
    let release: () => void = () => {}
    const shutdown = new Promise<void>((resolve) => {
      release = resolve
    })
    const loadEmulator = async () =>
      ({
        startEmulator: async (options: unknown) => {
          expect(options).toEqual({
            source: "app-service",
            host: "127.0.0.1",
            imdsPort: 5000,
            armPort: 5001,
            armTls: true,
          })
          return {
            env: {
              IDENTITY_ENDPOINT: "http://127.0.0.1:5002/msi/token",
              IDENTITY_HEADER: "h",
              AZMI_ARM_ENDPOINT: "https://127.0.0.1:5001",
              NODE_EXTRA_CA_CERTS: "/tmp/ca dir/ca.pem",
            },
            host: { source: "app-service", name: "myApp", principalId: "p", clientId: "c" },
            imdsUrl: "http://127.0.0.1:5000",
            armUrl: "https://127.0.0.1:5001",
            loginUrl: "https://127.0.0.1:5001",
            controlUrl: "http://127.0.0.1:5000",
            caCertPath: "/tmp/ca dir/ca.pem",
            tenantId: "t",
            subscriptionId: "s",
            vm: { name: "myVM", resourceGroup: "DevTest" },
            admin: { tenantId: "t", clientId: "c", clientSecret: "sec", objectId: "o" },
            close: async () => {
              closed = true
            },
          }
        },
      }) as unknown as EmulatorModule
    const running = azmi(
      ["emulator", "--source", "app-service", "--port", "5000"],
      {},
      { loadEmulator, waitForShutdown: () => shutdown },
    )
    await new Promise((r) => setTimeout(r, 20))
    expect(closed).toBe(false)
    release()
    const r = await running
    expect(closed).toBe(true)
    expect(r.code).toBe(0)
    // The emulator's env, exported as it gave it (the CLI passes --source through and adds nothing).
    expect(r.stdout.split("\n").slice(0, 4)).toEqual([
      "export IDENTITY_ENDPOINT=http://127.0.0.1:5002/msi/token",
      "export IDENTITY_HEADER=h",
      "export AZMI_ARM_ENDPOINT=https://127.0.0.1:5001",
      "export NODE_EXTRA_CA_CERTS='/tmp/ca dir/ca.pem'",
    ])
  })

  it("emulator run hands everything after -- to the emulator's run, untouched, and exits with its status", async () => {
    const seen: Array<ReadonlyArray<string>> = []
    const runEmulator = async (args: ReadonlyArray<string>) => {
      seen.push(args)
      return 42
    }
    const r = await azmi(
      ["emulator", "run", "--no-imds", "--", "azmi", "group", "show", "-o", "table", "--verbose"],
      {},
      { runEmulator },
    )
    expect(r.code).toBe(42)
    expect(seen).toEqual([["--no-imds", "--", "azmi", "group", "show", "-o", "table", "--verbose"]])
    // The program's own options before `emulator` stay the program's.
    const s = await azmi(["--verbose", "emulator", "run", "--", "curl", "-h"], {}, { runEmulator })
    expect(s.code).toBe(42)
    expect(seen[1]).toEqual(["curl", "-h"])
    // `run --help` is the emulator's (azmi-emulator run --help), not commander's.
    await azmi(["emulator", "run", "--help"], {}, { runEmulator })
    expect(seen[2]).toEqual(["--help"])
  })

  it("emulator that cannot start: the emulator's startFailure decides the exit code and message", async () => {
    const refused = new Error("state file is in use")
    const loadEmulator = async () =>
      ({
        startEmulator: async () => {
          throw refused
        },
        startFailure: (error: unknown) => {
          expect(error).toBe(refused)
          return { exitCode: 2, message: "State file s.json is in use by another emulator (pid 7)." }
        },
      }) as unknown as EmulatorModule
    const r = await azmi(["emulator"], {}, { loadEmulator, waitForShutdown: () => new Promise(() => {}) })
    expect(r.code).toBe(2)
    expect(r.stdout).toBe("")
    expect(r.stderr).toBe("ERROR: State file s.json is in use by another emulator (pid 7).\n")
  })

  it("emulator run: --source, --world and --state after `run` are run's, though `azmi emulator` has its namesakes", async () => {
    const seen: Array<ReadonlyArray<string>> = []
    const runEmulator = async (args: ReadonlyArray<string>) => {
      seen.push(args)
      return 0
    }
    const argv = ["--source", "arc", "--world", "w.json", "--state=s.json", "--", "sh", "-c", "true"]
    const r = await azmi(["emulator", "run", ...argv], {}, { runEmulator })
    expect(r.code).toBe(0)
    expect(seen).toEqual([["--source=arc", "--state=s.json", "--world=w.json", "sh", "-c", "true"]])
    // One run does not take (`azmi emulator`'s own) reaches it too, which refuses it.
    await azmi(
      ["emulator", "run", "--no-tls", "--host", "0.0.0.0", "--no-imds", "--", "sh"],
      {},
      { runEmulator },
    )
    expect(seen[1]).toEqual(["--host=0.0.0.0", "--no-tls", "--no-imds", "--", "sh"])
  })

  it("completion scripts for bash, zsh and fish name the commands; another shell exits 2", async () => {
    const bash = await azmi(["completion", "bash"])
    expect(bash.code).toBe(0)
    expect(bash.stdout).toContain("complete -F _azmi azmi")
    expect(bash.stdout).toContain('"group") words="show exists list')
    expect(bash.stdout).toContain('"role assignment") words="create list delete')
    expect((await azmi(["completion", "zsh"])).stdout).toContain("bashcompinit")
    const fish = await azmi(["completion", "fish"])
    expect(fish.stdout).toContain(
      "complete -c azmi -n '__fish_seen_subcommand_from group' -a 'show exists list'",
    )
    expect(fish.stdout).toContain("-l output -s o -r -a 'json jsonc table tsv yaml none'")
    expect((await azmi(["completion", "powershell"])).code).toBe(2)
  })
})
