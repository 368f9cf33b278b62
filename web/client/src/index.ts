export { HubClient, createHubClient } from "./client.js";
export type { HubClientOptions, JoinOptions, TokenSource } from "./client.js";
export { SocketService, getSocketService } from "./service.js";
export { HubError, FATAL_JOIN_ERRORS } from "./protocol.js";
export type {
  AckAlertError,
  AckAlertReply,
  ConnectionInfo,
  ConnectionState,
  HubErrorKind,
  JoinError,
  JoinReply,
  LeaveReply,
} from "./protocol.js";
export { HUB_EVENT_TYPES, isHubEvent } from "./events.js";
export type {
  AlertAcknowledged,
  AlertEscalated,
  BedStatusChanged,
  Envelope,
  HospitalAlert,
  HubEvent,
  HubEventHandler,
  HubEventMap,
  HubEventType,
  PatientAlert,
  RiskUpdated,
  StaffAvailabilityChanged,
  TriageUpdated,
} from "./events.js";
export type { GeneratedEventMap } from "./generated/events.js";
export { TRIAGE_QUEUE, eventRooms, hospitalRoom, patientRoom, triageRoom } from "./rooms.js";
export { localStorageStore, memoryStore } from "./store.js";
export type { ResumeStore, StorageLike } from "./store.js";
export type { ResumeInfo } from "./resume.js";
export { RecentIds } from "./dedupe.js";
export { AlertStore, DEFAULT_ALERT_TYPES, defaultToAlert, isCritical } from "./alerts.js";
export type {
  AcknowledgeResult,
  Alert,
  AlertLevel,
  AlertSnapshot,
  AlertStoreOptions,
  NewAlert,
} from "./alerts.js";
