#!/usr/bin/env node
// Bundles the CLI into dist/ so the npm-packed tarball runs with no dependencies installed:
// dist/azmi.mjs (the bin: the entry and the cached-token fast path, one file) plus lazily loaded chunks —
// commander and the CLI when the cache cannot answer, the core's HTTP stack and the emulator only for
// the commands that need them, which keeps a cached `azmi token` and `azmi --help` fast.
import { existsSync, readFileSync, renameSync, rmSync } from "node:fs"
import { dirname, join, relative, sep } from "node:path"
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

const common = {
  // Paths in the metafile are relative to this, wherever the build is started from.
  absWorkingDir: here,
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  minify: true,
  outExtension: { ".js": ".mjs" },
  legalComments: "none",
  define: { __AZMI_VERSION__: JSON.stringify(pkg.version) },
  // CommonJS dependencies call require(); give every ESM output file a real one.
  banner: {
    js: '#!/usr/bin/env node\nimport { createRequire as __azmiCreateRequire } from "node:module";const require = __azmiCreateRequire(import.meta.url);',
  },
  logLevel: "warning",
}

// The whole CLI (`src/cli.ts`) in chunks, each loaded when a command needs it.
const cli = await build({
  ...common,
  entryPoints: { cli: join(here, "src/cli.ts") },
  outdir: next,
  splitting: true,
  entryNames: "chunks/[name]-[hash]",
  chunkNames: "chunks/[name]-[hash]",
  plugins: [lazyCore],
  metafile: true,
})
// The chunk built for each module the CLI loads lazily (src/cli.ts itself, --query, -o yaml…).
const chunkOf = new Map(
  Object.entries(cli.metafile.outputs).flatMap(([output, o]) =>
    o.entryPoint === undefined ? [] : [[join(here, o.entryPoint), join(here, output)]],
  ),
)

// dist/azmi.mjs: the entry and the cached-token fast path in ONE file (no chunks to resolve, read and
// link before a cached token can be printed). Whatever it loads lazily — the whole CLI when the cache
// cannot answer, JMESPath for --query — is the CLI's own chunk for that module. The few small modules
// both use (rendering, output) are bundled into each: a copy in the output only.
const entry = await build({
  ...common,
  entryPoints: { azmi: join(here, "src/main.ts") },
  outdir: next,
  splitting: false,
  // No CommonJS in the fast path, so no require() to create (`node:module` is not loaded for it).
  banner: { js: "#!/usr/bin/env node" },
  metafile: true,
  plugins: [
    {
      name: "azmi-lazy-chunks",
      setup(b) {
        b.onResolve({ filter: /^\./ }, (args) => {
          if (args.kind !== "dynamic-import") return undefined
          const source = join(args.resolveDir, args.path.replace(/\.js$/, ".ts"))
          const chunk = chunkOf.get(source)
          if (chunk === undefined) throw new Error(`build: no chunk of the CLI for ${source}`)
          return { path: `./${relative(next, chunk).split(sep).join("/")}`, external: true }
        })
      },
    },
  ],
})

const commonJs = Object.keys(entry.metafile.inputs).filter(
  (input) => entry.metafile.inputs[input]?.format === "cjs",
)
if (commonJs.length > 0) throw new Error(`build: the fast path bundles CommonJS (${commonJs.join(", ")})`)

const old = join(here, "node_modules", ".cache", `azmi-dist-old-${process.pid}`)
if (existsSync(dist)) renameSync(dist, old)
renameSync(next, dist)
rmSync(old, { recursive: true, force: true })
