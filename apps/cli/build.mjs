#!/usr/bin/env node
// Bundles the CLI into dist/ so the npm-packed tarball runs with no dependencies installed:
// dist/azmi.mjs (the bin) plus lazily loaded chunks — the core's HTTP stack and the emulator are only
// loaded by the commands that need them, which keeps `azmi --help` fast.
import { existsSync, readFileSync, renameSync, rmSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"

const here0 = dirname(fileURLToPath(import.meta.url))
const coreDist = join(here0, "..", "..", "packages", "core", "dist")

// The core's index re-exports everything, including `Azmi` and through it the HTTP stack (undici,
// platform-node). esbuild assigns modules to chunks by reachability, so a lazy chunk only stays lazy if
// the index the commands import does not reach it: commands get a "contract" index (errors, service
// tags, the file cache), and `src/live.ts` — the one module that uses `Azmi` — gets Azmi.js directly.
const contractModules = [
  "./AzureHost.js",
  "./Config.js",
  "./Errors.js",
  "./FileTokenCache.js",
  "./IdentitySelector.js",
  "./InstanceMetadata.js",
  "./ResourceGroups.js",
  "./RoleAssignments.js",
  "./TokenProvider.js",
  "./WorkloadIdentityConfig.js",
]
const lazyCore = {
  name: "azmi-lazy-core",
  setup(b) {
    b.onResolve({ filter: /^@azmi\/core$/ }, (args) => ({
      path: args.importer.endsWith(join("src", "live.ts")) ? "live" : "contract",
      namespace: "azmi-core",
    }))
    b.onLoad({ filter: /.*/, namespace: "azmi-core" }, (args) => {
      if (args.path === "live") {
        return { contents: 'export * as Azmi from "./Azmi.js"', resolveDir: coreDist }
      }
      const index = readFileSync(join(coreDist, "index.js"), "utf8")
      const statements = index.split(/;\s*\n/).filter((st) => {
        const from = /from\s+"([^"]+)"/.exec(st)?.[1]
        return from !== undefined && contractModules.includes(from)
      })
      return {
        contents: `${statements.map((st) => st.replace(/^(\s*\/\/.*\n)+/, "")).join(";\n")};\n`,
        resolveDir: coreDist,
      }
    })
  },
}

const here = dirname(fileURLToPath(import.meta.url))
const pkg = JSON.parse(readFileSync(join(here, "package.json"), "utf8"))
// Build next to dist/ and swap it in with renames: other processes (tests, other builds) may be running
// the CLI from dist/ right now, and must never see it missing or half-written.
const dist = join(here, "dist")
const next = join(here, "node_modules", ".cache", `azmi-dist-next-${process.pid}`)
rmSync(next, { recursive: true, force: true })

await build({
  entryPoints: { azmi: join(here, "src/main.ts") },
  outdir: next,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  minify: true,
  outExtension: { ".js": ".mjs" },
  chunkNames: "chunks/[name]-[hash]",
  legalComments: "none",
  define: { __AZMI_VERSION__: JSON.stringify(pkg.version) },
  // CommonJS dependencies call require(); give every ESM output file a real one.
  banner: {
    js: '#!/usr/bin/env node\nimport { createRequire as __azmiCreateRequire } from "node:module";const require = __azmiCreateRequire(import.meta.url);',
  },
  plugins: [lazyCore],
  logLevel: "warning",
})

const old = join(here, "node_modules", ".cache", `azmi-dist-old-${process.pid}`)
if (existsSync(dist)) renameSync(dist, old)
renameSync(next, dist)
rmSync(old, { recursive: true, force: true })
