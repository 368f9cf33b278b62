// AlertStore's list rules, fed events directly. The hub does not emit alert_acknowledged and
// alert_escalated yet, so these feed them by hand; the live paths are in react.test.tsx.
import { describe, expect, it } from "vitest";
import { AlertStore, type HubClient, type HubEvent } from "../src/index.js";
import type { AckAlertReply } from "../src/protocol.js";

const envelope = { version: 1, received_at: "", source: "t", timestamp: "2026-01-01T00:00:00Z" };
let seq = 0;

function event(type: string, fields: Record<string, unknown>): HubEvent {
  seq += 1;
  return { ...envelope, id: `e${seq}`, seq, type, ...fields } as HubEvent;
}

/** Just the two members AlertStore uses; the HubClient itself is tested against a hub. */
function feed(reply: AckAlertReply = { ok: false, error: "not_found" }) {
  let handler: (e: HubEvent) => void = () => {};
  const acked: string[] = [];
  const client = {
    onAny(h: (e: HubEvent) => void) {
      handler = h;
      return () => {};
    },
    async ackAlert(id: string) {
      acked.push(id);
      return reply;
    },
  } as unknown as HubClient;
  return { client, acked, emit: (e: HubEvent) => handler(e) };
}

describe("AlertStore", () => {
  it("removes an alert when it is acknowledged anywhere, critical or not", () => {
    const { client, emit } = feed();
    const store = new AlertStore(client);
    store.start();
    const a = event("patient_alert", { patient_id: "P", alert_type: "critical" });
    const b = event("hospital_alert", { hospital_id: "H", alert_type: "emergency" });
    emit(a);
    emit(b);
    expect(store.getSnapshot().alerts.map((x) => x.id)).toEqual([b.id, a.id]);
    emit(event("alert_acknowledged", { alert_id: a.id, patient_id: "P", acknowledged_by: "n", acknowledged_at: "" }));
    expect(store.getSnapshot().alerts.map((x) => x.id)).toEqual([b.id]);
  });

  it("acknowledge() sends the alert id and removes the alert on an ok reply", async () => {
    const a = event("patient_alert", { patient_id: "P", alert_type: "warning" });
    const ackEvent = event("alert_acknowledged", { alert_id: a.id, acknowledged_by: "n", acknowledged_at: "" });
    const { client, emit, acked } = feed({ ok: true, event: ackEvent as never, duplicate: false });
    const store = new AlertStore(client);
    store.start();
    emit(a);
    const reply = await store.acknowledge(a.id);
    expect(reply.ok).toBe(true);
    expect(acked).toEqual([a.id]);
    expect(store.getSnapshot().alerts).toEqual([]);
  });

  it("keeps the alert when the hub refuses the acknowledgement", async () => {
    const { client, emit } = feed({ ok: false, error: "forbidden" });
    const store = new AlertStore(client);
    store.start();
    const a = event("patient_alert", { patient_id: "P", alert_type: "critical" });
    emit(a);
    expect(await store.acknowledge(a.id)).toEqual({ ok: false, error: "forbidden" });
    expect(store.getSnapshot().alerts).toHaveLength(1);
  });

  it("an escalation re-raises the alert it is about, unread and on top", () => {
    const { client, emit } = feed();
    const store = new AlertStore(client);
    store.start();
    const a = event("patient_alert", { patient_id: "P", alert_type: "critical" });
    const b = event("patient_alert", { patient_id: "Q", alert_type: "info" });
    emit(a);
    emit(b);
    store.markAllRead();
    emit(
      event("alert_escalated", {
        alert_id: a.id,
        patient_id: "P",
        hospital_id: "H",
        step: 1,
        alert_type: "critical",
        alert_data: { message: "no response in 5 min" },
      }),
    );
    const { alerts, unreadCount } = store.getSnapshot();
    expect(alerts.map((x) => [x.alertId, x.escalationStep, x.read])).toEqual([
      [a.id, 1, false],
      [b.id, undefined, true],
    ]);
    expect(unreadCount).toBe(1);
  });

  it("follows corrected results: supersede replaces, retract keeps critical alerts marked", () => {
    const { client, emit } = feed();
    const store = new AlertStore(client);
    store.start();
    const obs = { observation: "Observation/1" };
    emit(event("patient_alert", { patient_id: "P", alert_type: "warning", alert_data: { ...obs, action: "raise" } }));
    const amended = event("patient_alert", {
      patient_id: "P",
      alert_type: "critical",
      alert_data: { ...obs, action: "supersede" },
    });
    emit(amended);
    expect(store.getSnapshot().alerts.map((x) => x.id)).toEqual([amended.id]);
    emit(event("patient_alert", { patient_id: "P", alert_type: "info", alert_data: { ...obs, action: "retract" } }));
    expect(store.getSnapshot().alerts.map((x) => [x.id, x.retracted])).toEqual([[amended.id, true]]);
  });

  it("evicts the oldest non-critical alerts beyond maxAlerts, never critical ones", () => {
    const { client, emit } = feed();
    const store = new AlertStore(client, { maxAlerts: 2 });
    store.start();
    const critical = event("patient_alert", { patient_id: "P", alert_type: "critical" });
    emit(critical);
    const infos = [1, 2, 3].map(() => event("patient_alert", { patient_id: "P", alert_type: "info" }));
    for (const e of infos) emit(e);
    expect(store.getSnapshot().alerts.map((x) => x.id)).toEqual([infos[2]?.id, critical.id]);
  });
});
