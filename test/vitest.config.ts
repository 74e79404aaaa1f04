import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts"],
    // FC_SEED=<n> seeds every fast-check property (see the file).
    setupFiles: ["../scripts/fast-check-seed.mjs"],
    // One shared emulator whose CA the workers trust via NODE_EXTRA_CA_CERTS (see the file for why).
    globalSetup: ["./src/setup/emulator.global.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
