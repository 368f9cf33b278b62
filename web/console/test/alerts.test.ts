import { describe, expect, it } from "vitest";
import {
  alertHospitals,
  buildAlertViews,
  filterAlerts,
  type AlertLike,
} from "../src/lib/alerts";

function patientAlert(id: string, type: string, patient: string, hospital: string, at: string): AlertLike {
  return {
    id,
    type,
    source: "patient_alert",
    title: `Patient ${patient}`,
    message: `${type} for ${patient}`,
    timestamp: at,
    read: false,
    eventId: id,
    alertId: id,
    patientId: patient,
    hospitalId: hospital,
    data: { id, type: "patient_alert", patient_id: patient, hospital_id: hospital, alert_type: type },
  };
}

function hospitalAlert(id: string, type: string, hospital: string, at: string): AlertLike {
  return {
    id,
    type,
    source: "hospital_alert",
    title: `Hospital ${hospital}`,
    message: `${type} in ${hospital}`,
    timestamp: at,
    read: false,
    eventId: id,
    alertId: id,
    hospitalId: hospital,
    data: { id, type: "hospital_alert", hospital_id: hospital, alert_type: type },
  };
}

/** As the client stores an escalation: it replaces the alert it escalates. */
function escalation(id: string, of: AlertLike, step: number, at: string): AlertLike {
  const data = of.data as Record<string, unknown>;
  return {
    id,
    type: of.type,
    source: "alert_escalated",
    title: `${of.title} (escalated, step ${step})`,
    message: of.message,
    timestamp: at,
    read: false,
    eventId: id,
    alertId: of.alertId!,
    patientId: of.patientId ?? null,
    hospitalId: of.hospitalId ?? null,
    escalationStep: step,
    data: {
      id,
      type: "alert_escalated",
      alert_id: of.alertId,
      patient_id: data.patient_id ?? null,
      hospital_id: data.hospital_id,
      step,
      alert_type: of.type,
      alert_data: { message: of.message },
    },
  };
}

const a1 = patientAlert("e1", "warning", "P1", "H1", "2030-01-01T10:00:00Z");
const a2 = hospitalAlert("e2", "capacity", "H2", "2030-01-01T10:05:00Z");
const a3 = patientAlert("e3", "critical", "P22", "H1", "2030-01-01T10:10:00Z");
const a4 = hospitalAlert("e4", "emergency", "H1", "2030-01-01T09:00:00Z");

