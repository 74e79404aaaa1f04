/**
 * Hostile command lines through `azmi` in-process (the CLI's own `runCli` from its source, with the
 * core's real layers over a recording HttpClient): arbitrary values for every argument that carries a
 * user string, and arbitrary argv made of real flags and hostile words. The exit code is always one of
 * the documented ones and never 1 (an unexpected error), stderr never shows a stack trace, requests go
 * only to the configured endpoints, and a successful `group show` read exactly the group named.
 * A few spawned runs of the built bundle confirm the in-process results.
 */
import type { Azmi } from "@azmi/core"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import type { CliDeps } from "../../apps/cli/src/context.js"
import { runCli } from "../../apps/cli/src/program.js"
import {
  FAKE_ARM,
  FAKE_IMDS,
  FAKE_TOKEN,
  fakeCore,
  onlyIntendedHosts,
  type Recorded,
} from "./fake-upstream.js"
import { groupName, hostileString, resource, scope, subscriptionId } from "./hostile-arbitraries.js"
import { runAzmi } from "./reliability-support.js"

const cases: Record<string, number> = {}
const accepted: Record<string, number> = {}
const runs = (name: string, n: number) => {
  cases[name] = n
  return { numRuns: n }
}
afterAll(() => {
  const total = Object.values(cases).reduce((a, b) => a + b, 0)
  console.log(`hostile-cli: ${total} cases ${JSON.stringify(cases)}; exit 0 in ${JSON.stringify(accepted)}`)
})

interface CliRun {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
  readonly log: ReadonlyArray<Recorded>
}

/** One in-process `azmi` run over the recording core; `options` are what the CLI asked the core for. */
const azmi = async (argv: ReadonlyArray<string>): Promise<CliRun> => {
  const log: Array<Recorded> = []
  let stdout = ""
  let stderr = ""
  let code = 0
  const deps: CliDeps = {
    makeLayer: async (options: Azmi.AzmiOptions) => fakeCore(log, options),
    stdout: {
      write: (s) => {
        stdout += s
      },
      isTTY: false,
    },
    stderr: {
      write: (s) => {
        stderr += s
      },
      isTTY: false,
    },
    env: {},
    setExitCode: (c) => {
      code = c
    },
  }
  await runCli(argv, deps)
  return { code, stdout, stderr, log }
}

const documented = [0, 2, 3, 4, 5, 6]

const expectSane = (run: CliRun, name: string) => {
  expect(documented, `exit ${run.code}: ${run.stderr}`).toContain(run.code)
  expect(run.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/)
  expect(onlyIntendedHosts(run.log)).toBe(true)
  if (run.code === 0) accepted[name] = (accepted[name] ?? 0) + 1
  else expect(run.stderr).toMatch(/^(error: |ERROR: |Usage: )/m)
}

const segments = (r: Recorded) => r.url.pathname.split("/").slice(1).map(decodeURIComponent)

