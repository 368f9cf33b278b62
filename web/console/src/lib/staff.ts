/** On-duty staff of a hospital, kept current from `staff_availability_changed`. */

import type { StaffMember } from "./api";

export interface StaffEventLike {
  hospital_id: string;
  staff_id: string;
  staff_type: "doctor" | "nurse" | "other";
  available: boolean;
  unit?: string | null;
  seq: number;
  timestamp: string;
  source?: string;
}

export function applyStaffEvent(staff: readonly StaffMember[], event: StaffEventLike): StaffMember[] {
  const index = staff.findIndex((s) => s.staff_id === event.staff_id);
  const current = index >= 0 ? staff[index] : undefined;
  if (current?.seq !== undefined && current.seq >= event.seq) return staff as StaffMember[];
  const updated: StaffMember = {
    staff_id: event.staff_id,
    staff_type: event.staff_type,
    available: event.available,
    unit: event.unit ?? null,
    updated_at: event.timestamp,
    seq: event.seq,
    ...(event.source !== undefined ? { source: event.source } : {}),
  };
  const next = [...staff];
  if (index >= 0) next[index] = updated;
  else next.push(updated);
  return next.sort((a, b) => a.staff_id.localeCompare(b.staff_id));
}

export function onDutyCounts(staff: readonly StaffMember[]): Record<"doctor" | "nurse" | "other", number> {
  const counts = { doctor: 0, nurse: 0, other: 0 };
  for (const s of staff) if (s.available) counts[s.staff_type] += 1;
  return counts;
}
