// Drives a real hub with the official socket.io-client, the way a clinician UI does.
// Inputs come from the environment; a JSON report goes to stdout for the Python test to check.
import { io } from "socket.io-client";

const env = process.env;
const url = env.HUB_URL;
const H = env.HOSPITAL, P = env.PATIENT, T = env.TRIAGE;
const SIX = ["patient_alert", "risk_updated", "triage_updated", "hospital_alert",
  "staff_availability_changed", "bed_status_changed"];
const report = {};

function connect(token, opts = {}) {
  return io(url, { auth: token === undefined ? undefined : { token }, reconnection: false,
    ...opts });
}

function refused(token) {
  return new Promise((resolve) => {
    const s = connect(token, { transports: ["websocket"] });
    s.on("connect", () => { s.close(); resolve({ connected: true }); });
    s.on("connect_error", (err) => { s.close();
      resolve({ message: err.message, data: err.data, active: s.active }); });
  });
}

async function post(type, body) {
  const r = await fetch(`${url}/api/events/${type}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${env.SERVICE_TOKEN}` },
    body: JSON.stringify(body),
  });
  if (r.status !== 202) throw new Error(`publish ${type}: ${r.status} ${await r.text()}`);
  return r.json();
}

const timeout = (ms) => new Promise((_, rej) => setTimeout(() => rej(new Error("timeout")), ms));

async function main() {
  report.refused_bad = await refused(env.BAD_TOKEN);
  report.refused_missing = await refused(undefined);

  // Default transports: long-polling first, then upgrade, as browsers do.
  const socket = connect(env.NURSE_TOKEN);
  const received = [];
  const connectionResponse = new Promise((res) => socket.once("connection_response", res));
  socket.onAny((event, data) => received.push([event, data]));
  await Promise.race([new Promise((res) => socket.once("connect", res)), timeout(10000)]);
  report.connection_response = await connectionResponse;
  report.joins = {};
  for (const room of [`hospital_${H}`, `patient_${P}`, `triage_${T}`, "triage_queue",
    "hospital_ELSEWHERE", "not_a_room"]) {
    report.joins[room] = await socket.timeout(5000).emitWithAck("join_room", { room });
  }
  const bodies = {
    patient_alert: { patient_id: P, alert_type: "critical", alert_data: { message: "SpO2 84%" } },
    risk_updated: { patient_id: P, risk_score: 0.81, risk_level: "high",
      explanation: { method: "NEWS2", score: 7 } },
    triage_updated: { triage_id: T, status: "triaged", patient_id: P },
    hospital_alert: { hospital_id: H, alert_type: "capacity", alert_data: { message: "ED 96%" } },
    staff_availability_changed: { hospital_id: H, staff_id: "nurse_9", staff_type: "nurse",
      available: false },
    bed_status_changed: { hospital_id: H, bed_info: { bed_id: "B7", status: "cleaning" } },
  };
  const ids = {};
  for (const type of SIX) ids[type] = (await post(type, bodies[type])).id;
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline && !SIX.every((t) => received.some(([e, d]) => e === t && d.id === ids[t]))) {
    await new Promise((r) => setTimeout(r, 20));
  }
  report.transport = socket.io.engine.transport.name;
  report.events = Object.fromEntries(SIX.map((t) => [t,
    received.filter(([e, d]) => e === t && d.id === ids[t]).map(([, d]) => d)]));
  const lastSeq = Math.max(...Object.values(report.events).flat().map((d) => d.seq));
  socket.close();

  // Offline: three more alerts arrive; a new connection resumes from the last seq it saw.
  const missed = [];
  for (let i = 0; i < 3; i++) {
    missed.push((await post("hospital_alert", { hospital_id: H, alert_type: "system",
      alert_data: { n: i } })).id);
  }
  const again = connect(env.NURSE_TOKEN, { transports: ["websocket"] });
  const replayed = [];
  again.on("hospital_alert", (d) => replayed.push(d.id));
  await Promise.race([new Promise((res) => again.once("connect", res)), timeout(10000)]);
  report.resume_ack = await again.timeout(5000).emitWithAck("join_room",
    { room: `hospital_${H}`, since: lastSeq });
  const until = Date.now() + 5000;
  while (Date.now() < until && replayed.length < missed.length) {
    await new Promise((r) => setTimeout(r, 20));
  }
  report.resume = { expected: missed, replayed };
  again.close();
}

main().then(() => { console.log(JSON.stringify(report)); process.exit(0); })
  .catch((err) => { console.log(JSON.stringify({ error: String(err), report })); process.exit(1); });
