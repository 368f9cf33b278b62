import { defineConfig } from "vitest/config";

// `npm run e2e`: the built console in headless Chromium (Playwright, the Debian package's
// browser, nothing downloaded) against a `hub serve` the test starts itself. See e2e/README.md.
export default defineConfig({
  test: {
    environment: "node",
    include: ["e2e/**/*.e2e.test.ts"],
    // one hub and one browser at a time: the machines have 2 cores
    fileParallelism: false,
    // the steps share one hub and browser and run in order; a hub restart and a reconnect
    // backoff (up to 10 s) fit well inside these
    testTimeout: 120_000,
    // beforeAll may build the console (tsc + vite) before starting the hub and the browser
    hookTimeout: 300_000,
    reporters: ["verbose"],
  },
});
