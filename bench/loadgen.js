#!/usr/bin/env node
// Socket.IO load generator for bench/fanout.py.
//
//   node bench/loadgen.js '<json config>'
//
// Opens `count` socket.io-client v4 connections (WebSocket transport only, offering
// permessage-deflate unless deflate=false), each joining room `rooms[i % rooms.length]`, then
// talks JSON lines: it prints {"msg":"joined",...} once every client has connected and joined (or
// failed), and answers commands read from stdin, one JSON object a line:
//   {"cmd":"reset"}                                   zero the delivery counters and histogram
//   {"cmd":"wait","per_room":{room:n},"timeout_ms":t} reply {"msg":"done",...} once every client
//                                                     has n more events of its room, or at t
//   {"cmd":"close"}                                   disconnect everything and exit
// Latency = receipt time - event.bed_info.sent_ms (epoch ms stamped by the publisher), kept as
// a sparse histogram: 0.1 ms buckets below 10 s, 1 ms above (key >= 100000).
// Only 127.0.0.1 URLs are accepted. Every wait is bounded by a timeout.
"use strict";

const { io } = require("socket.io-client");
const readline = require("readline");
const { performance } = require("perf_hooks");

const cfg = JSON.parse(process.argv[2] || "{}");
const url = cfg.url || "http://127.0.0.1:5055";
if (!/^http:\/\/127\.0\.0\.1:\d+\/?$/.test(url)) {
  console.error(`loadgen: refusing non-loopback url ${url}`);
  process.exit(2);
}
const count = cfg.count | 0;
const firstIndex = cfg.first_index | 0;
const rooms = cfg.rooms || ["hospital_H0"];
const token = cfg.token || "";
const deflate = cfg.deflate !== false;
const concurrency = Math.max(1, cfg.connect_concurrency | 0 || 100);
const connectTimeoutMs = cfg.connect_timeout_ms || 20000;
const phaseTimeoutMs = cfg.phase_timeout_ms || 180000;
const since = cfg.since === undefined ? null : cfg.since;
const eventTypes = cfg.event_types || ["bed_status_changed"];

const now = () => performance.timeOrigin + performance.now();
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const clients = []; // {socket, room, count, lastSeq, joined}
let hist = new Map();
let delivered = 0;
let firstRecv = null;
let lastRecv = null;
let outOfOrder = 0;
let noStamp = 0;
let disconnects = 0;
const disconnectReasons = {};
let waiter = null;

function record(client, ev) {
  const t = now();
  delivered++;
  client.count++;
  if (firstRecv === null) firstRecv = t;
  lastRecv = t;
  if (ev && typeof ev.seq === "number") {
    if (ev.seq <= client.lastSeq) outOfOrder++;
    client.lastSeq = ev.seq;
  }
  const sent = ev && ev.bed_info && ev.bed_info.sent_ms;
  if (typeof sent === "number") {
    const lat = Math.max(0, t - sent);
    const key = lat < 10000 ? Math.floor(lat * 10) : 100000 + Math.floor(lat);
    hist.set(key, (hist.get(key) || 0) + 1);
  } else {
    noStamp++;
  }
  if (waiter) waiter.check();
}

function openOne(i) {
  return new Promise((resolve) => {
    const room = rooms[(firstIndex + i) % rooms.length];
    const client = { socket: null, room, count: 0, lastSeq: -1, joined: false, ext: null };
    const t0 = now();
    let settled = false;
    const finish = (ok, err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ok, err, client, t0, t1: now() });
    };
    const timer = setTimeout(() => finish(false, "connect+join timeout"), connectTimeoutMs);
    const socket = io(url, {
      transports: ["websocket"],
      auth: { token },
      reconnection: false,
      forceNew: true,
      timeout: connectTimeoutMs,
      // What ws offers in the handshake: "permessage-deflate; client_max_window_bits", as browsers.
      perMessageDeflate: deflate ? { threshold: 0 } : false,
    });
    client.socket = socket;
    for (const type of eventTypes) socket.on(type, (ev) => record(client, ev));
    socket.on("connect_error", (e) => finish(false, `connect_error: ${e && e.message}`));
    socket.on("disconnect", (reason) => {
      if (client.joined) {
        disconnects++;
        disconnectReasons[reason] = (disconnectReasons[reason] || 0) + 1;
      }
      finish(false, `disconnect: ${reason}`);
    });
    socket.on("connect", () => {
      try {
        const ws = socket.io.engine.transport.ws;
        client.ext = ws && typeof ws.extensions === "string" ? ws.extensions : null;
      } catch (_) {
        client.ext = null;
      }
      const msg = { room };
      if (since !== null) msg.since = since;
      socket.timeout(phaseTimeoutMs).emit("join_room", msg, (err, ack) => {
        if (err) return finish(false, `join timeout`);
        if (!ack || ack.ok !== true) return finish(false, `join refused: ${JSON.stringify(ack)}`);
        client.joined = true;
        finish(true, null);
      });
    });
    clients.push(client);
  });
}

