/**
 * What the console knows of each hospital it watches: beds, on-duty staff, the triage queue
 * and capacity levels. Loaded over HTTP, then kept current from live events; a load and live
 * events may cross, so every record is merged by `seq` (the newer wins).
 */

import type { Bed, StaffMember, TriageCase } from "./api";
import {
  applyBedEvent,
  applyCapacityAlert,
  type BedEventLike,
  type CapacityAlertLike,
  type CapacityMap,
} from "./beds";
import { applyStaffEvent, type StaffEventLike } from "./staff";
import { applyTriageEvent, OPEN_STATUSES, sortCases, type TriageEventLike } from "./triage";

export type Resource = "beds" | "staff" | "triage" | "capacity";

export interface HospitalState {
  beds: Bed[] | null;
  staff: StaffMember[] | null;
  triage: TriageCase[] | null;
  /** False when the hub's history no longer reaches back to every open case. */
  triageComplete: boolean;
  /** Triage cases seen closing live, by seq: a load taken before must not bring them back. */
  triageClosed: Record<string, number>;
  capacity: CapacityMap;
  errors: Partial<Record<Resource, string>>;
}

export type HospitalsState = Record<string, HospitalState>;

export type HospitalAction =
  | { type: "beds"; hospital: string; beds: Bed[] }
  | { type: "staff"; hospital: string; staff: StaffMember[] }
  | { type: "triage"; hospital: string; cases: TriageCase[]; complete: boolean }
  | { type: "capacity"; hospital: string; alerts: CapacityAlertLike[] }
  | { type: "error"; hospital: string; resource: Resource; message: string }
  | { type: "bed_event"; event: BedEventLike }
  | { type: "staff_event"; event: StaffEventLike }
  | { type: "triage_event"; event: TriageEventLike }
  | { type: "capacity_event"; hospital: string; event: CapacityAlertLike };

export function emptyHospital(): HospitalState {
  return {
    beds: null,
    staff: null,
    triage: null,
    triageComplete: true,
    triageClosed: {},
    capacity: {},
    errors: {},
  };
}

/** Union by key: for each key the record with the higher seq (fresh on a tie). */
export function mergeBySeq<T extends { seq?: number }>(
  fresh: readonly T[],
  current: readonly T[] | null,
  key: (item: T) => string,
): T[] {
  const merged = new Map<string, T>();
  for (const item of fresh) merged.set(key(item), item);
  for (const item of current ?? []) {
    const k = key(item);
    const other = merged.get(k);
    if (!other || (item.seq ?? -1) > (other.seq ?? -1)) merged.set(k, item);
  }
  return [...merged.values()];
}

function withoutError(h: HospitalState, resource: Resource): HospitalState["errors"] {
  const { [resource]: _, ...rest } = h.errors;
  return rest;
}

export function hospitalsReducer(state: HospitalsState, action: HospitalAction): HospitalsState {
  switch (action.type) {
    case "beds": {
      const h = state[action.hospital] ?? emptyHospital();
      const beds = mergeBySeq(action.beds, h.beds, (b) => b.bed_id);
      return { ...state, [action.hospital]: { ...h, beds, errors: withoutError(h, "beds") } };
    }
    case "staff": {
      const h = state[action.hospital] ?? emptyHospital();
      const staff = mergeBySeq(action.staff, h.staff, (s) => s.staff_id).sort((a, b) =>
        a.staff_id.localeCompare(b.staff_id),
      );
      return { ...state, [action.hospital]: { ...h, staff, errors: withoutError(h, "staff") } };
    }
    case "triage": {
      const h = state[action.hospital] ?? emptyHospital();
      const fresh = action.cases.filter((c) => {
        const closedAt = h.triageClosed[c.triage_id];
        return closedAt === undefined || (c.seq ?? -1) > closedAt;
      });
      const cases = sortCases(
        mergeBySeq(fresh, h.triage, (c) => c.triage_id).filter((c) =>
          OPEN_STATUSES.includes(c.status),
        ),
      );
      return {
        ...state,
        [action.hospital]: {
          ...h,
          triage: cases,
          triageComplete: action.complete,
          errors: withoutError(h, "triage"),
        },
      };
    }
    case "capacity": {
      const h = state[action.hospital] ?? emptyHospital();
      const capacity = action.alerts.reduce(applyCapacityAlert, h.capacity);
      return { ...state, [action.hospital]: { ...h, capacity } };
    }
    case "error": {
      const h = state[action.hospital] ?? emptyHospital();
      return {
        ...state,
        [action.hospital]: { ...h, errors: { ...h.errors, [action.resource]: action.message } },
      };
    }
    case "bed_event": {
      const h = state[action.event.hospital_id];
      if (!h?.beds) return state; // not watched, or not loaded yet: the load will have it
      const beds = applyBedEvent(h.beds, action.event);
      return beds === h.beds ? state : { ...state, [action.event.hospital_id]: { ...h, beds } };
    }
    case "staff_event": {
      const h = state[action.event.hospital_id];
      if (!h?.staff) return state;
      const staff = applyStaffEvent(h.staff, action.event);
      return staff === h.staff ? state : { ...state, [action.event.hospital_id]: { ...h, staff } };
    }
    case "triage_event": {
      // triage_queue carries every hospital's cases: each watched hospital takes what is its
      let next = state;
      const event = action.event;
      const closed = !OPEN_STATUSES.includes(event.status);
      for (const [hospital, h] of Object.entries(state)) {
        const triageClosed = closed
          ? { ...h.triageClosed, [event.triage_id]: event.seq }
          : h.triageClosed;
        const triage = h.triage ? applyTriageEvent(h.triage, event, hospital) : h.triage;
        if (triage !== h.triage || triageClosed !== h.triageClosed) {
          next = { ...next, [hospital]: { ...h, triage, triageClosed } };
        }
      }
      return next;
    }
    case "capacity_event": {
      const h = state[action.hospital];
      if (!h) return state;
      const capacity = applyCapacityAlert(h.capacity, action.event);
      return capacity === h.capacity ? state : { ...state, [action.hospital]: { ...h, capacity } };
    }
  }
}

/** Patients whose rooms the console joins for a hospital: bed occupants and triage patients. */
export function watchedPatients(h: HospitalState | undefined): string[] {
  if (!h) return [];
  const ids = new Set<string>();
  for (const bed of h.beds ?? []) if (bed.patient_id) ids.add(bed.patient_id);
  for (const c of h.triage ?? []) ids.add(c.patient_id);
  return [...ids].sort();
}
