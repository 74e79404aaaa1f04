/**
 * The whole `azmi` command line in this process: commander's program over the real core services,
 * each loaded only when a command needs it (so `azmi --help` stays fast). `main.ts` loads this module
 * only when a cached token could not answer (`tokenFromCache.ts`).
 * @module
 */
import { setFlagsFromString } from "node:v8"
import type { Shell } from "./context.js"
import { runCli } from "./program.js"

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

/** Runs `argv` (without node and the script) in `shell`. */
export const main = (argv: ReadonlyArray<string>, shell: Shell): Promise<void> =>
  runCli(argv, {
    ...shell,
    makeLayer: async (options, extras) =>
      extras.cache
        ? (await import("./cachedLive.js")).makeCachedLayer(options, shell.env, () => import("./live.js"))
        : (await import("./live.js")).makeLiveLayer(options),
    loadEmulator: () => import("@azmi/emulator"),
    runEmulator: async (args) =>
      (await import("@azmi/emulator")).runCommand(args, {
        entry: [process.argv[1] ?? "", "emulator", "run"],
      }),
    waitForShutdown: shutdown,
  })
