/**
 * The `azmi` executable: real stdout/stderr/env and the core's services, each loaded only when a
 * command needs them (so `azmi --help` stays fast), and a cached `azmi token` answered before any of
 * them is loaded (`tokenFromCache.ts`).
 * @module
 */
import { setFlagsFromString } from "node:v8"
import type { Shell } from "./context.js"
import { makeOutput } from "./output.js"
import { tokenFromCache } from "./tokenFromCache.js"

// undici parses HTTP with a WebAssembly module; V8's background tier-up compile of it kept a finished
// `azmi` alive for another 100–500 ms. A CLI parses a few responses: the baseline compiler is plenty.
setFlagsFromString("--liftoff-only")

const shutdown = () =>
  new Promise<void>((resolve) => {
    const done = () => {
      process.off("SIGINT", done)
      process.off("SIGTERM", done)
      resolve()
    }
    process.once("SIGINT", done)
    process.once("SIGTERM", done)
  })

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

if (!(await tokenFromCache(argv, shell))) {
  const { runCli } = await import("./program.js")
  await runCli(argv, {
    ...shell,
    makeLayer: async (options, extras) =>
      extras.cache
        ? (await import("./cachedLive.js")).makeCachedLayer(options, process.env, () => import("./live.js"))
        : (await import("./live.js")).makeLiveLayer(options),
    loadEmulator: () => import("@azmi/emulator"),
    runEmulator: async (args) =>
      (await import("@azmi/emulator")).runCommand(args, {
        entry: [process.argv[1] ?? "", "emulator", "run"],
      }),
    waitForShutdown: shutdown,
  })
}
