// The alert list behind the seed's AlertContext, framework-free so it can be tested against a
// real hub and wrapped by React (useSyncExternalStore) or anything else.
import type { HubClient } from "./client.js";
import type { AlertEscalated, HubEvent, HubEventType } from "./events.js";
import { Listeners } from "./listeners.js";
import type { AckAlertReply } from "./protocol.js";

export type AlertLevel = "critical" | "warning" | "info" | "emergency" | "capacity" | "system";

export interface Alert {
  /** Unique in the list; the event id for alerts from the hub. */
  id: string;
  type: AlertLevel | (string & {});
  /** Event type it came from, or the caller's own label. */
  source: string;
  title: string;
  message: string;
  /** ISO time: the event's clinical timestamp, or when it was added. */
  timestamp: string;
  read: boolean;
  data?: unknown;
  /** The hub event id (alerts from the hub). */
  eventId?: string;
  /** What acknowledge() sends to the hub: the id of the alert event. */
  alertId?: string;
  patientId?: string | null;
  hospitalId?: string | null;
  /** Set by alert_escalated: how many times it was escalated. */
  escalationStep?: number;
  /** The result behind it was withdrawn (alert_data.action 'retract'); shown until removed. */
  retracted?: boolean;
}

export type NewAlert = Omit<Alert, "id" | "read" | "timestamp"> &
  Partial<Pick<Alert, "id" | "read" | "timestamp">>;

export interface AlertStoreOptions {
  /** Event types that become alerts; default patient_alert, hospital_alert, alert_escalated. */
  types?: readonly HubEventType[];
  /** Beyond this, the oldest non-critical alerts are dropped; default 200. */
  maxAlerts?: number;
  /** Dismiss non-critical alerts after this long; default never. */
  autoDismissMs?: number;
  /** Custom mapping of an event to an alert; null skips the event. */
  toAlert?: (event: HubEvent) => NewAlert | null;
}

export interface AlertSnapshot {
  alerts: readonly Alert[];
  unreadCount: number;
}

export type AcknowledgeResult = AckAlertReply | { ok: true; local: true };

export const DEFAULT_ALERT_TYPES: readonly HubEventType[] = [
  "patient_alert",
  "hospital_alert",
  "alert_escalated",
];

/** Alerts a clinician must act on: never dismissed or evicted without a person doing it. */
export function isCritical(alert: Pick<Alert, "type">): boolean {
  return alert.type === "critical" || alert.type === "emergency";
}

function text(data: unknown, key: string): string | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const value = (data as Record<string, unknown>)[key];
  return typeof value === "string" ? value : undefined;
}

/** The seed's mapping: a title naming the patient or hospital, the message from alert_data. */
export function defaultToAlert(event: HubEvent): NewAlert | null {
  switch (event.type) {
    case "patient_alert":
      return {
        id: event.id,
        type: event.alert_type,
        source: event.type,
        title: `Patient ${event.patient_id}`,
        message: text(event.alert_data, "message") ?? event.alert_type,
        timestamp: event.timestamp,
        data: event,
        eventId: event.id,
        alertId: event.id,
        patientId: event.patient_id,
        hospitalId: event.hospital_id ?? null,
      };
    case "hospital_alert":
      return {
        id: event.id,
        type: event.alert_type,
        source: event.type,
        title: `Hospital ${event.hospital_id}`,
        message: text(event.alert_data, "message") ?? event.alert_type,
        timestamp: event.timestamp,
        data: event,
        eventId: event.id,
        alertId: event.id,
        hospitalId: event.hospital_id,
      };
    case "alert_escalated":
      return escalationAlert(event);
    default:
      return {
        id: event.id,
        type: "info",
        source: event.type,
        title: event.type,
        message: "",
        timestamp: event.timestamp,
        data: event,
        eventId: event.id,
      };
  }
}

function escalationAlert(event: AlertEscalated): NewAlert {
  const where = event.patient_id ? `Patient ${event.patient_id}` : `Hospital ${event.hospital_id}`;
  return {
    id: event.id,
    type: event.alert_type,
    source: event.type,
    title: `${where} (escalated, step ${event.step})`,
    message: text(event.alert_data, "message") ?? event.alert_type,
    timestamp: event.timestamp,
    data: event,
    eventId: event.id,
    alertId: event.alert_id,
    patientId: event.patient_id ?? null,
    hospitalId: event.hospital_id ?? null,
    escalationStep: event.step,
  };
}

/** The hub event's alert_data, when the alert came from one. */
function alertData(alert: Pick<Alert, "data">): unknown {
  const data = alert.data;
  return typeof data === "object" && data !== null
    ? (data as { alert_data?: unknown }).alert_data
    : undefined;
}

let localIds = 0;

export class AlertStore {
  private alerts: Alert[] = [];
  private snapshot: AlertSnapshot = { alerts: [], unreadCount: 0 };
  private readonly listeners = new Listeners<[]>();
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private unsubscribe: (() => void)[] = [];

