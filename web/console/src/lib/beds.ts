/** The bed board: beds grouped by unit, status colours, occupancy, capacity state. */

import type { Bed } from "./api";

export type BedStatusClass = "occupied" | "available" | "cleaning" | "closed" | "blocked" | "other";

const STATUS_CLASSES: Record<string, BedStatusClass> = {
  occupied: "occupied",
  available: "available",
  free: "available",
  vacant: "available",
  unoccupied: "available",
  cleaning: "cleaning",
  housekeeping: "cleaning",
  dirty: "cleaning",
  contaminated: "blocked",
  isolated: "blocked",
  isolation: "blocked",
  reserved: "blocked",
  blocked: "blocked",
  closed: "closed",
  inactive: "closed",
};

export function bedStatusClass(status: string | null | undefined): BedStatusClass {
  return STATUS_CLASSES[(status ?? "").toLowerCase()] ?? "other";
}

/** As the capacity plugin counts by default (docs/capacity.md): occupied / (known - closed). */
export const OCCUPIED_STATUSES = ["occupied"];
export const EXCLUDED_STATUSES = ["closed"];

export interface Occupancy {
  occupied: number;
  countable: number;
  /** 0..1, null when no bed counts. */
  fraction: number | null;
}

export function occupancy(beds: readonly Bed[]): Occupancy {
  let occupied = 0;
  let countable = 0;
  for (const bed of beds) {
    const status = (bed.status ?? "").toLowerCase();
    if (EXCLUDED_STATUSES.includes(status)) continue;
    countable += 1;
    if (OCCUPIED_STATUSES.includes(status)) occupied += 1;
  }
  return { occupied, countable, fraction: countable ? occupied / countable : null };
}

export const NO_UNIT = "(no unit)";

export interface UnitGroup {
  unit: string;
  beds: Bed[];
  occupancy: Occupancy;
}

const naturally = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

/** Units in natural order (4E before 10A), beds in natural order, unit-less beds last. */
export function groupByUnit(beds: readonly Bed[]): UnitGroup[] {
  const units = new Map<string, Bed[]>();
  for (const bed of beds) {
    const unit = bed.unit || NO_UNIT;
    const list = units.get(unit);
    if (list) list.push(bed);
    else units.set(unit, [bed]);
  }
  return [...units.entries()]
    .sort(([a], [b]) =>
      a === NO_UNIT ? 1 : b === NO_UNIT ? -1 : naturally.compare(a, b),
    )
    .map(([unit, list]) => {
      const sorted = [...list].sort((x, y) => naturally.compare(x.bed_id, y.bed_id));
      return { unit, beds: sorted, occupancy: occupancy(sorted) };
    });
}

export interface BedEventLike {
  hospital_id: string;
  bed_info: { bed_id: string; status: string; [k: string]: unknown };
  seq: number;
  timestamp: string;
  source?: string;
}

/**
 * The board after one `bed_status_changed`. Events older than what the board shows (by seq)
 * are ignored, so a live event racing the initial GET never rolls a bed back. A patient who
 * appears in a bed leaves any other bed the board showed them in, as the census does.
 */
export function applyBedEvent(beds: readonly Bed[], event: BedEventLike): Bed[] {
  const info = event.bed_info;
  const index = beds.findIndex((b) => b.bed_id === info.bed_id);
  const current = index >= 0 ? beds[index] : undefined;
  if (current?.seq !== undefined && current.seq >= event.seq) return beds as Bed[];
  const updated: Bed = {
    ...info,
    bed_id: info.bed_id,
    status: info.status,
    hospital_id: event.hospital_id,
    updated_at: event.timestamp,
    seq: event.seq,
    ...(event.source !== undefined ? { source: event.source } : {}),
  };
  const next = [...beds];
  if (index >= 0) next[index] = updated;
  else next.push(updated);
  return next;
}

export type CapacityLevel = "none" | "warning" | "critical";

export interface CapacityState {
  level: CapacityLevel;
  occupancy: number | null;
  message: string;
  seq: number;
  at: string;
}

/** Capacity levels by scope: `hospital`, or the unit's name. */
export type CapacityMap = Record<string, CapacityState>;

export interface CapacityAlertLike {
  alert_type: string;
  alert_data?: { [k: string]: unknown };
  seq: number;
  timestamp: string;
}

/** The capacity map after one hospital_alert (only `capacity` alerts change it). */
export function applyCapacityAlert(map: CapacityMap, event: CapacityAlertLike): CapacityMap {
  if (event.alert_type !== "capacity") return map;
  const data = event.alert_data ?? {};
  const scope = data.scope === "unit" && typeof data.unit === "string" ? data.unit : "hospital";
  const previous = map[scope];
  if (previous && previous.seq >= event.seq) return map;
  const raw = data.level;
  const level: CapacityLevel = raw === "warning" || raw === "critical" ? raw : "none";
  return {
    ...map,
    [scope]: {
      level,
      occupancy: typeof data.occupancy === "number" ? data.occupancy : null,
      message: typeof data.message === "string" ? data.message : "",
      seq: event.seq,
      at: event.timestamp,
    },
  };
}

export function formatPercent(fraction: number | null): string {
  return fraction === null ? "-" : `${Math.floor(fraction * 100)}%`;
}
