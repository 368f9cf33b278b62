// Connecting, joining, typed delivery, dedupe across rooms, and the token paths, against a
// real hub.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  createHubClient,
  HubError,
  SocketService,
  type ConnectionState,
  type HubClient,
  type HubClientOptions,
  type PatientAlert,
  type ResumeInfo,
  type TriageUpdated,
} from "../src/index.js";
import { sleep, TestHub, uid, waitFor } from "./hub.js";

let hub: TestHub;
let clients: HubClient[] = [];

beforeAll(async () => {
  hub = await new TestHub().start();
});
afterEach(() => {
  for (const c of clients) c.disconnect();
  clients = [];
});
afterAll(async () => {
  await hub?.dispose();
});

function client(options: Partial<HubClientOptions>): HubClient {
  const c = createHubClient({ url: hub.url, token: "", reconnectionDelayMs: 200, ...options });
  clients.push(c);
  return c;
}

describe("connect and receive", () => {
  it("connects, joins a patient room and receives a typed patient_alert", async () => {
    const P = uid("P");
    const token = await hub.token({ sub: "nurse-1", role: "nurse", patients: [P] });
    const c = client({ token });
    const states: ConnectionState[] = [];
    c.onStateChange((s) => states.push(s));
    const alerts: PatientAlert[] = [];
    c.on("patient_alert", (e) => {
      // typed from the generated schema: these would not compile on a wrong field
      const patient: string = e.patient_id;
      const level: "critical" | "warning" | "info" = e.alert_type;
      expect([patient, level]).toHaveLength(2);
      alerts.push(e);
    });

    await c.connect();
    expect(c.isConnected()).toBe(true);
    expect(c.connection?.user_id).toBe("nurse-1");
    const reply = await c.joinPatientRoom(P);
    expect(reply).toMatchObject({ ok: true, room: `patient_${P}` });

    const posted = await hub.post("patient_alert", {
      patient_id: P,
      alert_type: "critical",
      alert_data: { message: "SpO2 84%" },
    });
    await waitFor(() => alerts.length === 1, "the alert");
    const [alert] = alerts;
    expect(alert).toMatchObject({
      id: posted.id,
      seq: posted.seq,
      type: "patient_alert",
      patient_id: P,
      alert_type: "critical",
      alert_data: { message: "SpO2 84%" },
    });
    expect(c.lastSeq(`patient_${P}`)).toBe(posted.seq);
    expect(states).toEqual(["connecting", "connected"]);
    c.disconnect();
    expect(c.state).toBe("disconnected");
  });

  it("joins rooms requested before connect, and reports refused joins", async () => {
    const H = uid("H");
    const token = await hub.token({ sub: "nurse-2", role: "nurse", hospitals: [H] });
    const c = client({ token });
    const errors: HubError[] = [];
    c.onError((e) => errors.push(e));
    const early = c.joinHospitalRoom(H);
    const denied = c.joinHospitalRoom("ELSEWHERE");
    await c.connect();
    expect(await early).toMatchObject({ ok: true, room: `hospital_${H}` });
    expect(await denied).toMatchObject({ ok: false, error: "forbidden" });
    expect(errors.map((e) => [e.kind, e.reason, e.room])).toEqual([
      ["join", "forbidden", "hospital_ELSEWHERE"],
    ]);
    // a forbidden room is not rejoined after reconnects
    expect(c.rooms()).toEqual([`hospital_${H}`]);
  });

  it("delivers an event in three joined rooms once and advances all three", async () => {
    const P = uid("P");
    const T = uid("T");
    const token = await hub.token({ sub: "triage-1", role: "triage", patients: [P] });
    const c = client({ token });
    const got: TriageUpdated[] = [];
    c.on("triage_updated", (e) => {
      if (e.triage_id === T) got.push(e);
    });
    // triage_T is authorized through its patient, so the hub must know the case first
    await hub.post("triage_updated", { triage_id: T, status: "pending", patient_id: P });
    await c.connect();
    for (const reply of await Promise.all([
      c.joinTriageRoom(T),
      c.joinPatientRoom(P),
      c.joinTriageQueue(),
    ])) {
      expect(reply.ok).toBe(true);
    }
    const posted = await hub.post("triage_updated", {
      triage_id: T,
      status: "triaged",
      patient_id: P,
      priority: 2,
    });
    await waitFor(() => got.length === 1, "the triage update");
    await sleep(200);
    expect(got).toHaveLength(1);
    for (const room of [`triage_${T}`, `patient_${P}`, "triage_queue"]) {
      expect(c.lastSeq(room)).toBe(posted.seq);
    }
  });

  it("never hands a replayed event to handlers twice (replay overlap across rooms)", async () => {
    const P = uid("P");
    const T = uid("T");
    const token = await hub.token({ sub: "triage-2", role: "triage", patients: [P] });
    const c = client({ token });
    const seen: string[] = [];
    c.onAny((e) => {
      if (e.type === "triage_updated" && e.triage_id === T) seen.push(`${e.type}:${e.seq}`);
      if (e.type === "patient_alert" && e.patient_id === P) seen.push(`${e.type}:${e.seq}`);
    });
    const resumed: ResumeInfo[] = [];
    c.onResumed((r) => resumed.push(r));
    await c.connect();
    await c.joinPatientRoom(P);
    await c.joinTriageQueue();
    const e1 = await hub.post("triage_updated", { triage_id: T, status: "pending", patient_id: P });
    await waitFor(() => seen.length === 1, "the live event");

    c.disconnect();
    // missed while offline: e2 is in both rooms, so each room's replay carries it
    const e2 = await hub.post("triage_updated", { triage_id: T, status: "triaged", patient_id: P });
    const e3 = await hub.post("patient_alert", { patient_id: P, alert_type: "warning" });
    await c.connect();
    await waitFor(() => resumed.length === 2, "both rooms resumed");
    await sleep(200);
    expect(seen).toEqual([
      `triage_updated:${e1.seq}`,
      `triage_updated:${e2.seq}`,
      `patient_alert:${e3.seq}`,
    ]);
    expect(resumed.sort((a, b) => a.room.localeCompare(b.room))).toEqual([
      { room: `patient_${P}`, missed: 2, truncated: false },
      { room: "triage_queue", missed: 1, truncated: false },
    ]);

    // asking for the whole history again replays what was seen: still nothing new
    const again = await c.joinRoom(`patient_${P}`, { since: 0 });
    expect(again).toMatchObject({ ok: true, replayed: 3 });
    await sleep(200);
    expect(seen).toHaveLength(3);
  });
});

