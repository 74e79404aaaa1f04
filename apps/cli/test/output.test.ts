import { Writable } from "node:stream"
import { ImdsUnavailable } from "@azmi/core"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { makeOutput } from "../src/output.js"
import { azmi } from "./harness.js"

/** A stdout whose every write fails with `code` (as `> /dev/full` fails with ENOSPC). */
const failing = (code: string) => {
  const stream = new Writable({
    write(_chunk, _encoding, callback) {
      callback(Object.assign(new Error(`${code}: the write failed`), { code }))
    },
  })
  return makeOutput(stream)
}

describe("stdout that cannot be written", () => {
  it("makeOutput hands out the first failure once; EPIPE is no failure", async () => {
    const full = failing("ENOSPC")
    full.write("a")
    full.write("b")
    expect((await full.flush())?.code).toBe("ENOSPC")
    expect(await full.flush()).toBeUndefined()
    const gone = failing("EPIPE")
    gone.write("a")
    expect(await gone.flush()).toBeUndefined()
  })

  it("fails every kind of command with ERROR and exit 1: results, --help, --version, completion", async () => {
    const commands = [
      ["token", "-o", "tsv"],
      ["group", "list"],
      ["group", "show", "-o", "table"],
      ["instance", "-o", "yaml"],
      ["doctor"],
      ["--help"],
      ["group", "--help"],
      ["--version"],
      ["completion", "bash"],
    ]
    for (const argv of commands) {
      for (const code of ["ENOSPC", "EIO"]) {
        const r = await azmi(argv, {}, { stdout: failing(code) })
        expect([r.code, r.stderr], argv.join(" ")).toEqual([
          1,
          `ERROR: Could not write the output to stdout: ${code}: the write failed\n`,
        ])
      }
    }
  })

  it("a reader that went away (EPIPE) leaves the command's own exit code, quietly", async () => {
    const r = await azmi(["group", "list"], {}, { stdout: failing("EPIPE") })
    expect([r.code, r.stderr]).toEqual([0, ""])
  })

  it("a command that failed keeps its own exit code and still says the output was lost", async () => {
    const r = await azmi(
      ["doctor"],
      {
        compute: Effect.fail(
          new ImdsUnavailable({ endpoint: "http://127.0.0.1:1", reason: "ConnectionRefused" }),
        ),
      },
      { stdout: failing("EIO") },
    )
    expect(r.code).toBe(3)
    expect(r.stderr).toBe("ERROR: Could not write the output to stdout: EIO: the write failed\n")
  })
})
