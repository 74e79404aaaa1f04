/**
 * `azmi instance`, `azmi doctor`, `azmi emulator`, `azmi completion` and the global behaviour (help,
 * usage errors) of the built CLI, end to end.
 */
import { spawn, spawnSync } from "node:child_process"
import { closeSync, openSync } from "node:fs"
import { createInterface } from "node:readline"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { adminEnv, azmi, azmiBin, type CliEnv, expectNoLeaks, runs, startCliEnv } from "./cli-support.js"

let cli: CliEnv
beforeAll(async () => {
  cli = await startCliEnv()
})
afterAll(async () => {
  expectNoLeaks(cli.emu.admin.clientSecret)
  await cli.close()
})

describe("azmi (e2e)", () => {
  it("--help lists every command, exit 0; an unknown command exits 2", async () => {
    const help = await azmi(cli, ["--help"])
    expect(help.code).toBe(0)
    for (const c of ["token", "group", "role", "instance", "doctor", "emulator", "completion"]) {
      expect(help.stdout).toContain(c)
    }
    const bad = await azmi(cli, ["frobnicate"])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("unknown command")
  })

  it("a reader that closes the pipe early (| head -1) ends azmi quietly with its own exit code", async () => {
    const closedEarly = (args: ReadonlyArray<string>) =>
      new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [azmiBin, ...args], {
          env: cli.env,
          stdio: ["ignore", "pipe", "pipe"],
        })
        // Close the pipe before azmi writes: every write it makes meets a reader that is gone.
        child.stdout.destroy()
        let stderr = ""
        child.stderr.setEncoding("utf8").on("data", (d: string) => {
          stderr += d
        })
        child.once("error", reject)
        child.once("close", (code) => resolve({ code, stderr }))
      })
    for (const args of [["--help"], ["completion", "bash"], ["instance"]]) {
      const r = await closedEarly(args)
      expect(r.stderr, args.join(" ")).toBe("")
      expect(r.code, args.join(" ")).toBe(0)
    }
  })

  it("output that cannot be written (> /dev/full) is ERROR and exit 1 for every command and format", async () => {
    const full = openSync("/dev/full", "w")
    try {
      const commands = [
        ["token", "-o", "tsv"],
        ["token", "-o", "json"],
        ["token", "--decode", "-o", "yaml"],
        ["instance", "-o", "table"],
        ["instance", "-o", "jsonc"],
        ["doctor"],
        ["--help"],
        ["token", "--help"],
        ["--version"],
        ["completion", "fish"],
      ]
      for (const args of commands) {
        const r = await azmi(cli, args, { stdoutFd: full, printsToken: true })
        expect([r.code, r.stderr.split("\n")[0]], args.join(" ")).toEqual([
          args[0] === "doctor" ? 4 : 1, // doctor's own failure (no read access yet) is kept
          "ERROR: Could not write the output to stdout: ENOSPC: no space left on device, write",
        ])
      }
      // The emulator stops at once when its export lines cannot be written (nobody could use it).
      const emulator = await azmi(cli, ["emulator"], { stdoutFd: full, printsSecret: true })
      expect([emulator.code, emulator.stderr]).toEqual([
        1,
        "ERROR: Could not write the output to stdout: ENOSPC: no space left on device, write\n",
      ])
    } finally {
      closeSync(full)
    }
  })

  it("instance prints the VM's compute metadata", async () => {
    const r = await azmi(cli, ["instance"])
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    const c = JSON.parse(r.stdout)
    expect(c).toMatchObject({
      name: "myVM",
      resourceGroupName: "DevTest",
      subscriptionId: cli.emu.subscriptionId,
    })
  })

  it("doctor: ✖ read access with the exact fix, exit 4; after the grant all ✔, exit 0", async () => {
    const before = await azmi(cli, ["doctor"])
    expect(before.code).toBe(4)
    const oid = cli.emu.vm.systemAssigned?.principalId ?? ""
    expect(before.stdout).toContain("✔ IMDS reachable")
    expect(before.stdout).toContain("✔ Managed identity present")
    expect(before.stdout).toMatch(
      new RegExp(`✔ Token obtainable: aud https://management.azure.com/, oid ${oid}`),
    )
    expect(before.stdout).toContain("✔ ARM reachable")
    expect(before.stdout).toContain("✖ Read access to resource group DevTest")
    const fix = /fix: .* must run: (azmi role assignment create .*)$/m.exec(before.stdout)?.[1]
    expect(fix).toBeDefined()
    // Run the printed fix (as the admin): it must be a working command.
    const granted = await azmi(cli, (fix ?? "").split(" ").slice(1), { env: adminEnv(cli.emu) })
    expect(granted.code).toBe(0)
    const after = await azmi(cli, ["doctor"])
    expect(after.code).toBe(0)
    expect(after.stdout.match(/✔/g)).toHaveLength(6) // the host, then the five steps
    expect(after.stdout).not.toContain("✖")
  })

  it("doctor with no IMDS stops at the first check after the host, exit 3", async () => {
    const r = await azmi(cli, ["doctor", "--imds-endpoint", "http://127.0.0.1:9"])
    expect(r.code).toBe(3)
    const [host, first] = r.stdout.trim().split("\n")
    expect(host).toBe("✔ Host: IMDS at http://127.0.0.1:9, decided by --imds-endpoint")
    expect(first).toMatch(/^✖ IMDS reachable/)
    expect(r.stdout).toContain("fix: ")
  })

  it.runIf(spawnSync("script", ["--version"]).status === 0)(
    "on a terminal, a retry wait shows a progress line on stderr; redirected stderr shows none",
    async () => {
      const quote = (v: string) => `'${v.replace(/'/g, "'\\''")}'`
      const envs = Object.entries(cli.env)
        .map(([k, v]) => `${k}=${quote(v)}`)
        .join(" ")
      const command = `env -i ${envs} ${quote(process.execPath)} ${quote(azmiBin)} token -o none`
      cli.emu.faults.inject({ target: "imds-token", status: 429, retryAfter: 1, count: 1 })
      // `script` gives the CLI a pseudo-terminal, as an interactive shell would.
      const tty = await new Promise<string>((resolve) => {
        const child = spawn("script", ["-qc", command, "/dev/null"], { stdio: ["ignore", "pipe", "pipe"] })
        let out = ""
        child.stdout.on("data", (d) => {
          out += String(d)
        })
        child.on("close", () => resolve(out))
      })
      const erase = `\r${String.fromCharCode(27)}[K`
      const line = tty.split(erase).find((frame) => frame.startsWith("… "))
      expect(line).toMatch(/429.*next attempt in 1\.0 s, waited 0\.0 s so far/)
      expect(tty.lastIndexOf(erase)).toBeGreaterThan(tty.indexOf(line ?? "")) // erased before exit
      cli.emu.faults.inject({ target: "imds-token", status: 429, retryAfter: 1, count: 1 })
      const piped = await azmi(cli, ["token", "-o", "none"])
      expect(piped.code).toBe(0)
      expect(piped.stderr).toBe("")
    },
  )

  it("completion bash is valid bash that completes subcommands", async () => {
    const r = await azmi(cli, ["completion", "bash"])
    expect(r.code).toBe(0)
    const out = await new Promise<string>((resolve) => {
      const bash = spawn("bash", [
        "-c",
        `${r.stdout}\nCOMP_WORDS=(azmi group s); COMP_CWORD=2; _azmi; echo "\${COMPREPLY[@]}"`,
      ])
      let text = ""
      bash.stdout.on("data", (d) => {
        text += String(d)
      })
      bash.on("close", () => resolve(text))
    })
    expect(out.trim()).toBe("show")
  })

  it("emulator prints the export lines that point azmi at it, serves them, and stops on SIGTERM", async () => {
    const child = spawn(process.execPath, [azmiBin, "emulator"], {
      env: { PATH: process.env.PATH ?? "", HOME: cli.home },
      stdio: ["ignore", "pipe", "pipe"],
    })
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve))
    try {
      const exports: Record<string, string> = {}
      const lines = createInterface({ input: child.stdout })
      let stdout = ""
      for await (const line of lines) {
        stdout += `${line}\n`
        const m = /^export (\w+)=(.*)$/.exec(line)
        if (m?.[1] !== undefined && m[2] !== undefined) exports[m[1]] = m[2]
        if (line.startsWith("# AZURE_TENANT_ID")) break
      }
      runs.push({ args: ["emulator"], code: 0, stdout, stderr: "", printsToken: false, printsSecret: true })
      // The emulator's env for an Azure VM (the default --source): IMDS for azmi and the SDKs, ARM, the CA.
      expect(Object.keys(exports).sort()).toEqual([
        "AZMI_ARM_ENDPOINT",
        "AZMI_IMDS_ENDPOINT",
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
        "NODE_EXTRA_CA_CERTS",
        "REQUESTS_CA_BUNDLE",
        "SSL_CERT_FILE",
      ])
      const r = await azmi(cli, ["token", "--decode", "--query", "claims.aud", "-o", "tsv"], { env: exports })
      expect(r.stdout).toBe("https://management.azure.com/\n")
    } finally {
      child.kill("SIGTERM")
    }
    expect(await exited).toBe(0)
  })
})
