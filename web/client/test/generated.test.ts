// Drift check: src/generated/events.ts must be what `npm run gen` makes from the hub's
// current schemas, so a change to hub/events.py cannot silently leave the client's types stale.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { OUTPUT, generate, loadSchemas } from "../scripts/gen-events-lib.mjs";
import { HUB_EVENT_TYPES } from "../src/index.js";
import { TestHub } from "./hub.js";

describe("generated event types", () => {
  it("match the hub's JSON Schemas (run `npm run gen` in web/client if this fails)", async () => {
    const schemas = await loadSchemas();
    const fresh = await generate(schemas);
    expect(readFileSync(OUTPUT, "utf8")).toBe(fresh);
  });

  it("cover every event type of the hub, and the same schemas a running hub serves", async () => {
    const fromCli = await loadSchemas();
    for (const type of Object.keys(fromCli)) {
      expect(HUB_EVENT_TYPES).toContain(type);
    }
    const hub = await new TestHub().start();
    try {
      expect(await loadSchemas({ url: hub.url })).toEqual(fromCli);
    } finally {
      await hub.dispose();
    }
  });
});