describe("buildAlertViews", () => {
  it("puts the newest first whatever order the list is in", () => {
    const views = buildAlertViews([a1, a4, a3, a2]);
    expect(views.map((v) => v.key)).toEqual(["e3", "e2", "e1", "e4"]);
  });

  it("takes severity, patient and hospital from the alert", () => {
    const [critical] = buildAlertViews([a3]);
    expect(critical).toMatchObject({
      severity: "critical",
      patientId: "P22",
      hospitalId: "H1",
      attention: true,
      escalationStep: null,
      ackId: "e3",
      unread: true,
    });
    const [capacity] = buildAlertViews([a2]);
    expect(capacity).toMatchObject({ severity: "capacity", patientId: null, attention: false });
  });

  it("shows an escalated alert once, marked with its step, first by its escalation time", () => {
    const esc = escalation("x1", a1, 2, "2030-01-01T10:20:00Z");
    const views = buildAlertViews([esc, a3, a2]);
    expect(views.map((v) => v.key)).toEqual(["e1", "e3", "e2"]);
    expect(views[0]).toMatchObject({
      severity: "warning",
      escalationStep: 2,
      patientId: "P1",
      attention: true,
      ackId: "x1",
      message: "warning for P1",
    });
  });

  it("folds an escalation into its alert when both are in the list", () => {
    const esc = escalation("x1", a3, 1, "2030-01-01T10:15:00Z");
    const views = buildAlertViews([a3, esc]);
    expect(views).toHaveLength(1);
    expect(views[0]).toMatchObject({ key: "e3", ackId: "e3", escalationStep: 1 });
    expect(views[0]!.ids.sort()).toEqual(["e3", "x1"]);
  });

  it("orders alerts of the same clinical time by journal arrival (seq), newest first", () => {
    const at = "2030-01-01T10:00:00Z";
    const withSeq = (a: AlertLike, seq: number): AlertLike => ({ ...a, data: { ...(a.data as object), seq } });
    // ids chosen so that ordering by id would give the other answer
    const earlier = withSeq(patientAlert("aa-first", "warning", "P1", "H1", at), 41);
    const later = withSeq(patientAlert("zz-second", "critical", "P2", "H1", at), 42);
    for (const list of [
      [earlier, later],
      [later, earlier],
    ]) {
      expect(buildAlertViews(list).map((v) => v.key)).toEqual(["zz-second", "aa-first"]);
    }
    // the clinical time still comes first: an older result that arrived later goes below
    const olderArrivedLast = withSeq(patientAlert("m", "info", "P3", "H1", "2030-01-01T09:59:59Z"), 99);
    expect(buildAlertViews([olderArrivedLast, earlier, later]).map((v) => v.key)).toEqual([
      "zz-second",
      "aa-first",
      "m",
    ]);
    expect(buildAlertViews([later])[0]!.seq).toBe(42);
  });

  it("breaks a tie with an escalation by the escalation's arrival", () => {
    const at = "2030-01-01T10:00:00Z";
    const a = { ...patientAlert("a", "warning", "P1", "H1", at), data: { id: "a", seq: 10, patient_id: "P1" } };
    const b = { ...patientAlert("b", "warning", "P2", "H1", at), data: { id: "b", seq: 11, patient_id: "P2" } };
    const esc = escalation("x", a, 1, at);
    (esc.data as Record<string, unknown>).seq = 12;
    expect(buildAlertViews([b, a]).map((v) => v.key)).toEqual(["b", "a"]);
    const views = buildAlertViews([esc, b, a]);
    expect(views.map((v) => v.key)).toEqual(["a", "b"]);
    expect(views[0]!.seq).toBe(12);
  });

  it("without a seq, keeps the client's order (newest on top) for alerts of the same time", () => {
    const at = "2030-01-01T10:00:00Z";
    const local1 = { ...patientAlert("b-local", "info", "P1", "H1", at), data: undefined };
    const local2 = { ...patientAlert("a-local", "info", "P2", "H1", at), data: undefined };
    expect(buildAlertViews([local1, local2]).map((v) => v.key)).toEqual(["b-local", "a-local"]);
    expect(buildAlertViews([local2, local1]).map((v) => v.key)).toEqual(["a-local", "b-local"]);
    // a hub alert (with seq) of the same time goes above a local one
    const hub = { ...patientAlert("hub", "info", "P3", "H1", at), data: { seq: 1 } };
    expect(buildAlertViews([local1, hub]).map((v) => v.key)).toEqual(["hub", "b-local"]);
  });

  it("is unread while any part is unread", () => {
    const views = buildAlertViews([{ ...a1, read: true }, { ...a2, read: false }]);
    expect(views.map((v) => [v.key, v.unread])).toEqual([
      ["e2", true],
      ["e1", false],
    ]);
  });
});

describe("filterAlerts", () => {
  const views = buildAlertViews([a1, a2, a3, a4, escalation("x9", a4, 3, "2030-01-01T11:00:00Z")]);

  it("filters by hospital", () => {
    expect(filterAlerts(views, { hospital: "H2" }).map((v) => v.key)).toEqual(["e2"]);
    expect(filterAlerts(views, { hospital: "H1" }).map((v) => v.key)).toEqual(["e4", "e3", "e1"]);
  });

  it("filters by part of a patient id, ignoring case", () => {
    expect(filterAlerts(views, { patient: "p2" }).map((v) => v.key)).toEqual(["e3"]);
    expect(filterAlerts(views, { patient: " P" }).map((v) => v.key)).toEqual(["e3", "e1"]);
  });

  it("filters by type, and by escalated", () => {
    expect(filterAlerts(views, { type: "critical" }).map((v) => v.key)).toEqual(["e3"]);
    expect(filterAlerts(views, { type: "escalated" }).map((v) => v.key)).toEqual(["e4"]);
    expect(filterAlerts(views, { type: "" })).toHaveLength(4);
  });

  it("combines filters", () => {
    expect(filterAlerts(views, { hospital: "H1", type: "warning", patient: "P1" }).map((v) => v.key)).toEqual([
      "e1",
    ]);
    expect(filterAlerts(views, { hospital: "H2", type: "critical" })).toEqual([]);
  });

  it("lists the hospitals alerts came from", () => {
    expect(alertHospitals(views)).toEqual(["H1", "H2"]);
  });
});
