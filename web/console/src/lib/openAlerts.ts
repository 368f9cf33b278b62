/**
 * The alerts a screen opened mid-shift must show: the patient alerts of a hospital still open
 * at the hub (`GET /api/alerts?hospital=H`, see hub/alerts/open.py), merged into the client's
 * alert list without doubling what is already there (restored after a reload, or arrived live)
 * and without bringing back what was acknowledged or replaced while the list was loading.
 */

import { defaultToAlert, type Alert, type HubEvent, type NewAlert } from "@clinical-hub/client";
import type { OpenAlertEvent, OpenAlerts } from "./api";
import { alertKey } from "./alerts";

const record = (v: unknown): Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);

/**
 * What the live stream said while an open-alert list was on its way: alerts acknowledged
 * (`alert_acknowledged`) and results corrected (`alert_data.action` supersede / retract for
 * an observation). The list is a snapshot; anything it reports that the stream has since
 * closed must not come back. Bounded: the oldest entries are forgotten first.
 */
export class LiveLedger {
  private readonly acknowledged = new Set<string>();
  /** `patient\u0000observation` -> the seq of the latest correction seen. */
  private readonly corrected = new Map<string, number>();

  constructor(private readonly max = 5000) {}

  observe(event: { type: string } & Record<string, unknown>): void {
    if (event.type === "alert_acknowledged") {
      const id = str(event.alert_id);
      if (id) remember(this.acknowledged, id, this.max);
      return;
    }
    if (event.type !== "patient_alert") return;
    const details = record(event.alert_data);
    const observation = str(details.observation);
    const patient = str(event.patient_id);
    const seq = typeof event.seq === "number" ? event.seq : null;
    if (!observation || !patient || seq === null) return;
    if (details.action !== "supersede" && details.action !== "retract") return;
    const key = `${patient}\u0000${observation}`;
    const latest = Math.max(seq, this.corrected.get(key) ?? 0);
    this.corrected.delete(key); // re-inserted as the newest
    this.corrected.set(key, latest);
    while (this.corrected.size > this.max) this.corrected.delete(this.corrected.keys().next().value!);
  }

  /** Whether the live stream has closed this alert since (acknowledged, superseded, withdrawn). */
  closes(event: OpenAlertEvent): boolean {
    if (this.acknowledged.has(event.id)) return true;
    const observation = str(record(event.alert_data).observation);
    if (!observation) return false;
    const correction = this.corrected.get(`${event.patient_id}\u0000${observation}`);
    return correction !== undefined && correction > event.seq;
  }
}

function remember(set: Set<string>, value: string, max: number): void {
  set.delete(value);
  set.add(value);
  while (set.size > max) set.delete(set.values().next().value!);
}

function isOpenAlertEvent(v: unknown): v is OpenAlertEvent {
  const e = record(v);
  return (
    e.type === "patient_alert" &&
    typeof e.id === "string" &&
    typeof e.seq === "number" &&
    typeof e.patient_id === "string" &&
    typeof e.alert_type === "string"
  );
}

/**
 * An open alert as the alert list keeps it: the same entry the live `patient_alert` would
 * have made (same id, so either dedupes the other), with its escalation step when escalated.
 */
export function openAlertToNew(event: OpenAlertEvent, hospital: string): NewAlert {
  const { escalation, ...wire } = event;
  const base = defaultToAlert(wire as unknown as HubEvent)!;
  const alert: NewAlert = {
    ...base,
    hospitalId: base.hospitalId ?? hospital,
    data: escalation ? { ...wire, escalation } : wire,
    read: false,
  };
  if (escalation && typeof escalation.step === "number") alert.escalationStep = escalation.step;
  return alert;
}

/**
 * The alerts of `loaded` to add to the list, oldest first (the list puts each added alert on
 * top): those not already in it, by event id or as the alert an escalation is about, and not
 * closed by what the live stream has said since (`ledger`).
 */
export function alertsToAdd(
  existing: readonly Alert[],
  loaded: OpenAlerts,
  ledger?: LiveLedger,
): NewAlert[] {
  const known = new Set<string>();
  for (const alert of existing) {
    known.add(alert.id);
    known.add(alertKey(alert));
  }
  const list = Array.isArray(loaded.alerts) ? loaded.alerts : [];
  const open = list.filter(isOpenAlertEvent).sort((a, b) => a.seq - b.seq);
  const added: NewAlert[] = [];
  for (const event of open) {
    if (known.has(event.id) || ledger?.closes(event)) continue;
    known.add(event.id);
    added.push(openAlertToNew(event, loaded.hospital_id));
  }
  return added;
}
