import { describe, expect, it } from "vitest";
import type { TriageCase } from "../src/lib/api";
import { applyTriageEvent, countByStatus, sortCases, type TriageEventLike } from "../src/lib/triage";

const ev = (over: Partial<TriageEventLike>): TriageEventLike => ({
  triage_id: "T1",
  status: "pending",
  patient_id: "P1",
  hospital_id: "H1",
  priority: 3,
  timestamp: "2030-01-01T10:00:00Z",
  seq: 1,
  ...over,
});

describe("triage queue", () => {
  it("adds a new case, waiting since its first event", () => {
    const cases = applyTriageEvent([], ev({}), "H1");
    expect(cases).toEqual([
      expect.objectContaining({
        triage_id: "T1",
        status: "pending",
        opened_at: "2030-01-01T10:00:00Z",
        since: "2030-01-01T10:00:00Z",
      }),
    ]);
  });

  it("keeps when the case opened and restarts 'in status' on a status change", () => {
    let cases = applyTriageEvent([], ev({}), "H1");
    cases = applyTriageEvent(cases, ev({ priority: 2, seq: 2, timestamp: "2030-01-01T10:03:00Z" }), "H1");
    expect(cases[0]).toMatchObject({ priority: 2, since: "2030-01-01T10:00:00Z" });
    cases = applyTriageEvent(cases, ev({ status: "triaged", seq: 3, timestamp: "2030-01-01T10:09:00Z" }), "H1");
    expect(cases[0]).toMatchObject({
      status: "triaged",
      opened_at: "2030-01-01T10:00:00Z",
      since: "2030-01-01T10:09:00Z",
    });
  });

  it("drops completed and cancelled cases", () => {
    const open = applyTriageEvent([], ev({}), "H1");
    expect(applyTriageEvent(open, ev({ status: "completed", seq: 2 }), "H1")).toEqual([]);
    expect(applyTriageEvent(open, ev({ status: "cancelled", seq: 2 }), "H1")).toEqual([]);
  });

  it("ignores other hospitals' cases and lets a moved case go", () => {
    expect(applyTriageEvent([], ev({ hospital_id: "H2" }), "H1")).toEqual([]);
    const open = applyTriageEvent([], ev({}), "H1");
    expect(applyTriageEvent(open, ev({ hospital_id: "H2", seq: 2 }), "H1")).toEqual([]);
  });

  it("updates a known case whose event names no hospital, and ignores stale events", () => {
    const open = applyTriageEvent([], ev({ seq: 5 }), "H1");
    const assigned = applyTriageEvent(open, ev({ hospital_id: null, status: "assigned", seq: 6 }), "H1");
    expect(assigned[0]).toMatchObject({ status: "assigned", hospital_id: "H1" });
    expect(applyTriageEvent(assigned, ev({ status: "pending", seq: 4 }), "H1")).toBe(assigned);
    expect(applyTriageEvent([], ev({ hospital_id: null, triage_id: "T9" }), "H1")).toEqual([]);
  });

  it("orders by priority, then longest waiting, unprioritised last; counts by status", () => {
    const c = (id: string, priority: number | null, opened: string, status = "pending"): TriageCase => ({
      triage_id: id,
      patient_id: `P-${id}`,
      hospital_id: "H1",
      status: status as TriageCase["status"],
      priority,
      since: opened,
      opened_at: opened,
    });
    const sorted = sortCases([
      c("a", 3, "2030-01-01T10:05:00Z"),
      c("b", null, "2030-01-01T09:00:00Z"),
      c("c", 1, "2030-01-01T10:30:00Z", "triaged"),
      c("d", 3, "2030-01-01T10:01:00Z", "assigned"),
    ]);
    expect(sorted.map((x) => x.triage_id)).toEqual(["c", "d", "a", "b"]);
    expect(countByStatus(sorted)).toEqual({ pending: 2, triaged: 1, assigned: 1 });
  });
});
