/**
 * A stand-in for the client library's HubClient in component tests: the members the React
 * bindings use, with `emit` to deliver hub events and `setState` / `resume` for the connection.
 */
import type { AckAlertReply, ConnectionState, HubClient, HubEvent } from "@clinical-hub/client";

type Handler = (event: HubEvent) => void;

export class FakeHub {
  state: ConnectionState = "connected";
  connection = { status: "connected", sid: "s1", user_id: "nurse-1", role: "nurse", hospitals: ["H1"], seq: 100 };
  joined: string[] = [];
  acked: string[] = [];
  ackReply: (alertId: string) => AckAlertReply = (alertId) => ({
    ok: true,
    duplicate: false,
    event: {
      id: `ack-${alertId}`,
      seq: 999,
      type: "alert_acknowledged",
      version: 1,
      timestamp: "2030-01-01T12:00:00Z",
      received_at: "2030-01-01T12:00:00Z",
      source: "console",
      alert_id: alertId,
      patient_id: "P1",
      hospital_id: "H1",
      alert_type: "critical",
      acknowledged_by: "nurse-1",
      acknowledged_role: "nurse",
      acknowledged_at: "2030-01-01T12:00:00Z",
    },
  });
  private typed = new Map<string, Set<Handler>>();
  private any = new Set<Handler>();
  private stateListeners = new Set<(s: ConnectionState, p: ConnectionState) => void>();
  private resumedListeners = new Set<(i: { room: string; missed: number; truncated: boolean }) => void>();
  private errorListeners = new Set<(e: unknown) => void>();

  asClient(): HubClient {
    return this as unknown as HubClient;
  }

  emit(event: Record<string, unknown> & { type: string }): void {
    const e = event as unknown as HubEvent;
    for (const h of [...(this.typed.get(event.type) ?? [])]) h(e);
    for (const h of [...this.any]) h(e);
  }

  setState(next: ConnectionState): void {
    const previous = this.state;
    this.state = next;
    for (const l of [...this.stateListeners]) l(next, previous);
  }

  resume(room: string, missed: number, truncated = false): void {
    for (const l of [...this.resumedListeners]) l({ room, missed, truncated });
  }

  on(type: string, handler: Handler): () => void {
    const set = this.typed.get(type) ?? new Set();
    set.add(handler);
    this.typed.set(type, set);
    return () => set.delete(handler);
  }
  off(type: string, handler: Handler): void {
    this.typed.get(type)?.delete(handler);
  }
  onAny(handler: Handler): () => void {
    this.any.add(handler);
    return () => this.any.delete(handler);
  }
  onStateChange(l: (s: ConnectionState, p: ConnectionState) => void): () => void {
    this.stateListeners.add(l);
    return () => this.stateListeners.delete(l);
  }
  onResumed(l: (i: { room: string; missed: number; truncated: boolean }) => void): () => void {
    this.resumedListeners.add(l);
    return () => this.resumedListeners.delete(l);
  }
  onError(l: (e: unknown) => void): () => void {
    this.errorListeners.add(l);
    return () => this.errorListeners.delete(l);
  }
  async ackAlert(alertId: string): Promise<AckAlertReply> {
    this.acked.push(alertId);
    return this.ackReply(alertId);
  }
  async joinRoom(room: string) {
    this.joined.push(room);
    return { ok: true as const, room, seq: 100 };
  }
  async leaveRoom(room: string) {
    this.joined = this.joined.filter((r) => r !== room);
    return { ok: true as const, room };
  }
  joinPatientRoom = (id: string) => this.joinRoom(`patient_${id}`);
  leavePatientRoom = (id: string) => this.leaveRoom(`patient_${id}`);
  joinHospitalRoom = (id: string) => this.joinRoom(`hospital_${id}`);
  leaveHospitalRoom = (id: string) => this.leaveRoom(`hospital_${id}`);
  joinTriageRoom = (id: string) => this.joinRoom(`triage_${id}`);
  leaveTriageRoom = (id: string) => this.leaveRoom(`triage_${id}`);
  joinTriageQueue = () => this.joinRoom("triage_queue");
  leaveTriageQueue = () => this.leaveRoom("triage_queue");
}

let seq = 0;

export function patientAlert(id: string, alert_type: string, patient: string, hospital: string, at: string, message = `${alert_type} ${patient}`) {
  return {
    id,
    seq: ++seq,
    type: "patient_alert",
    version: 1,
    timestamp: at,
    received_at: at,
    source: "test",
    patient_id: patient,
    hospital_id: hospital,
    alert_type,
    alert_data: { message },
  };
}

export function hospitalAlert(id: string, alert_type: string, hospital: string, at: string, message = `${alert_type} ${hospital}`) {
  return {
    id,
    seq: ++seq,
    type: "hospital_alert",
    version: 1,
    timestamp: at,
    received_at: at,
    source: "test",
    hospital_id: hospital,
    alert_type,
    alert_data: { message },
  };
}
