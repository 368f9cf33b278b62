import { describe, expect, it } from "vitest";
import type { TriageCase } from "../src/lib/api";
import { hospitalsReducer, watchedPatients, type HospitalsState } from "../src/lib/hospital";

const triageCase = (id: string, seq: number, status: TriageCase["status"] = "pending"): TriageCase => ({
  triage_id: id,
  patient_id: `P-${id}`,
  hospital_id: "H1",
  status,
  priority: 3,
  since: "2030-01-01T10:00:00Z",
  opened_at: "2030-01-01T10:00:00Z",
  seq,
});

describe("hospital data", () => {
  it("merges a bed board load with live events by seq", () => {
    let state: HospitalsState = {};
    state = hospitalsReducer(state, {
      type: "beds",
      hospital: "H1",
      beds: [{ bed_id: "1", status: "available", hospital_id: "H1", seq: 3 }],
    });
    state = hospitalsReducer(state, {
      type: "bed_event",
      event: { hospital_id: "H1", bed_info: { bed_id: "1", status: "occupied", patient_id: "P7" }, seq: 9, timestamp: "t" },
    });
    // a load started before the event answers after it: the event's state stands
    state = hospitalsReducer(state, {
      type: "beds",
      hospital: "H1",
      beds: [
        { bed_id: "1", status: "available", hospital_id: "H1", seq: 3 },
        { bed_id: "2", status: "cleaning", hospital_id: "H1", seq: 4 },
      ],
    });
    expect(state.H1!.beds!.map((b) => [b.bed_id, b.status])).toEqual([
      ["1", "occupied"],
      ["2", "cleaning"],
    ]);
    expect(watchedPatients(state.H1)).toEqual(["P7"]);
  });

  it("ignores events of hospitals it does not watch", () => {
    const state: HospitalsState = {};
    expect(
      hospitalsReducer(state, {
        type: "bed_event",
        event: { hospital_id: "H9", bed_info: { bed_id: "1", status: "occupied" }, seq: 1, timestamp: "t" },
      }),
    ).toBe(state);
  });

  it("does not bring back a triage case that closed while the queue was loading", () => {
    let state: HospitalsState = hospitalsReducer({}, { type: "triage", hospital: "H1", cases: [], complete: true });
    state = hospitalsReducer(state, {
      type: "triage_event",
      event: { triage_id: "T1", status: "completed", patient_id: "P-T1", hospital_id: "H1", timestamp: "t", seq: 20 },
    });
    state = hospitalsReducer(state, {
      type: "triage",
      hospital: "H1",
      cases: [triageCase("T1", 15), triageCase("T2", 16)],
      complete: false,
    });
    expect(state.H1!.triage!.map((c) => c.triage_id)).toEqual(["T2"]);
    expect(state.H1!.triageComplete).toBe(false);
    expect(watchedPatients(state.H1)).toEqual(["P-T2"]);
  });

  it("records load errors per resource and clears them on success", () => {
    let state = hospitalsReducer({}, { type: "error", hospital: "H1", resource: "staff", message: "403 forbidden" });
    expect(state.H1!.errors).toEqual({ staff: "403 forbidden" });
    state = hospitalsReducer(state, { type: "staff", hospital: "H1", staff: [] });
    expect(state.H1!.errors).toEqual({});
  });

  it("keeps staff availability current", () => {
    let state = hospitalsReducer({}, {
      type: "staff",
      hospital: "H1",
      staff: [{ staff_id: "N1", staff_type: "nurse", available: true, seq: 1 }],
    });
    state = hospitalsReducer(state, {
      type: "staff_event",
      event: { hospital_id: "H1", staff_id: "N1", staff_type: "nurse", available: false, seq: 2, timestamp: "t" },
    });
    expect(state.H1!.staff![0]!.available).toBe(false);
  });
});
