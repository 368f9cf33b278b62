/** The triage queue: open cases of one hospital, kept current from `triage_updated`. */

import type { TriageCase, TriageStatus } from "./api";

export const OPEN_STATUSES: TriageStatus[] = ["pending", "triaged", "assigned"];

export interface TriageEventLike {
  triage_id: string;
  status: TriageStatus;
  patient_id: string;
  hospital_id?: string | null;
  priority?: number | null;
  details?: { [k: string]: unknown };
  timestamp: string;
  seq: number;
}

/**
 * The queue after one `triage_updated` from `triage_queue` (which carries every hospital's
 * cases). A case is this hospital's when the event says so, or, without a hospital, when the
 * queue already holds it. Completed and cancelled cases leave; stale events (by seq) are ignored.
 */
export function applyTriageEvent(
  cases: readonly TriageCase[],
  event: TriageEventLike,
  hospital: string,
): TriageCase[] {
  const index = cases.findIndex((c) => c.triage_id === event.triage_id);
  const current = index >= 0 ? cases[index] : undefined;
  const ours = event.hospital_id ? event.hospital_id === hospital : current !== undefined;
  if (!ours) {
    // moved to another hospital: it leaves this queue
    return current ? cases.filter((_, i) => i !== index) : (cases as TriageCase[]);
  }
  if (current?.seq !== undefined && current.seq >= event.seq) return cases as TriageCase[];
  if (!OPEN_STATUSES.includes(event.status)) {
    return current ? cases.filter((_, i) => i !== index) : (cases as TriageCase[]);
  }
  const updated: TriageCase = {
    triage_id: event.triage_id,
    patient_id: event.patient_id,
    hospital_id: event.hospital_id ?? current?.hospital_id ?? hospital,
    status: event.status,
    priority: event.priority ?? null,
    since: current && current.status === event.status ? current.since : event.timestamp,
    opened_at: current?.opened_at ?? event.timestamp,
    updated_at: event.timestamp,
    details: event.details ?? {},
    seq: event.seq,
  };
  const next = [...cases];
  if (index >= 0) next[index] = updated;
  else next.push(updated);
  return sortCases(next);
}

/** Highest priority (1) first, then longest waiting; cases without a priority last. */
export function sortCases(cases: readonly TriageCase[]): TriageCase[] {
  return [...cases].sort(
    (a, b) =>
      (a.priority ?? 99) - (b.priority ?? 99) ||
      a.opened_at.localeCompare(b.opened_at) ||
      a.triage_id.localeCompare(b.triage_id),
  );
}

export function countByStatus(cases: readonly TriageCase[]): Record<string, number> {
  const counts: Record<string, number> = { pending: 0, triaged: 0, assigned: 0 };
  for (const c of cases) counts[c.status] = (counts[c.status] ?? 0) + 1;
  return counts;
}
