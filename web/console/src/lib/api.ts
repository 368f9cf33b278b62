/** The hub's HTTP API as the console uses it (same origin: the hub serves the console). */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {
    super(`${status} ${code}: ${detail}`);
    this.name = "ApiError";
  }
}

export interface Bed {
  bed_id: string;
  status: string;
  hospital_id: string;
  patient_id?: string | null;
  unit?: string | null;
  room?: string | null;
  updated_at?: string;
  seq?: number;
  source?: string;
  [extra: string]: unknown;
}

export interface BedBoard {
  hospital_id: string;
  beds: Bed[];
}

export interface StaffMember {
  staff_id: string;
  staff_type: "doctor" | "nurse" | "other";
  available: boolean;
  unit?: string | null;
  updated_at?: string;
  seq?: number;
  source?: string;
}

export interface StaffList {
  hospital_id: string;
  on_duty: Record<string, number>;
  on_duty_total: number;
  staff: StaffMember[];
}

export type TriageStatus = "pending" | "triaged" | "assigned" | "completed" | "cancelled";

export interface TriageCase {
  triage_id: string;
  patient_id: string;
  hospital_id: string | null;
  status: TriageStatus;
  priority: number | null;
  /** When the case entered its current status. */
  since: string;
  /** When the hub first heard of the case. */
  opened_at: string;
  updated_at?: string;
  details?: Record<string, unknown>;
  seq?: number;
}

export interface TriageList {
  hospital_id: string;
  seq: number;
  complete: boolean;
  cases: TriageCase[];
}

export interface HistoryPage {
  room: string;
  next_since: number;
  truncated: boolean;
  more: boolean;
  events: Array<Record<string, unknown>>;
}

export interface InboundEntry {
  id: number;
  source: string;
  status: string;
  error: string | null;
  received_at: string;
  bytes: number;
}

export interface InboundList {
  entries: InboundEntry[];
  next_since: number;
}

export interface RateCount {
  total: number;
  per_min: number;
}

export interface OpsInput {
  name: string;
  kind: string;
  healthy: boolean;
  problem: string | null;
  problems: string[];
  last_activity: string | null;
  max_silence_s: number | null;
}

export interface OpsStatus {
  node: { name: string; node_id: string; version: string; uptime_s: number };
  journal: { backend: string; last_seq: number };
  inputs: OpsInput[];
  messages: {
    window_s: number;
    events: RateCount & { by_type: Record<string, RateCount> };
    inputs: RateCount & { by_adapter_outcome: Record<string, RateCount> };
    input_errors: RateCount & { by_adapter_reason: Record<string, RateCount> };
    deliveries: RateCount & { by_mode: Record<string, RateCount> };
    duplicates: number;
    plugin_errors: number;
  };
  inbound_errors: { count: number; capped: boolean; list: string };
  realtime: {
    connected_clients: number;
    rooms: number | null;
    rooms_by_kind: Record<string, number> | null;
  };
}

/** A patient_alert as the hub delivers it, with its latest escalation when it was escalated. */
export type OpenAlertEvent = Record<string, unknown> & {
  id: string;
  seq: number;
  type: string;
  timestamp: string;
  patient_id: string;
  hospital_id?: string | null;
  alert_type: string;
  alert_data?: Record<string, unknown>;
  escalation?: { step: number; escalate_to: string };
};

/** `GET /api/alerts?hospital=H`: the hospital's patient alerts still open, newest first. */
export interface OpenAlerts {
  hospital_id: string;
  /** The start of the window looked at (ISO time). */
  since: string;
  /** The journal position the list is as of. */
  seq: number;
  alerts: OpenAlertEvent[];
}

type Fetch = typeof fetch;

export interface HubApi {
  beds(hospital: string): Promise<BedBoard>;
  staff(hospital: string): Promise<StaffList>;
  triage(hospital: string): Promise<TriageList>;
  /** The hospital's open patient alerts of the last `hours` (default 24). */
  openAlerts(hospital: string, hours?: number): Promise<OpenAlerts>;
  history(room: string, since?: number, limit?: number): Promise<HistoryPage>;
  /** A room's events from `since`, page after page, at most `maxPages`. */
  historyAll(
    room: string,
    since?: number,
    maxPages?: number,
  ): Promise<{ events: Array<Record<string, unknown>>; truncated: boolean; more: boolean }>;
  inbound(status: string, limit?: number): Promise<InboundList>;
  reprocess(id: number): Promise<InboundEntry>;
  opsStatus(): Promise<OpsStatus>;
}

export function createApi(token: string, base = "", fetcher: Fetch = fetch): HubApi {
  async function request<T>(method: string, path: string): Promise<T> {
    let response: Response;
    try {
      response = await fetcher(`${base}${path}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
        cache: "no-store",
      });
    } catch (err) {
      throw new ApiError(0, "network", err instanceof Error ? err.message : String(err));
    }
    const text = await response.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!response.ok) {
      const b = (body ?? {}) as { error?: unknown; detail?: unknown };
      throw new ApiError(
        response.status,
        typeof b.error === "string" ? b.error : "http_error",
        typeof b.detail === "string" ? b.detail : response.statusText || text.slice(0, 200),
      );
    }
    return body as T;
  }
  const q = encodeURIComponent;
  return {
    beds: (h) => request("GET", `/api/hospitals/${q(h)}/beds`),
    staff: (h) => request("GET", `/api/hospitals/${q(h)}/staff`),
    triage: (h) => request("GET", `/api/triage?hospital=${q(h)}`),
    openAlerts: (h, hours = 24) => request("GET", `/api/alerts?hospital=${q(h)}&hours=${hours}`),
    history: (room, since = 0, limit = 1000) =>
      request("GET", `/api/events?room=${q(room)}&since=${since}&limit=${limit}`),
    async historyAll(room, since = 0, maxPages = 5) {
      const events: Array<Record<string, unknown>> = [];
      let truncated = false;
      let more = false;
      let position = since;
      for (let page = 0; page < maxPages; page++) {
        const result = await this.history(room, position, 1000);
        events.push(...result.events);
        truncated ||= result.truncated;
        more = result.more;
        position = result.next_since;
        if (!result.more) break;
      }
      return { events, truncated, more };
    },
    inbound: (status, limit = 100) => request("GET", `/api/inbound?status=${q(status)}&limit=${limit}`),
    reprocess: (id) => request("POST", `/api/inbound/${id}/reprocess`),
    opsStatus: () => request("GET", "/api/ops/status"),
  };
}
