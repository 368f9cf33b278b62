// The typed event map, from the types generated from the hub's published JSON Schemas
// (`npm run gen`; a test fails when they drift from the hub).
import {
  GENERATED_EVENT_TYPES,
  type GeneratedEventMap,
} from "./generated/events.js";

/** Fields every event carries, whatever its type. */
export interface Envelope {
  /** Unique event id, stable across replays. */
  id: string;
  /** Journal position; resume with since=seq. */
  seq: number;
  /** Event type (the Socket.IO event name). */
  type: string;
  /** Schema version of this event type. */
  version: number;
  /** When it happened clinically (UTC). */
  timestamp: string;
  /** When the hub received it (UTC). */
  received_at: string;
  /** Input that produced the event. */
  source: string;
}

/** Event type -> payload, with `type` narrowed so HubEvent is a discriminated union. */
export type HubEventMap = { [K in keyof GeneratedEventMap]: GeneratedEventMap[K] & { type: K } };
export type HubEventType = keyof HubEventMap & string;
export type HubEvent = HubEventMap[HubEventType];
export type HubEventHandler<T extends HubEventType> = (event: HubEventMap[T]) => void;

export type PatientAlert = HubEventMap["patient_alert"];
export type RiskUpdated = HubEventMap["risk_updated"];
export type HospitalAlert = HubEventMap["hospital_alert"];
export type TriageUpdated = HubEventMap["triage_updated"];
export type StaffAvailabilityChanged = HubEventMap["staff_availability_changed"];
export type BedStatusChanged = HubEventMap["bed_status_changed"];
export type AlertAcknowledged = HubEventMap["alert_acknowledged"];
export type AlertEscalated = HubEventMap["alert_escalated"];

const PENDING_TYPES = ["alert_acknowledged", "alert_escalated"] as const;

/** Every event type the client knows, generated ones first. */
export const HUB_EVENT_TYPES: readonly HubEventType[] = [
  ...GENERATED_EVENT_TYPES,
  ...PENDING_TYPES.filter((t) => !(GENERATED_EVENT_TYPES as readonly string[]).includes(t)),
];

/** Socket.IO messages the hub sends that are not journaled events. */
export const CONTROL_MESSAGES: ReadonlySet<string> = new Set([
  "connection_response",
  "room_joined",
  "room_left",
]);

/** Whether a payload has the envelope fields the client relies on (id and seq). */
export function isHubEvent(payload: unknown): payload is HubEvent {
  if (typeof payload !== "object" || payload === null) return false;
  const p = payload as { id?: unknown; seq?: unknown; type?: unknown };
  return typeof p.id === "string" && typeof p.seq === "number" && typeof p.type === "string";
}