  constructor(
    private readonly client: HubClient,
    private readonly options: AlertStoreOptions = {},
  ) {}

  /** Starts listening to the client; idempotent. */
  start(): void {
    if (this.unsubscribe.length > 0) return;
    const types = new Set<string>(this.options.types ?? DEFAULT_ALERT_TYPES);
    this.unsubscribe = [
      this.client.onAny((event) => {
        // acknowledged from any screen: the alert is dealt with everywhere
        if (event.type === "alert_acknowledged") this.removeByAlertId(event.alert_id);
        else if (types.has(event.type)) this.fromEvent(event);
      }),
    ];
  }

  stop(): void {
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  subscribe = (listener: () => void): (() => void) => this.listeners.add(listener);

  getSnapshot = (): AlertSnapshot => this.snapshot;

  addAlert = (alert: NewAlert): Alert => {
    const full: Alert = {
      ...alert,
      id: alert.id ?? `local-${++localIds}`,
      read: alert.read ?? false,
      timestamp: alert.timestamp ?? new Date().toISOString(),
    };
    if (this.alerts.some((a) => a.id === full.id)) return full;
    this.commit([full, ...this.alerts]);
    this.scheduleDismiss(full);
    return full;
  };

  removeAlert = (id: string): void => {
    this.commit(this.alerts.filter((a) => a.id !== id));
  };

  markRead = (id: string): void => {
    this.commit(this.alerts.map((a) => (a.id === id && !a.read ? { ...a, read: true } : a)));
  };

  markAllRead = (): void => {
    this.commit(this.alerts.map((a) => (a.read ? a : { ...a, read: true })));
  };

  clearAll = (): void => {
    this.commit([]);
  };

  /**
   * Acknowledges at the hub. The alert leaves the list when the reply is ok, and on every
   * other screen when their alert_acknowledged arrives. An alert that never came from the hub
   * (addAlert without alertId) is just removed.
   */
  acknowledge = async (id: string): Promise<AcknowledgeResult> => {
    const alert = this.alerts.find((a) => a.id === id);
    if (!alert?.alertId) {
      this.removeAlert(id);
      return { ok: true, local: true };
    }
    const reply = await this.client.ackAlert(alert.alertId);
    if (reply.ok) this.removeByAlertId(alert.alertId);
    return reply;
  };

  private fromEvent(event: HubEvent): void {
    const mapped = (this.options.toAlert ?? defaultToAlert)(event);
    if (!mapped) return;
    if (event.type === "alert_escalated" && mapped.alertId) {
      // an escalation re-raises the alert it is about rather than adding a second one
      const rest = this.alerts.filter((a) => a.alertId !== mapped.alertId);
      const full: Alert = {
        ...mapped,
        id: mapped.id ?? event.id,
        read: false,
        timestamp: mapped.timestamp ?? event.timestamp,
      };
      this.commit([full, ...rest]);
      return;
    }
    const observation = text(alertData(mapped), "observation");
    const action = text(alertData(mapped), "action");
    if (observation && (action === "supersede" || action === "retract")) {
      this.correct(mapped, observation, action);
      return;
    }
    this.addAlert(mapped);
  }

  /** A result behind earlier alerts was amended or withdrawn (docs/clients.md). */
  private correct(mapped: NewAlert, observation: string, action: "supersede" | "retract"): void {
    const same = (a: Alert): boolean =>
      text(alertData(a), "observation") === observation && a.patientId === mapped.patientId;
    if (action === "supersede") {
      this.commit(this.alerts.filter((a) => !same(a)));
      this.addAlert(mapped);
      return;
    }
    // retract: remove what is shown, except critical alerts, which a person must dismiss
    this.commit(
      this.alerts
        .filter((a) => !same(a) || isCritical(a))
        .map((a) => (same(a) ? { ...a, retracted: true, read: false } : a)),
    );
  }

  private removeByAlertId(alertId: string): void {
    this.commit(this.alerts.filter((a) => a.alertId !== alertId));
  }

  private scheduleDismiss(alert: Alert): void {
    const ms = this.options.autoDismissMs;
    if (ms === undefined || isCritical(alert)) return;
    this.timers.set(alert.id, setTimeout(() => this.removeAlert(alert.id), ms));
  }

  private commit(next: Alert[]): void {
    const max = this.options.maxAlerts ?? 200;
    if (next.length > max) {
      // drop the oldest non-critical ones; critical alerts are never evicted
      let excess = next.length - max;
      const kept: Alert[] = [];
      for (let i = next.length - 1; i >= 0; i--) {
        const a = next[i] as Alert;
        if (excess > 0 && !isCritical(a)) excess -= 1;
        else kept.unshift(a);
      }
      next = kept;
    }
    const ids = new Set(next.map((a) => a.id));
    for (const [id, t] of this.timers) {
      if (!ids.has(id)) {
        clearTimeout(t);
        this.timers.delete(id);
      }
    }
    this.alerts = next;
    this.snapshot = { alerts: next, unreadCount: next.filter((a) => !a.read).length };
    this.listeners.emit();
  }
}
