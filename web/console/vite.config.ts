import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// The hub serves the built console under /console (hub/api/console.py). In development
// `npm run dev` proxies the hub's HTTP API and Socket.IO to HUB_URL.
const hub = process.env.HUB_URL ?? "http://127.0.0.1:5000";

export default defineConfig({
  base: "/console/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: true,
    target: "es2022",
  },
  server: {
    proxy: {
      "/api": hub,
      "/socket.io": { target: hub, ws: true },
    },
  },
  test: {
    environment: "happy-dom",
    include: ["test/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
