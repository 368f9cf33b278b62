/**
 * The live alerts panel's model: the client library's alert list (AlertProvider, newest
 * first) turned into what a screen shows: escalations folded into the alert they escalate,
 * severity, patient and hospital, filters.
 */

import type { Alert } from "@clinical-hub/client";

export type Severity = "critical" | "warning" | "info" | "emergency" | "capacity" | "system";

export const PATIENT_SEVERITIES: Severity[] = ["critical", "warning", "info"];
export const HOSPITAL_SEVERITIES: Severity[] = ["emergency", "capacity", "system"];
export const SEVERITIES: Severity[] = [...PATIENT_SEVERITIES, ...HOSPITAL_SEVERITIES];

/** The client library's alert, as its AlertProvider keeps it (web/client/README.md). */
export type AlertLike = Alert;

export interface AlertView {
  /** The alert's identity: the id `acknowledge` is called with, shared by its escalations. */
  key: string;
  /** The client alert ids folded into this one (the alert and its escalations). */
  ids: string[];
  /** The client alert to acknowledge: the original when known, else the escalation. */
  ackId: string;
  severity: Severity;
  source: string;
  title: string;
  message: string;
  patientId: string | null;
  hospitalId: string | null;
  /** Latest activity (raised or escalated), ms since the epoch. */
  time: number;
  /**
   * Journal arrival of the latest activity: the hub event's `seq` (null for an alert that did
   * not come from the hub). Breaks ties between alerts of the same clinical time.
   */
  seq: number | null;
  raisedAt: number;
  escalationStep: number | null;
  retracted: boolean;
  unread: boolean;
  /** Unacknowledged critical or emergency: shown with a pulsing border. */
  attention: boolean;
  data: Record<string, unknown>;
}

const record = (v: unknown): Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);

export function isSeverity(v: unknown): v is Severity {
  return typeof v === "string" && (SEVERITIES as string[]).includes(v);
}

function timeOf(alert: AlertLike): number {
  const ms = Date.parse(alert.timestamp);
  if (!Number.isNaN(ms)) return ms;
  const fromEvent = Date.parse(String(record(alert.data).timestamp ?? ""));
  return Number.isNaN(fromEvent) ? 0 : fromEvent;
}

/** The hub event's journal position (`seq`), kept in the alert's data. */
export function seqOf(alert: AlertLike): number | null {
  const seq = record(alert.data).seq;
  return typeof seq === "number" && Number.isFinite(seq) ? seq : null;
}

/** Later arrival first; alerts without a seq after those with one. */
function byArrivalDesc(a: number | null, b: number | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return b - a;
}

function isEscalation(alert: AlertLike): boolean {
  return alert.source === "alert_escalated";
}


/** The identity of the alert an entry is about (an escalation's is the escalated alert's). */
export function alertKey(alert: AlertLike): string {
  const data = record(alert.data);
  if (isEscalation(alert)) return str(data.alert_id) ?? alert.alertId ?? alert.id;
  return alert.alertId ?? alert.eventId ?? alert.id;
}

function severityOf(alert: AlertLike, data: Record<string, unknown>): Severity {
  if (isSeverity(data.alert_type)) return data.alert_type;
  if (isSeverity(alert.type)) return alert.type;
  return "info";
}

function messageOf(alert: AlertLike, data: Record<string, unknown>): string {
  const alertData = record(data.alert_data);
  return alert.message || str(alertData.message) || "";
}

/**
 * Fold escalations into their alerts. Newest first by clinical time (raised or escalated);
 * alerts of the same time by journal arrival (`seq`), latest first; then by position in the
 * client's list (newest on top), so the order never depends on ids.
 */
