/**
 * The `azmi` executable: real stdout/stderr/env; a cached `azmi token` is answered from the token cache
 * before anything else is loaded (`tokenFromCache.ts`), any other command line runs the whole CLI
 * (`cli.ts`). The build bundles this module with the fast path into one file, and the CLI in chunks.
 * @module
 */
import type { Shell } from "./context.js"
import { makeOutput } from "./output.js"
import { tokenFromCache } from "./tokenFromCache.js"

// A reader that stops early (`azmi group list | head -1`) closes the pipe: that is its choice, not a
// failure of azmi's, and its output is dropped quietly; any other write failure fails the command
// (`output.ts`). Nothing can be reported once stderr is gone.
process.stderr.on("error", () => {})
const shell: Shell = {
  stdout: makeOutput(process.stdout),
  stderr: { write: (s) => void process.stderr.write(s), isTTY: process.stderr.isTTY === true },
  env: process.env,
  setExitCode: (code) => {
    process.exitCode = code
  },
}
const argv = process.argv.slice(2)

if (!(await tokenFromCache(argv, shell))) await (await import("./cli.js")).main(argv, shell)
