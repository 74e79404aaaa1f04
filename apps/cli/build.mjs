#!/usr/bin/env node
// Bundles the CLI into dist/ so the npm-packed tarball runs with no dependencies installed:
// dist/azmi.mjs (the bin) plus lazily loaded chunks — the core's HTTP stack and the emulator are only
// loaded by the commands that need them, which keeps `azmi --help` fast.
import { readFileSync, rmSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"

const here = dirname(fileURLToPath(import.meta.url))
const pkg = JSON.parse(readFileSync(join(here, "package.json"), "utf8"))
rmSync(join(here, "dist"), { recursive: true, force: true })

await build({
  entryPoints: { azmi: join(here, "src/main.ts") },
  outdir: join(here, "dist"),
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
  logLevel: "warning",
})