export function buildAlertViews(alerts: readonly AlertLike[]): AlertView[] {
  const views = new Map<string, AlertView>();
  /** Smallest index in `alerts` (the client's list, newest first) of each view's entries. */
  const position = new Map<string, number>();
  const entries = alerts.map((alert, index) => ({ alert, index, time: timeOf(alert), seq: seqOf(alert) }));
  // oldest first, so the original alert is seen before its escalations
  entries.sort((a, b) => a.time - b.time || byArrivalDesc(b.seq, a.seq) || b.index - a.index);
  for (const { alert, index, time, seq } of entries) {
    const data = record(alert.data);
    const key = alertKey(alert);
    position.set(key, Math.min(position.get(key) ?? index, index));
    const escalation = isEscalation(alert) || alert.escalationStep !== undefined;
    const step = !escalation
      ? null
      : (alert.escalationStep ?? (typeof data.step === "number" ? data.step : 1));
    const existing = views.get(key);
    if (existing) {
      existing.ids.push(alert.id);
      existing.time = Math.max(existing.time, time);
      if (seq !== null) existing.seq = Math.max(existing.seq ?? seq, seq);
      existing.unread ||= !alert.read;
      existing.retracted ||= alert.retracted === true;
      if (step !== null) {
        existing.escalationStep = Math.max(existing.escalationStep ?? 0, step);
      } else {
        // the original arrived after (or without) its escalation: it is what we show
        existing.ackId = alert.id;
        existing.title = alert.title || existing.title;
        existing.message = messageOf(alert, data) || existing.message;
        existing.source = alert.source;
        existing.raisedAt = time;
        existing.data = data;
      }
      existing.attention =
        existing.severity === "critical" ||
        existing.severity === "emergency" ||
        existing.escalationStep !== null;
      continue;
    }
    const severity = severityOf(alert, data);
    views.set(key, {
      key,
      ids: [alert.id],
      ackId: alert.id,
      severity,
      source: escalation ? (str(data.patient_id) ? "patient_alert" : "hospital_alert") : alert.source,
      title: alert.title,
      message: messageOf(alert, data),
      patientId: alert.patientId ?? str(data.patient_id),
      hospitalId: alert.hospitalId ?? str(data.hospital_id),
      time,
      seq,
      raisedAt: time,
      escalationStep: step,
      retracted: alert.retracted === true,
      unread: !alert.read,
      attention: severity === "critical" || severity === "emergency" || step !== null,
      data,
    });
  }
  return [...views.values()].sort(
    (a, b) =>
      b.time - a.time ||
      byArrivalDesc(a.seq, b.seq) ||
      position.get(a.key)! - position.get(b.key)! ||
      a.key.localeCompare(b.key),
  );
}

export interface AlertFilter {
  hospital?: string;
  /** Part of a patient id, case-insensitive. */
  patient?: string;
  /** A severity, or "escalated". */
  type?: Severity | "escalated" | "";
}

export function filterAlerts(views: readonly AlertView[], filter: AlertFilter): AlertView[] {
  const patient = filter.patient?.trim().toLowerCase() ?? "";
  return views.filter((v) => {
    if (filter.hospital && v.hospitalId !== filter.hospital) return false;
    if (patient && !(v.patientId ?? "").toLowerCase().includes(patient)) return false;
    if (filter.type === "escalated") return v.escalationStep !== null;
    if (filter.type && v.severity !== filter.type) return false;
    return true;
  });
}

/** Distinct hospitals among alerts, for the filter's choices. */
export function alertHospitals(views: readonly AlertView[]): string[] {
  return [...new Set(views.map((v) => v.hospitalId).filter((h): h is string => !!h))].sort();
}

export function severityLabel(s: Severity): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/**
 * Whether the hub acknowledges this alert (patient alerts, and their escalations) and
 * broadcasts `alert_acknowledged`; hospital-wide alerts are dismissed on this screen only.
 */
export function isAcknowledgeable(view: AlertView): boolean {
  return view.source === "patient_alert" || view.source === "alert_escalated" || view.patientId !== null;
}

export interface HospitalAlertLike {
  id: string;
  hospital_id: string;
  alert_type: string;
  source?: string;
  alert_data?: { [k: string]: unknown };
}

function capacityScope(data: Record<string, unknown>): string {
  return data.scope === "unit" ? `unit:${String(data.unit)}` : "hospital";
}

function systemSubject(data: Record<string, unknown>, source: unknown): string {
  return `${String(data.input ?? source ?? "")}|${String(data.problem ?? "")}`;
}

/**
 * Alerts a new hospital_alert makes out of date: earlier capacity alerts of the same hospital
 * and scope (the level changed), and, when a system problem is cleared, the alerts that raised
 * it. Emergency alerts are never superseded: a person dismisses them.
 */
export function supersededBy(views: readonly AlertView[], event: HospitalAlertLike): AlertView[] {
  const data = record(event.alert_data);
  return views.filter((v) => {
    if (v.source !== "hospital_alert" || v.hospitalId !== event.hospital_id) return false;
    if (v.key === event.id || v.severity !== event.alert_type) return false;
    const old = record(v.data.alert_data);
    if (event.alert_type === "capacity") return capacityScope(old) === capacityScope(data);
    if (event.alert_type === "system" && data.state === "cleared") {
      return old.state !== "cleared" && systemSubject(old, v.data.source) === systemSubject(data, event.source);
    }
    return false;
  });
}
