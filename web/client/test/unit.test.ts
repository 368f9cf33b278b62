// The pure parts, without a hub: routing, the id memory, the replay gate and the stores.
import { describe, expect, it } from "vitest";
import { RecentIds } from "../src/dedupe.js";
import type { HubEvent } from "../src/events.js";
import { Positions, ReplayGate, type ResumeInfo } from "../src/resume.js";
import { eventRooms } from "../src/rooms.js";
import { localStorageStore, memoryStore } from "../src/store.js";

const envelope = { version: 1, timestamp: "", received_at: "", source: "t" };

function ev(seq: number, extra: Record<string, unknown> = {}): HubEvent {
  return {
    ...envelope,
    id: `e${seq}`,
    seq,
    type: "hospital_alert",
    hospital_id: "H",
    alert_type: "system",
    ...extra,
  } as HubEvent;
}

describe("eventRooms", () => {
  it("follows docs/events.md", () => {
    expect(eventRooms({ type: "patient_alert", patient_id: "P" } as never)).toEqual(["patient_P"]);
    expect(eventRooms({ type: "risk_updated", patient_id: "P" } as never)).toEqual(["patient_P"]);
    expect(eventRooms({ type: "hospital_alert", hospital_id: "H" } as never)).toEqual(["hospital_H"]);
    expect(eventRooms({ type: "staff_availability_changed", hospital_id: "H" } as never)).toEqual([
      "hospital_H",
    ]);
    expect(
      eventRooms({ type: "bed_status_changed", hospital_id: "H", bed_info: { patient_id: "P" } } as never),
    ).toEqual(["hospital_H", "patient_P"]);
    expect(
      eventRooms({ type: "bed_status_changed", hospital_id: "H", bed_info: { patient_id: null } } as never),
    ).toEqual(["hospital_H"]);
    expect(eventRooms({ type: "triage_updated", triage_id: "T", patient_id: "P" } as never)).toEqual([
      "triage_T",
      "patient_P",
      "triage_queue",
    ]);
    expect(
      eventRooms({ type: "alert_acknowledged", patient_id: "P", hospital_id: "H" } as never),
    ).toEqual(["patient_P", "hospital_H"]);
    expect(eventRooms({ type: "alert_escalated", patient_id: null, hospital_id: "H" } as never)).toEqual([
      "hospital_H",
    ]);
    expect(eventRooms({ type: "something_new" })).toEqual([]);
  });
});

describe("RecentIds", () => {
  it("is bounded and evicts the least recently seen id", () => {
    const ids = new RecentIds(3);
    expect(ids.add("a")).toBe(true);
    expect(ids.add("b")).toBe(true);
    expect(ids.add("c")).toBe(true);
    expect(ids.add("a")).toBe(false); // refreshes a
    expect(ids.add("d")).toBe(true); // evicts b
    expect(ids.size).toBe(3);
    expect(ids.has("b")).toBe(false);
    expect(ids.has("a")).toBe(true);
  });
});

describe("ReplayGate", () => {
  function gate() {
    const delivered: number[] = [];
    const committed: [string, number][] = [];
    const resumed: ResumeInfo[] = [];
    const g = new ReplayGate(
      (e) => delivered.push(e.seq),
      (room, seq) => committed.push([room, seq]),
      (r) => resumed.push(r),
    );
    return { g, delivered, committed, resumed };
  }

  it("passes events straight through when no replay is pending", () => {
    const { g, delivered, committed } = gate();
    g.offer(ev(1));
    g.position("hospital_H", 1);
    expect(delivered).toEqual([1]);
    expect(committed).toEqual([["hospital_H", 1]]);
  });

  it("holds everything until the last replaying join, then sorts, commits and reports", () => {
    const { g, delivered, committed, resumed } = gate();
    g.open();
    g.open();
    g.offer(ev(9)); // live through another room
    g.offer(ev(3)); // replay of room A
    g.position("A", 9);
    g.close({ room: "A", missed: 1, truncated: false });
    g.offer(ev(5)); // replay of room B
    expect(delivered).toEqual([]);
    g.position("B", 9);
    g.close({ room: "B", missed: 1, truncated: false });
    expect(delivered).toEqual([3, 5, 9]);
    expect(committed).toEqual([
      ["A", 9],
      ["B", 9],
    ]);
    expect(resumed.map((r) => r.room)).toEqual(["A", "B"]);
    expect(g.holding).toBe(false);
  });

  it("drops what it held when the connection goes, so nothing is committed past it", () => {
    const { g, delivered, committed } = gate();
    g.open();
    g.offer(ev(4));
    g.position("A", 4);
    g.reset();
    g.close(); // a late acknowledgement of the dead connection changes nothing
    expect(delivered).toEqual([]);
    expect(committed).toEqual([]);
  });
});

describe("stores", () => {
  it("Positions only move forward unless reset", () => {
    const positions = new Positions(memoryStore());
    positions.advance("A", 5);
    positions.advance("A", 3);
    expect(positions.get("A")).toBe(5);
    positions.reset("A", 2);
    expect(positions.get("A")).toBe(2);
    positions.forget("A");
    expect(positions.get("A")).toBeUndefined();
  });

  it("localStorageStore ignores garbage and survives a throwing storage", () => {
    const data = new Map<string, string>([["p:A", "12"], ["p:B", "oops"]]);
    const store = localStorageStore("p:", {
      getItem: (k) => data.get(k) ?? null,
      setItem: (k, v) => void data.set(k, v),
      removeItem: (k) => void data.delete(k),
    });
    expect(store.get("A")).toBe(12);
    expect(store.get("B")).toBeUndefined();
    store.set("C", 7);
    expect(data.get("p:C")).toBe("7");
    const broken = localStorageStore("p:", {
      getItem: () => {
        throw new Error("denied");
      },
      setItem: () => {
        throw new Error("quota");
      },
      removeItem: () => {
        throw new Error("denied");
      },
    });
    expect(broken.get("A")).toBeUndefined();
    expect(() => broken.set("A", 1)).not.toThrow();
  });
});