describe("hostile input × azmi CLI (in-process)", () => {
  it("group show/exists: a documented exit code; exit 0 means exactly that group was read", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("show", "exists"),
        fc.constantFrom("-g", "-n", "--name", "--resource-group"),
        groupName,
        subscriptionId,
        fc.constantFrom("json", "table", "tsv", "yaml", "none"),
        async (verb, flag, rg, sub, output) => {
          const run = await azmi(["group", verb, flag, rg, "--subscription", sub, "-o", output])
          expectSane(run, "group")
          const reads = run.log.filter((r) => r.url.origin === FAKE_ARM)
          if (run.code === 0 && rg.startsWith("-") && reads.length === 0) {
            // commander reads a dash-led value as an option (`-g -V` prints the version): no request made.
            expect(run.stdout).toMatch(/^(\d+\.\d+\.\d+|Usage: )/)
          } else if (run.code === 0) {
            expect(reads).toHaveLength(1)
            expect(segments(reads[0] as Recorded)).toEqual(["subscriptions", sub, "resourcegroups", rg])
          } else {
            expect(reads).toHaveLength(0)
          }
        },
      ),
      runs("group show/exists", 500),
    )
  })

  it("group list --tag/--top, role assignment list/create/delete --scope …: a documented exit code, hosts intended", async () => {
    const command = fc.oneof(
      fc
        .tuple(subscriptionId, hostileString, fc.oneof(fc.nat({ max: 2000 }).map(String), hostileString))
        .map(([sub, tag, top]) => ["group", "list", "--subscription", sub, "--tag", tag, "--top", top]),
      fc
        .tuple(scope, hostileString)
        .map(([s, p]) => ["role", "assignment", "list", "--scope", s, "--assignee-object-id", p]),
      fc
        .tuple(
          scope,
          fc.oneof(fc.uuid(), hostileString),
          fc.oneof(fc.constantFrom("Reader", "Owner"), hostileString),
        )
        .map(([s, p, r]) => [
          "role",
          "assignment",
          "create",
          "--scope",
          s,
          "--assignee-object-id",
          p,
          "--role",
          r,
        ]),
      fc
        .tuple(scope, hostileString)
        .map(([s, n]) => ["role", "assignment", "delete", "--scope", s, "--name", n]),
      fc
        .array(hostileString, { minLength: 1, maxLength: 3 })
        .map((ids) => ["role", "assignment", "delete", "--ids", ...ids]),
    )
    await fc.assert(
      fc.asyncProperty(command, async (argv) => expectSane(await azmi(argv), argv.slice(0, 3).join(" "))),
      runs("list/role commands", 500),
    )
  })

  it("token --resource/--scope and identity flags: a documented exit code; the token goes to stdout only", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("--resource", "--scope"),
        resource,
        fc.option(fc.tuple(fc.constantFrom("--client-id", "--object-id", "--mi-res-id"), hostileString)),
        fc.boolean(),
        async (flag, value, identity, decode) => {
          const argv = ["token", flag, value, ...(identity ?? []), ...(decode ? ["--decode"] : [])]
          const run = await azmi(argv)
          expectSane(run, "token")
          expect(run.stderr).not.toContain(FAKE_TOKEN)
          if (decode) expect(run.stdout).not.toContain(FAKE_TOKEN)
          const requests = run.log.filter((r) => r.url.origin === FAKE_IMDS)
          expect(requests.length).toBeLessThanOrEqual(1)
          if (run.code === 0 && identity !== null) {
            const param =
              identity[0] === "--client-id"
                ? "client_id"
                : identity[0] === "--object-id"
                  ? "object_id"
                  : "msi_res_id"
            expect((requests[0] as Recorded).url.searchParams.get(param)).toBe(identity[1])
          }
        },
      ),
      runs("token", 500),
    )
  })

  it("arbitrary argv of real words, flags and hostile strings: a documented exit code, never a stack trace", async () => {
    const word = fc.oneof(
      fc.constantFrom(
        "group",
        "show",
        "list",
        "exists",
        "token",
        "role",
        "assignment",
        "create",
        "delete",
        "instance",
        "completion",
        "bash",
        "-g",
        "--subscription",
        "--scope",
        "--resource",
        "--client-id",
        "--query",
        "-o",
        "json",
        "--timeout",
        "0",
        "-1",
        "1e9",
        "NaN",
        "--verbose",
        "--debug",
        "--",
        "-",
        "--help",
      ),
      hostileString,
    )
    await fc.assert(
      fc.asyncProperty(fc.array(word, { maxLength: 7 }), async (argv) => {
        expectSane(await azmi(argv), "argv")
      }),
      runs("arbitrary argv", 800),
    )
  })

  it("the built bundle agrees on a sample (spawned)", async () => {
    const samples: Array<[ReadonlyArray<string>, number]> = [
      [
        [
          "group",
          "show",
          "-g",
          "../../providers/x",
          "--subscription",
          "98f51385-2edc-4b79-bed9-7718de4cb861",
        ],
        2,
      ],
      [["group", "show", "-g", "DevTest", "--subscription", "not-a-guid"], 2],
      [["token", "--resource", "https://evil.example\r\nHost: x"], 2],
      [["role", "assignment", "list", "--scope", "/subscriptions/../x"], 2],
      [["--query", "[[["], 2],
      [["group", "list", "--top", "-5"], 2],
    ]
    for (const [argv, code] of samples) {
      const run = await runAzmi(argv, {
        AZMI_IMDS_ENDPOINT: "http://127.0.0.1:1",
        AZMI_ARM_ENDPOINT: "https://127.0.0.1:1",
        HOME: "/nonexistent",
      })
      expect(run.code, `${argv.join(" ")}: ${run.stderr}`).toBe(code)
      expect(run.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/)
      const inProcess = await azmi(argv)
      expect(inProcess.code).toBe(code)
    }
    cases.spawned = samples.length
  })
})
