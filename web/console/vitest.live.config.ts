import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// `npm run test:live`: renders the whole console against a real `hub serve` (HUB_URL) in
// happy-dom: sign-in, Socket.IO, rooms, HTTP loads and live updates. A check before the
// Playwright suite exists; see e2e/README.md.
export default defineConfig({
  base: "/console/",
  plugins: [react()],
  test: {
    environment: "happy-dom",
    include: ["e2e/**/*.live.test.tsx"],
    testTimeout: 30_000,
    environmentOptions: { happyDOM: { url: process.env.HUB_URL ?? "http://127.0.0.1:5000" } },
  },
});