describe("authentication", () => {
  it("surfaces a refused token as state 'disconnected' plus onError", async () => {
    const c = client({ token: "not-a-jwt" });
    const errors: HubError[] = [];
    c.onError((e) => errors.push(e));
    const states: ConnectionState[] = [];
    c.onStateChange((s) => states.push(s));
    const failure = await c.connect().then(
      () => null,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(HubError);
    expect(failure).toMatchObject({ kind: "auth", code: 401, reason: "malformed token" });
    expect(errors.map((e) => [e.kind, e.code, e.reason])).toEqual([["auth", 401, "malformed token"]]);
    expect(states).toEqual(["connecting", "disconnected"]);
    expect(c.isConnected()).toBe(false);
    await sleep(500);
    expect(c.state).toBe("disconnected"); // no reconnect loop with a refused token
  });

  it("reports a token function that fails, and the hub's 'missing token'", async () => {
    const c = client({
      token: () => {
        throw new Error("not logged in");
      },
    });
    const errors: HubError[] = [];
    c.onError((e) => errors.push(e));
    await expect(c.connect()).rejects.toMatchObject({ kind: "auth", reason: "missing token" });
    expect(errors.map((e) => [e.kind, e.reason])).toEqual([
      ["token", "not logged in"],
      ["auth", "missing token"],
    ]);
    expect(c.state).toBe("disconnected");
  });

  it("asks the token function again when the hub refuses an expired token", async () => {
    const expired = await hub.token({ sub: "stale", role: "nurse", ttl: "1s" });
    const fresh = await hub.token({ sub: "fresh", role: "nurse" });
    await sleep(2100);
    let calls = 0;
    const c = client({ token: async () => (++calls === 1 ? expired : fresh) });
    const errors: HubError[] = [];
    c.onError((e) => errors.push(e));
    await c.connect();
    expect(calls).toBe(2);
    expect(c.connection?.user_id).toBe("fresh");
    expect(errors).toEqual([]);
  });

  it("refreshes the token when the hub closes the connection at expiry, and resumes", async () => {
    const H = uid("H");
    const short = await hub.token({ sub: "short", role: "nurse", hospitals: [H], ttl: "3s" });
    const long = await hub.token({ sub: "long", role: "nurse", hospitals: [H] });
    const issued: string[] = [];
    const c = client({
      token: () => {
        const token = issued.length === 0 ? short : long;
        issued.push(token);
        return token;
      },
    });
    const states: ConnectionState[] = [];
    c.onStateChange((s) => states.push(s));
    const resumed: ResumeInfo[] = [];
    c.onResumed((r) => resumed.push(r));
    const alerts: string[] = [];
    c.on("hospital_alert", (e) => alerts.push(e.id));

    await c.connect();
    expect(c.connection?.user_id).toBe("short");
    await c.joinHospitalRoom(H);
    // the hub disconnects when the 3 s token expires; the client reconnects with a new one
    await waitFor(() => resumed.length === 1, "the reconnect after expiry", 15_000);
    expect(issued).toEqual([short, long]);
    expect(c.connection?.user_id).toBe("long");
    expect(states).toEqual(["connecting", "connected", "reconnecting", "connected"]);
    expect(resumed).toEqual([{ room: `hospital_${H}`, missed: 0, truncated: false }]);

    const posted = await hub.post("hospital_alert", { hospital_id: H, alert_type: "capacity" });
    await waitFor(() => alerts.includes(posted.id), "an event on the new connection");
  });
});

describe("SocketService", () => {
  it("is a singleton whose handlers survive connect and disconnect", async () => {
    SocketService.resetInstance();
    const service = SocketService.getInstance();
    expect(SocketService.getInstance()).toBe(service);
    const H = uid("H");
    const got: string[] = [];
    const off = service.on("staff_availability_changed", (e) => got.push(e.staff_id));
    const token = await hub.token({ sub: "nurse-s", role: "nurse", hospitals: [H] });
    try {
      await service.connect({ url: hub.url, token });
      expect((await service.joinHospitalRoom(H)).ok).toBe(true);
      await hub.post("staff_availability_changed", {
        hospital_id: H,
        staff_id: "nurse_9",
        staff_type: "nurse",
        available: false,
      });
      await waitFor(() => got.length === 1, "the staff event");
      off();
      await hub.post("staff_availability_changed", {
        hospital_id: H,
        staff_id: "nurse_10",
        staff_type: "nurse",
        available: true,
      });
      await sleep(300);
      expect(got).toEqual(["nurse_9"]);
    } finally {
      SocketService.resetInstance();
    }
  });
});

describe("acknowledging alerts", () => {
  it("acks a patient alert: every client hears alert_acknowledged once, a second ack is a duplicate", async () => {
    const P = uid("P");
    const H = uid("H");
    const posted = await hub.post("patient_alert", {
      patient_id: P,
      hospital_id: H,
      alert_type: "critical",
      alert_data: { message: "Potassium 6.9 mmol/L (critical high)" },
    });
    const first = client({ token: await hub.token({ sub: "nurse-a", role: "nurse", hospitals: [H] }) });
    const second = client({ token: await hub.token({ sub: "nurse-b", role: "nurse", hospitals: [H] }) });
    const heard: string[] = [];
    second.on("alert_acknowledged", (e) => heard.push(`${e.alert_id}:${e.acknowledged_by}`));
    for (const c of [first, second]) {
      await c.connect();
      expect((await c.joinPatientRoom(P)).ok).toBe(true);
      expect((await c.joinHospitalRoom(H)).ok).toBe(true);
    }

    const reply = await first.ackAlert(posted.id, "seen");
    expect(reply.ok).toBe(true);
    if (!reply.ok) return;
    expect(reply.duplicate).toBe(false);
    expect(reply.event).toMatchObject({ alert_id: posted.id, acknowledged_by: "nurse-a", note: "seen" });
    // in both rooms the event goes to, yet handed to the handler once
    await waitFor(() => heard.length === 1, "the acknowledgement on the other screen");
    await sleep(300);
    expect(heard).toEqual([`${posted.id}:nurse-a`]);

    const again = await second.ackAlert(posted.id);
    expect(again).toMatchObject({ ok: true, duplicate: true });
    expect(await second.ackAlert("no-such-alert")).toMatchObject({ ok: false, error: "not_found" });
  });
});
