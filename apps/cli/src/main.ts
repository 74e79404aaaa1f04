/**
 * The `azmi` executable: real stdout/stderr/env, the core's live layer (loaded on first use so
 * `azmi --help` stays fast), and the opt-in file token cache.
 * @module
 */
import { runCli } from "./program.js"

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

await runCli(process.argv.slice(2), {
  makeLayer: async (options, extras) => (await import("./live.js")).makeLiveLayer(options, extras),
  stdout: { write: (s) => void process.stdout.write(s), isTTY: process.stdout.isTTY === true },
  stderr: { write: (s) => void process.stderr.write(s), isTTY: process.stderr.isTTY === true },
  env: process.env,
  setExitCode: (code) => {
    process.exitCode = code
  },
  loadEmulator: () => import("@azmi/emulator"),
  waitForShutdown: shutdown,
})
