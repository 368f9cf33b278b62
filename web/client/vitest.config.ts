import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.{ts,tsx}"],
    // Each file starts its own hub processes; the machines have 2 cores, so one file at a time.
    fileParallelism: false,
    testTimeout: 45_000,
    hookTimeout: 60_000,
    reporters: ["default"],
  },
});
