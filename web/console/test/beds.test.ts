import { describe, expect, it } from "vitest";
import type { Bed } from "../src/lib/api";
import {
  applyBedEvent,
  applyCapacityAlert,
  bedStatusClass,
  formatPercent,
  groupByUnit,
  NO_UNIT,
  occupancy,
} from "../src/lib/beds";

const bed = (bed_id: string, status: string, unit: string | null, seq = 1, patient_id: string | null = null): Bed => ({
  bed_id,
  status,
  unit,
  seq,
  patient_id,
  hospital_id: "H1",
});

describe("bed board", () => {
  it("groups beds by unit in natural order, unit-less beds last", () => {
    const groups = groupByUnit([
      bed("10", "occupied", "10A"),
      bed("2", "available", "4E"),
      bed("x", "available", null),
      bed("10", "available", "4E"),
      bed("1", "occupied", "4E"),
    ]);
    expect(groups.map((g) => g.unit)).toEqual(["4E", "10A", NO_UNIT]);
    expect(groups[0]!.beds.map((b) => b.bed_id)).toEqual(["1", "2", "10"]);
  });

  it("counts occupancy as the capacity plugin does: closed beds are not capacity", () => {
    const beds = [
      bed("1", "occupied", "4E"),
      bed("2", "Occupied", "4E"),
      bed("3", "cleaning", "4E"),
      bed("4", "closed", "4E"),
    ];
    expect(occupancy(beds)).toEqual({ occupied: 2, countable: 3, fraction: 2 / 3 });
    expect(occupancy([bed("1", "closed", null)]).fraction).toBeNull();
    expect(formatPercent(2 / 3)).toBe("66%");
    expect(formatPercent(null)).toBe("-");
  });

  it("colours statuses by class, whatever their case", () => {
    expect(bedStatusClass("OCCUPIED")).toBe("occupied");
    expect(bedStatusClass("available")).toBe("available");
    expect(bedStatusClass("contaminated")).toBe("blocked");
    expect(bedStatusClass("closed")).toBe("closed");
    expect(bedStatusClass("something new")).toBe("other");
    expect(bedStatusClass(undefined)).toBe("other");
  });

  it("applies live bed events, never rolling a bed back to an older state", () => {
    const board = [bed("1", "available", "4E", 10)];
    const occupied = applyBedEvent(board, {
      hospital_id: "H1",
      bed_info: { bed_id: "1", status: "occupied", unit: "4E", patient_id: "P1" },
      seq: 12,
      timestamp: "2030-01-01T10:00:00Z",
    });
    expect(occupied[0]).toMatchObject({ status: "occupied", patient_id: "P1", seq: 12 });
    const stale = applyBedEvent(occupied, {
      hospital_id: "H1",
      bed_info: { bed_id: "1", status: "cleaning" },
      seq: 11,
      timestamp: "2030-01-01T09:59:00Z",
    });
    expect(stale).toBe(occupied);
    const added = applyBedEvent(occupied, {
      hospital_id: "H1",
      bed_info: { bed_id: "2", status: "available", unit: "4E" },
      seq: 13,
      timestamp: "2030-01-01T10:01:00Z",
    });
    expect(added.map((b) => b.bed_id)).toEqual(["1", "2"]);
  });

  it("keeps the latest capacity level per unit and for the hospital", () => {
    const unitWarning = {
      alert_type: "capacity",
      alert_data: { level: "warning", scope: "unit", unit: "4E", occupancy: 0.92, message: "Unit 4E at 92%" },
      seq: 5,
      timestamp: "2030-01-01T10:00:00Z",
    };
    let map = applyCapacityAlert({}, unitWarning);
    expect(map["4E"]).toMatchObject({ level: "warning", occupancy: 0.92 });
    map = applyCapacityAlert(map, {
      alert_type: "capacity",
      alert_data: { level: "critical", scope: "hospital", occupancy: 0.96 },
      seq: 6,
      timestamp: "2030-01-01T10:01:00Z",
    });
    expect(map.hospital!.level).toBe("critical");
    map = applyCapacityAlert(map, {
      ...unitWarning,
      alert_data: { ...unitWarning.alert_data, level: "cleared" },
      seq: 7,
    });
    expect(map["4E"]!.level).toBe("none");
    // older news and other alert types change nothing
    expect(applyCapacityAlert(map, { ...unitWarning, seq: 4 })).toBe(map);
    expect(applyCapacityAlert(map, { alert_type: "emergency", seq: 9, timestamp: "" })).toBe(map);
  });
});
