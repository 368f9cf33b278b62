// The built package as consumers (web/console) import it: the exports map, ESM and typings.
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

describe("package", () => {
  it("exposes the client and the React bindings from dist", async () => {
    for (const file of ["dist/index.js", "dist/index.d.ts", "dist/react/index.js", "dist/react/index.d.ts"]) {
      expect(existsSync(resolve(root, file)), `${file} (run npm run build)`).toBe(true);
    }
    const main = await import("@clinical-hub/client");
    expect(typeof main.createHubClient).toBe("function");
    expect(typeof main.SocketService.getInstance).toBe("function");
    expect(main.getSocketService()).toBe(main.SocketService.getInstance());
    expect(typeof main.localStorageStore).toBe("function");
    expect(main.HUB_EVENT_TYPES).toContain("patient_alert");
    expect(main.HUB_EVENT_TYPES).toContain("alert_acknowledged");
    const react = await import("@clinical-hub/client/react");
    for (const name of ["HubProvider", "AlertProvider", "useAlerts", "useSocketIO", "useHubEvent", "useHubClient"]) {
      expect(typeof (react as Record<string, unknown>)[name], name).toBe("function");
    }
    main.SocketService.resetInstance();
  });
});