async function connectAll() {
  const start = now();
  let next = 0;
  let joined = 0;
  let lastAck = start;
  const errors = {};
  const lanes = [];
  for (let l = 0; l < Math.min(concurrency, count); l++) {
    lanes.push(
      (async () => {
        while (next < count && now() - start < phaseTimeoutMs) {
          const r = await openOne(next++);
          if (r.ok) {
            joined++;
            if (r.t1 > lastAck) lastAck = r.t1;
          } else {
            errors[r.err] = (errors[r.err] || 0) + 1;
          }
        }
      })()
    );
  }
  await Promise.all(lanes);
  const exts = {};
  for (const c of clients) {
    if (!c.joined) continue;
    const k = c.ext === null ? "(unknown)" : c.ext || "(none)";
    exts[k] = (exts[k] || 0) + 1;
  }
  out({
    msg: "joined",
    joined,
    failed: count - joined,
    errors,
    connect_start_ms: start,
    connect_end_ms: lastAck,
    deflate_offered: deflate,
    extensions: exts,
    delivered,
  });
}

function stats(extra) {
  const h = {};
  for (const [k, v] of hist) h[k] = v;
  let minCount = Infinity;
  let live = 0;
  for (const c of clients) {
    if (!c.joined || !c.socket.connected) continue;
    live++;
    if (c.count < minCount) minCount = c.count;
  }
  return Object.assign(
    {
      delivered,
      first_recv_ms: firstRecv,
      last_recv_ms: lastRecv,
      out_of_order: outOfOrder,
      no_stamp: noStamp,
      disconnects,
      disconnect_reasons: disconnectReasons,
      live,
      min_count: live ? minCount : 0,
      hist: h,
    },
    extra || {}
  );
}

function reset() {
  hist = new Map();
  delivered = 0;
  firstRecv = null;
  lastRecv = null;
  outOfOrder = 0;
  noStamp = 0;
  for (const c of clients) c.count = 0;
}

function wait(perRoom, timeoutMs) {
  let expected = 0;
  for (const c of clients) if (c.joined) expected += perRoom[c.room] || 0;
  const deadline = setTimeout(() => done(true), Math.min(timeoutMs || 60000, 600000));
  function done(timedOut) {
    if (!waiter) return;
    waiter = null;
    clearTimeout(deadline);
    out(Object.assign({ msg: "done", expected, timed_out: timedOut }, stats()));
  }
  waiter = {
    check() {
      // Every live client has all of its room's events, or the total is reached.
      if (delivered >= expected) done(false);
    },
  };
  // Connections dropped meanwhile can never complete: re-check periodically.
  const poll = setInterval(() => {
    if (!waiter) return clearInterval(poll);
    let need = 0;
    for (const c of clients) if (c.joined && c.socket.connected) need += perRoom[c.room] || 0;
    if (delivered >= need) {
      clearInterval(poll);
      done(false);
    }
  }, 500);
  waiter.check();
}

function closeAll() {
  for (const c of clients) {
    try {
      c.socket.close();
    } catch (_) {}
  }
  setTimeout(() => process.exit(0), 200);
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (_) {
    return;
  }
  if (cmd.cmd === "reset") {
    reset();
    out({ msg: "reset" });
  } else if (cmd.cmd === "wait") wait(cmd.per_room || {}, cmd.timeout_ms);
  else if (cmd.cmd === "stats") out(Object.assign({ msg: "stats" }, stats()));
  else if (cmd.cmd === "close") closeAll();
});
rl.on("close", () => closeAll()); // parent went away: do not linger
setTimeout(() => {
  console.error("loadgen: hard time limit reached, exiting");
  process.exit(3);
}, cfg.max_lifetime_ms || 900000).unref();

connectAll().catch((e) => {
  console.error(e);
  process.exit(1);
});
