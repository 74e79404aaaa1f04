import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // FC_SEED=<n> seeds every fast-check property (see the file).
    setupFiles: ["../../scripts/fast-check-seed.mjs"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})
