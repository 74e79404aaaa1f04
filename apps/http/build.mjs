#!/usr/bin/env node
// Bundles the azmi-http bin (src/main.ts) into dist/main.js plus dist/bin-chunks/, replacing tsc's
// output of main.js; the rest of dist/ (the library: createApp, startServer, …) stays tsc's.
//
// Why: azmi-http runs once per VM or pod, so its idle memory counts (the budget: 1.5× a bare
// hono server). Measured on Node 20:
// - unbundled, Node evaluates every module of every barrel main.ts touches (`effect`,
//   `@effect/platform`, `@azmi/core`'s index): 155 MB RSS at idle;
// - one bundle keeps only what main.ts reaches (effect and the core declare no side effects), 93 MB —
//   but V8 compiles a script's top level eagerly, and one bundle is one top level for all its modules:
//   its parse zone peaks at ~20 MB of malloc, which glibc keeps as heap for the life of the process;
// - the same code in chunks of at most ~0.5 MB (each its own top level, compiled in turn, the zone
//   reused): 76 MB.
// esbuild makes a chunk of the modules reached by the same set of entry points, so each group below is
// an extra (virtual) entry point whose only job is to cut the bundle there; their own outputs are tiny
// re-export files nothing loads, deleted after the build.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"

const here = dirname(fileURLToPath(import.meta.url))
const dist = join(here, "dist")
const chunkDir = "bin-chunks"

/** Where the bundle is cut: each group of modules becomes one or more chunks of its own. */
const groups = {
  undici: 'export { Agent } from "undici"',
  "effect-runtime":
    'export * as Effect from "effect/Effect"; export * as Layer from "effect/Layer"; export * as ManagedRuntime from "effect/ManagedRuntime"',
  "effect-schema": 'export * as Schema from "effect/Schema"',
  "effect-stream": 'export * as Stream from "effect/Stream"',
  "effect-platform": 'export { HttpClient, HttpClientRequest } from "@effect/platform"',
  "effect-platform-node": 'export { NodeHttpClient } from "@effect/platform-node"',
  hono: 'export { Hono } from "hono"; export { serve } from "@hono/node-server"',
}

const cuts = {
  name: "azmi-http-cuts",
  setup(b) {
    b.onResolve({ filter: /^azmi-cut:/ }, (args) => ({
      path: args.path.slice("azmi-cut:".length),
      namespace: "azmi-cut",
    }))
    b.onLoad({ filter: /.*/, namespace: "azmi-cut" }, (args) => ({
      contents: groups[args.path],
      resolveDir: here,
    }))
  },
}

// Built next to dist/ and moved in: a running azmi-http (a test, a bench) may be loading dist/main.js
// right now and must never see it half-written.
const next = join(here, "node_modules", ".cache", `azmi-http-bin-${process.pid}`)
rmSync(next, { recursive: true, force: true })
await build({
  entryPoints: {
    main: join(here, "src", "main.ts"),
    ...Object.fromEntries(Object.keys(groups).map((name) => [`cut-${name}`, `azmi-cut:${name}`])),
  },
  outdir: next,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  minify: true,
  legalComments: "none",
  chunkNames: `${chunkDir}/[name]-[hash]`,
  // CommonJS dependencies (undici) call require(): give every ESM output file a real one.
  banner: {
    js: 'import { createRequire as __azmiCreateRequire } from "node:module";const require = __azmiCreateRequire(import.meta.url);',
  },
  plugins: [cuts],
  logLevel: "warning",
})
if (!existsSync(join(next, "main.js"))) throw new Error("esbuild wrote no bundle")

// Chunks are named by content: copy the new ones in, switch main.js over, then drop the old ones.
mkdirSync(join(dist, chunkDir), { recursive: true })
const fresh = new Set(readdirSync(join(next, chunkDir)))
for (const chunk of fresh) renameSync(join(next, chunkDir, chunk), join(dist, chunkDir, chunk))
renameSync(join(next, "main.js"), join(dist, "main.js"))
for (const chunk of readdirSync(join(dist, chunkDir)))
  if (!fresh.has(chunk)) rmSync(join(dist, chunkDir, chunk), { force: true })
rmSync(join(dist, "main.js.map"), { force: true })
rmSync(next, { recursive: true, force: true })
