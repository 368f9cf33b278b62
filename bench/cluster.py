"""One hub node against two, on this machine: MLLP ingest, Socket.IO fan-out, cross-node latency.

Every configuration on PostgreSQL gets a fresh database (created on 127.0.0.1:5432 as user
``postgres``, dropped after); the Redis bus uses 127.0.0.1:6379. Nodes are ``hub serve``
processes started with environment overrides only (``bench/mllp_ingest.start_hub_process``),
all with the same signing secret. Three parts, each selectable with ``--only``:

a. MLLP ingest, messages/s: 8 connections, each sending its next HL7 ADT^A01 only when the
   previous one's ACK arrived (the load generator of ``bench/mllp_ingest.py``), for
   ``--duration`` s per configuration, after a warm-up:
     - 1 node on SQLite (the embedded default: the reference),
     - 1 node on PostgreSQL,
     - 2 nodes on PostgreSQL, bus=postgres (LISTEN/NOTIFY) and bus=redis, the connections split
       4+4 across the two nodes' MLLP ports.
   Reported: total messages/s, ACK p50/p99, every ACK checked (AA, control id echoed), journal
   commits per message (from each node's /metrics), and where the CPU went over the window:
   each node's CPU (and its CPU µs per message it took in), PostgreSQL's processes, Redis,
   the load generator (this process), anything else running on the machine ("other"), and the
   machine's busy time out of its total (2 cores x wall time); and what the journal database's
   sessions were doing (``pg_stat_activity`` sampled every 20 ms: running, waiting for the
   node inside a transaction, for the seq lock, for a WAL flush).
b. Fan-out deliveries/s, 1 node against 2 (PostgreSQL, bus=redis): ``--b-clients`` (400) Node
   ``socket.io-client`` connections (``bench/loadgen.js``, WebSocket, two Node processes in
   both configurations) in ``--b-rooms`` (4) hospital rooms, split evenly across the nodes;
   ``bed_status_changed`` events are POSTed to node A only, paced at each of ``--b-rates``
   (100, 200, 400, 800) events/s for ``--b-seconds`` (5) s, after a warm-up. Deliveries/s =
   deliveries to all clients / (last receipt - first publish); latency = receipt - the
   publisher's stamp in the event, p50/p99 over all clients (and per node: on node B it
   includes the Redis hop). Offered deliveries/s = rate x clients per room.
c. Cross-node latency at each of ``--c-rates`` (1,000 and 500) events/s for ``--duration`` s:
   an event accepted by node B, received by a Socket.IO client on node A
   (``bench/cross_node.run_load``), for bus=postgres and bus=redis, each with the same-node
   baseline (published to and received on node A). Target: cross-node p99 <= 50 ms at 1,000
   events/s. 500/s shows the cross-node hop with the publishing node well below saturation.

CPU placement (``--pin``). The machine has 2 cores and a 2-node run has at least five busy
processes (two nodes, PostgreSQL backends, the load generator, Redis), so the nodes share the
cores with the load generator and the database whatever is done: pinning cannot give any of
them a core of its own. Default ``none``: nothing is pinned, in every configuration, so 1 node
and 2 nodes run under the same rules and the scheduler balances the load (the 1-node SQLite
figure is then not the pinned one of ``bench/mllp_ingest.py``). ``--pin nodes``: node i is
pinned to CPU i (a single node to CPU 0), and the load generator, PostgreSQL and Redis float.
Part c is never pinned (as ``bench/cross_node.py``).

    npm ci --prefix bench                           # socket.io-client for part b
    .venv/bin/python bench/cluster.py --quick       # smoke run, about 2 minutes
    .venv/bin/python bench/cluster.py               # full run, 10 s per point, ~4 minutes
    .venv/bin/python bench/cluster.py --only c --duration 20

Each journal starts with ``--prefill`` (100,000) events of history (journaled once per run,
then copied: a template database, a file copy) and a PostgreSQL one is analyzed, as on a hub
that has been running: on an empty, never analyzed database, PostgreSQL caches a plan for the
journal's id lookup that scans the whole events table, and every batch would pay for it until
autovacuum analyzes the table (``--prefill 0`` shows it).

Other work on the machine shows as "other" CPU in every table: a figure taken while it was high
is not comparable with the rest (run again, or with ``--only``).

Writes JSON to ``bench/results/cluster[-<only>][-quick].json`` (``--json`` to choose). Only
127.0.0.1 is used; children run in their own process groups and are killed on exit, Ctrl-C or
SIGTERM; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

import cross_node  # noqa: E402  (fresh_database, journal_env, run_load)
import fanout  # noqa: E402  (Node load generators, publisher, latency histograms)
import mllp_ingest as mllp  # noqa: E402  (node start-up, MLLP load generator, /proc readings)

RESULTS = BENCH / "results"
PARTS = ("a", "b", "c")
TARGET_RATE = 1000.0  # cross-node p99 <= 50 ms at 1,000 events/s
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- CPU accounting --------------------------------------------------------------------------


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy / CLK_TCK, (busy + idle + iowait) / CLK_TCK


def pids_by_comm(*names: str) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() in names:
                        out.append(int(entry))
            except OSError:
                continue
    return out


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def own_cpu(pid: int) -> float | None:
    try:
        return mllp.cpu_seconds(pid)
    except (OSError, IndexError, ValueError):
        return None


class Meter:
    """CPU seconds per group of processes over a window, this process included as ``self_as``,
    and the machine's busy time; ``other`` is busy time no group accounts for (other work on
    the machine, the kernel's interrupt handling).

    A thread reads the groups' processes every ``interval`` s: one that starts within the
    window counts from zero, one that ends in it with what it had used when last seen (the
    asyncpg pool replaces a connection after 50,000 queries, so under load the journal's
    PostgreSQL backends do come and go)."""

    def __init__(
        self, groups: dict[str, Callable[[], list[int]]], self_as: str, interval: float = 0.25
    ) -> None:
        self.groups, self.self_as, self.interval = groups, self_as, interval
        self.first: dict[str, dict[int, float]] = {}
        self.last: dict[str, dict[int, float]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self, first: bool = False) -> None:
        for name, pids in self.groups.items():
            for pid in pids():
                cpu = own_cpu(pid)
                if cpu is None:
                    continue
                if first:
                    self.first[name][pid] = cpu
                self.last[name][pid] = cpu

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> None:
        self.first = {name: {} for name in self.groups}
        self.last = {name: {} for name in self.groups}
        self._sample(first=True)
        self.self0 = mllp.self_cpu()
        self.busy0, self.total0 = machine_cpu()
        self.t0 = time.perf_counter()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="meter", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        wall = time.perf_counter() - self.t0
        busy1, total1 = machine_cpu()
        secs: dict[str, float] = {}
        for name, last in self.last.items():
            first = self.first[name]
            secs[name] = sum(cpu - first.get(pid, 0.0) for pid, cpu in last.items())
        secs[self.self_as] = secs.get(self.self_as, 0.0) + mllp.self_cpu() - self.self0
        busy = busy1 - self.busy0
        return {
            "wall_s": round(wall, 3),
            "cpu_s": {k: round(v, 3) for k, v in secs.items()},
            "other_s": round(max(0.0, busy - sum(secs.values())), 3),
            "machine_busy_s": round(busy, 3),
            "machine_capacity_s": round(total1 - self.total0, 3),
        }


def pct(seconds: float | None, wall: float) -> float | None:
    return None if seconds is None or not wall else round(100 * seconds / wall, 1)


# --- journal history -------------------------------------------------------------------------


def history_event(n: int, tag: str = "history") -> Any:
    """A ``hospital_alert`` event as the hub builds one (without the validation cost)."""
    from hub.events import Event, iso, utc_now

    now = iso(utc_now())
    return Event.model_construct(
        id=f"{tag}-{n}",
        seq=0,
        type="hospital_alert",
        version=1,
        timestamp=now,
        received_at=now,
        source="api",
        rooms=(f"hospital_H{n % 10}",),
        data={
            "hospital_id": f"H{n % 10}",
            "alert_type": "system",
            "alert_data": {"n": n, "note": "x" * 200},
        },
        patient_location=None,
    )


async def analyze(dsn: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def prefill(backend: str, where: Any, events: int, batch: int = 1000) -> dict[str, Any]:
    """Journal ``events`` events of history through the journal itself (in batches, not
    durable: only their presence matters), then, on PostgreSQL, VACUUM ANALYZE, as autovacuum
    would have done on a running hub. ``where``: the SQLite file, or the PostgreSQL DSN.

    Why: on a fresh PostgreSQL database every connection caches, while the events table is
    still nearly empty, a plan for the journal's id lookup (``SELECT id, body FROM events
    WHERE id = ANY($1)``) that scans the whole table, and keeps it until the table is next
    analyzed (autovacuum: up to a minute later); a 10 s run then reads an ever larger table on
    every batch. With history and statistics the lookup uses the unique index, as it would in
    production."""
    if events <= 0:
        return {"events": 0}
    t0 = time.perf_counter()
    if backend == "sqlite":
        from hub.journal.sqlite import SQLiteJournal

        journal: Any = SQLiteJournal(Path(where), durable=False)
    else:
        from hub.journal.postgres import PostgresJournal

        journal = PostgresJournal(where, durable=False)
    await journal.open()
    try:
        for start in range(0, events, batch):
            await journal.append(
                [history_event(n) for n in range(start, min(events, start + batch))]
            )
            if backend == "postgresql" and start == 10 * batch:
                await analyze(where)  # early statistics, so the rest of the fill is quick too
    finally:
        await journal.close()
    if backend == "postgresql":
        await analyze(where)
    return {"events": events, "seconds": round(time.perf_counter() - t0, 2)}


class History:
    """A journal with ``events`` events of history (``prefill``), made once per backend and
    run, then copied for every configuration: a template database, or a file copy."""

    def __init__(self, events: int, tmp: Path) -> None:
        self.events, self.tmp = events, tmp
        self._sqlite: Path | None = None
        self._pg: Any = None  # the template database's context manager
        self._pg_name: str | None = None

    async def sqlite(self, dest: Path) -> None:
        """A journal file at ``dest`` (its directory exists), with the history in it."""
        if self.events <= 0:
            return
        if self._sqlite is None:
            path = Path(tempfile.mkdtemp(prefix="history-", dir=self.tmp)) / "journal.sqlite3"
            print(f"  (journaling {self.events:,} events of history into SQLite)", flush=True)
            await prefill("sqlite", path, self.events)
            self._sqlite = path
        await asyncio.to_thread(shutil.copyfile, self._sqlite, dest)

    @contextlib.asynccontextmanager
    async def postgres(self, prefix: str) -> Any:
        """A fresh database (its DSN) holding the history, dropped on exit."""
        if self.events > 0 and self._pg_name is None:
            self._pg = cross_node.fresh_database(f"{prefix}_history")
            dsn = await self._pg.__aenter__()
            print(f"  (journaling {self.events:,} events of history into PostgreSQL)", flush=True)
            await prefill("postgresql", dsn, self.events)
            self._pg_name = dsn.rsplit("/", 1)[1]
        async with cross_node.fresh_database(prefix, template=self._pg_name) as dsn:
            if self._pg_name:
                # a journal of its own: its own Redis channel (hub:journal:<cluster_id>)
                import asyncpg

                conn = await asyncpg.connect(dsn, timeout=5)
                try:
                    await conn.execute(
                        "UPDATE meta SET value = floor(random() * 9.0e15)::bigint"
                        " WHERE key = 'cluster_id'"
                    )
                finally:
                    await conn.close()
            yield dsn

    async def close(self) -> None:
        if self._pg is not None:
            await self._pg.__aexit__(None, None, None)
            self._pg = self._pg_name = None


# --- nodes -----------------------------------------------------------------------------------


@dataclass
class Node:
    label: str
    proc: asyncio.subprocess.Process
    port: int
    mllp_port: int
    secret: str
    workdir: Path
    database: str | None = None  # the PostgreSQL journal's database name

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def as_fanout_server(self) -> fanout.Server:
        return fanout.Server("hub", self.port, self.proc, self.workdir, self.secret, Path())


async def start_nodes(
    count: int, env: dict[str, str], tmp: Path, pin: bool, secret: str | None = None
) -> list[Node]:
    """``count`` hub processes, started one after another (the first migrates the schema)."""
    secret = secret or secrets.token_hex(20)
    nodes: list[Node] = []
    try:
        for i in range(count):
            label = "AB"[i]
            mllp_port = mllp.free_port()
            settings = {"hl7_mllp": {"listeners": [{"name": "default", "port": mllp_port}]}}
            node_opts = SimpleNamespace(pin=pin, server_cpu=i)
            proc, port, _, workdir = await mllp.start_hub_process(
                node_opts,  # type: ignore[arg-type]
                tmp,
                f"node-{label}-",
                settings,
                {**env, "HUB_CLUSTER__NODE_ID": f"bench-{label}"},
                secret=secret,
            )
            nodes.append(Node(label, proc, port, mllp_port, secret, workdir))
    except BaseException:
        await stop_nodes(nodes)
        raise
    return nodes


async def stop_nodes(nodes: list[Node]) -> None:
    for node in nodes:
        await mllp.terminate(node.proc)


def node_problems(nodes: list[Node]) -> dict[str, list[str]]:
    """Tracebacks and errors in the nodes' logs (none expected)."""
    out = {}
    for node in nodes:
        try:
            lines = (node.workdir / "server.log").read_text(errors="replace").splitlines()
        except OSError:
            continue
        bad = [ln[:300] for ln in lines if any(w in ln for w in ("Traceback", "ERROR", "rror:"))]
        if bad:
            out[node.label] = bad[:10]
    return out


@contextlib.asynccontextmanager
async def configuration(backend: str, bus: str, nodes: int, extra_env: dict[str, str], opts: Any):
    """A fresh journal (SQLite file per node, or one new PostgreSQL database) and its nodes."""
    env = dict(extra_env)
    database = None
    async with contextlib.AsyncExitStack() as stack:
        if backend == "postgresql":
            dsn = await stack.enter_async_context(opts.history.postgres("hub_cluster"))
            env.update(cross_node.journal_env(dsn, bus, opts.redis_url))
            database = dsn.rsplit("/", 1)[1]
        else:
            # one node only: its journal file, with the history in it
            path = Path(tempfile.mkdtemp(prefix="sqlite-", dir=opts.tmp)) / "journal.sqlite3"
            await opts.history.sqlite(path)
            env["HUB_JOURNAL__PATH"] = str(path)
        started = await start_nodes(nodes, env, opts.tmp, opts.pin == "nodes")
        for node in started:
            node.database = database
        try:
            yield started
        finally:
            await stop_nodes(started)
            problems = node_problems(started)
            if problems:
                print(f"  node log problems: {json.dumps(problems)[:1500]}", flush=True)


def groups_for(nodes: list[Node], extra: dict[str, Callable[[], list[int]]]) -> dict[str, Any]:
    groups: dict[str, Callable[[], list[int]]] = {}
    for node in nodes:
        groups[f"node {node.label}"] = lambda pid=node.pid: [pid]
    groups["postgres"] = lambda: pids_by_comm("postgres")
    groups["redis"] = lambda: pids_by_comm("redis-server")
    groups.update(extra)
    return groups


class PgSessions:
    """Samples ``pg_stat_activity`` for the journal's database every ``interval`` s: what the
    nodes' sessions are doing (on CPU, waiting for the seq lock, for a WAL flush, idle in a
    transaction while the node works, ...). ``stop`` gives the mean number of sessions in each
    state over the samples, idle ones left out: by Little's law, where transactions spend time.
    """

    QUERY = (
        "SELECT state, wait_event_type, wait_event FROM pg_stat_activity"
        " WHERE datname = $1 AND pid <> pg_backend_pid()"
    )

    def __init__(self, database: str | None, interval: float = 0.02) -> None:
        self.database, self.interval = database, interval
        self.counts: Counter[str] = Counter()
        self.samples = 0
        self.task: asyncio.Task[None] | None = None

    @staticmethod
    def classify(state: str | None, wtype: str | None, event: str | None) -> str | None:
        if state in (None, "idle"):
            return None
        if state.startswith("idle in transaction"):
            return "in transaction, waiting for the node"
        if wtype is None:
            return "running (CPU)"
        if wtype == "Lock" and event == "advisory":
            return "waiting for the seq lock"
        if wtype == "IO" and event in ("WALSync", "WALWrite"):
            return "writing/syncing WAL"
        if wtype == "LWLock" and event in ("WALWrite", "WALInsert"):
            return "waiting for another's WAL flush"
        if wtype == "Client":
            return f"client: {event}"
        return f"{wtype}: {event}"

    async def _run(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(cross_node.SERVER_DSN, timeout=5)
        try:
            while True:
                rows = await conn.fetch(self.QUERY, self.database)
                self.samples += 1
                for row in rows:
                    kind = self.classify(*row)
                    if kind:
                        self.counts[kind] += 1
                await asyncio.sleep(self.interval)
        finally:
            await conn.close()

    def start(self) -> None:
        if self.database:
            self.task = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, float]:
        if self.task is None:
            return {}
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task
        n = max(1, self.samples)
        return {k: round(v / n, 2) for k, v in self.counts.most_common()} | {
            "samples": self.samples
        }


# --- a: MLLP ingest --------------------------------------------------------------------------

A_CONFIGS = {
    "sqlite-1": ("sqlite", "postgres", 1),
    "pg-1": ("postgresql", "postgres", 1),
    "pg-2-notify": ("postgresql", "postgres", 2),
    "pg-2-redis": ("postgresql", "redis", 2),
}
A_LABELS = {
    "sqlite-1": "SQLite, 1 node",
    "pg-1": "PostgreSQL, 1 node",
    "pg-2-notify": "PostgreSQL, 2 nodes, bus=postgres",
    "pg-2-redis": "PostgreSQL, 2 nodes, bus=redis",
}


async def part_a(opts: Any) -> list[dict[str, Any]]:
    out = []
    for name in opts.a_configs:
        backend, bus, count = A_CONFIGS[name]
        print(f"[a] {A_LABELS[name]} ...", flush=True)
        try:
            out.append(await a_one(name, backend, bus, count, opts))
        except Exception as exc:
            print(f"  failed: {type(exc).__name__}: {exc}", flush=True)
            out.append({"config": name, "error": f"{type(exc).__name__}: {exc}"[:2000]})
    return out


async def a_one(name: str, backend: str, bus: str, count: int, opts: Any) -> dict[str, Any]:
    per_node = opts.connections // count
    conns = [per_node + (1 if i < opts.connections % count else 0) for i in range(count)]
    tag = secrets.token_hex(2)
    async with configuration(backend, bus, count, {}, opts) as nodes:
        load_opts = [
            argparse.Namespace(connections=k, msg_timeout=30.0, max_errors=100) for k in conns
        ]
        await asyncio.gather(
            *(
                mllp.run_throughput(n.mllp_port, False, lo, tag, f"W{n.label}", opts.warmup, 60)
                for n, lo in zip(nodes, load_opts, strict=True)
            )
        )
        await asyncio.sleep(0.5)
        servers = [SimpleNamespace(http_port=n.port) for n in nodes]
        jm0 = [await mllp.journal_metrics(s) for s in servers]  # type: ignore[arg-type]
        meter = Meter(groups_for(nodes, {}), "loadgen")
        sessions = PgSessions(nodes[0].database)
        meter.start()
        sessions.start()
        runs = await asyncio.gather(
            *(
                mllp.run_throughput(
                    n.mllp_port, False, lo, tag, f"T{n.label}", 10**9, opts.duration
                )
                for n, lo in zip(nodes, load_opts, strict=True)
            )
        )
        cpu = meter.stop()
        pg_sessions = await sessions.stop()
        jm1 = [await mllp.journal_metrics(s) for s in servers]  # type: ignore[arg-type]
    wall = cpu["wall_s"]
    total = sum(r["acked"] for r in runs)
    per: list[dict[str, Any]] = []
    for node, k, run, before, after in zip(nodes, conns, runs, jm0, jm1, strict=True):
        node_cpu = cpu["cpu_s"][f"node {node.label}"]
        per.append(
            {
                "node": node.label,
                "connections": k,
                "msgs": run["acked"],
                "msgs_per_s": run["msgs_per_s"],
                "ack_ms": run["ack_ms"],
                "errors": run["errors"],
                "not_aa": run["not_aa"],
                "cpu_s": node_cpu,
                "cpu_pct": pct(node_cpu, wall),
                "cpu_us_per_msg": round(1e6 * node_cpu / max(1, run["acked"]), 1),
                "journal": mllp.journal_delta(before, after, run["acked"]),
            }
        )
    # ACK percentiles over every connection: each run's are over its own; recombine exactly
    # is not possible from percentiles, so report the worst node's (equal with one node).
    latencies = {p: max(r["ack_ms"].get(p, 0) for r in runs) for p in ("p50", "p90", "p99", "max")}
    res = {
        "config": name,
        "label": A_LABELS[name],
        "backend": backend,
        "bus": bus if backend == "postgresql" else None,
        "nodes": count,
        "connections": conns,
        "msgs": total,
        "msgs_per_s": round(total / max(r["elapsed_s"] for r in runs), 1),
        "ack_ms_worst_node": latencies,
        "all_aa": all(not r["not_aa"] and not r["errors"] for r in runs) and total > 0,
        "per_node": per,
        "cpu": cpu,
        "pg_sessions": pg_sessions,
        "cpu_us_per_msg": {
            k: round(1e6 * v / max(1, total), 1) for k, v in {**cpu["cpu_s"]}.items()
        }
        | {
            "other": round(1e6 * cpu["other_s"] / max(1, total), 1),
            "machine": round(1e6 * cpu["machine_busy_s"] / max(1, total), 1),
        },
    }
    print(
        f"  {res['msgs_per_s']:,.0f} msgs/s ("
        + ", ".join(f"{p['node']}: {p['msgs_per_s']:,.0f}/s {p['cpu_pct']}% CPU" for p in per)
        + f"), ACK p99 {latencies['p99']} ms, all AA: {res['all_aa']}, machine busy "
        f"{pct(cpu['machine_busy_s'], wall)}% of one core",
        flush=True,
    )
    return res


# --- b: fan-out ------------------------------------------------------------------------------

B_CONFIGS = {"pg-1-redis": 1, "pg-2-redis": 2}
B_LABELS = {"pg-1-redis": "PostgreSQL, 1 node", "pg-2-redis": "PostgreSQL, 2 nodes, bus=redis"}
FANOUT_ENV = {
    "HUB_REALTIME__TRANSPORTS": "websocket",
    "HUB_REALTIME__JOIN_RATE_PER_S": "1000",
    "HUB_REALTIME__JOIN_BURST": "1000",
}


async def part_b(opts: Any) -> list[dict[str, Any]]:
    out = []
    for name, count in B_CONFIGS.items():
        print(f"[b] {B_LABELS[name]}: {opts.b_clients} clients ...", flush=True)
        try:
            out.extend(await b_one(name, count, opts))
        except Exception as exc:
            print(f"  failed: {type(exc).__name__}: {exc}", flush=True)
            out.append({"config": name, "error": f"{type(exc).__name__}: {exc}"[:2000]})
    return out


async def b_one(name: str, count: int, opts: Any) -> list[dict[str, Any]]:
    fopts = argparse.Namespace(
        client_deflate=True,  # offered as browsers do; the hub declines it
        connect_concurrency=100,
        client_cpu="0-1",  # the load generators float over both cores
    )
    clients = [
        opts.b_clients // count + (1 if i < opts.b_clients % count else 0) for i in range(count)
    ]
    rooms = opts.b_rooms
    results = []
    async with configuration("postgresql", "redis", count, FANOUT_ENV, opts) as nodes:
        servers = [n.as_fanout_server() for n in nodes]
        fleets: list[fanout.Fleet] = []
        try:
            for server, c in zip(servers, clients, strict=True):
                # two Node processes in all, in both configurations
                fleet = await fanout.connect_fleet(
                    server, c, rooms, fopts, loadgens=2 // count, timeout=opts.phase_timeout
                )
                fleets.append(fleet)
            joined = [fanout.join_summary(f) for f in fleets]
            if sum(j["joined"] for j in joined) != opts.b_clients:
                raise RuntimeError(f"not every client joined: {joined}")
            pub = fanout.Publisher(servers[0], opts.b_in_flight)
            loadgen_pids = [g.proc.pid for f in fleets for g in f.gens]
            meter = Meter(groups_for(nodes, {"clients": lambda: loadgen_pids}), "clients")
            try:
                # a short warm-up at a low rate (connections, pools, the loadgens' JIT), until
                # every client has it, so that none of it is counted below
                await pub.paced([i % rooms for i in range(rooms * 5)], 50, 64)
                await asyncio.gather(*(f.wait(dict(pub.ok_per_room), 30) for f in fleets))
                for rate in opts.b_rates:
                    await asyncio.gather(*(f.reset() for f in fleets))
                    ok0, err0 = Counter(pub.ok_per_room), Counter(pub.errors)
                    pub.rtts.clear()
                    n = int(rate * opts.b_seconds)
                    meter.start()
                    t0 = time.time()
                    pace = await pub.paced([i % rooms for i in range(n)], rate, opts.b_in_flight)
                    per_room = dict(pub.ok_per_room - ok0)
                    reports = await asyncio.gather(
                        *(f.wait(per_room, opts.phase_timeout) for f in fleets)
                    )
                    cpu = meter.stop()
                    res = b_result(name, count, clients, rooms, rate, n, t0, reports, cpu)
                    res.update(pace, **pub.rtt_summary())
                    res["publish_errors"] = dict(pub.errors - err0)
                    res["events"] = sum(per_room.values())
                    res["join"] = joined
                    results.append(res)
                    print(
                        f"  {rate:,.0f} events/s ({res['offered_deliveries_per_s']:,.0f} "
                        f"deliveries/s offered): {res['deliveries_per_s']:,.0f} deliveries/s, "
                        f"p50 {res['p50_ms']} ms p99 {res['p99_ms']} ms, delivered "
                        f"{res['delivered']:,}/{res['expected']:,}",
                        flush=True,
                    )
            finally:
                await pub.close()
        finally:
            for f in fleets:
                await f.stop()
    return results


def b_result(
    name: str,
    count: int,
    clients: list[int],
    rooms: int,
    rate: float,
    events: int,
    t0: float,
    reports: list[list[dict[str, Any]]],
    cpu: dict[str, Any],
) -> dict[str, Any]:
    done = fanout.combine_done([r for rs in reports for r in rs])
    last = (done["last_recv_ms"] or time.time() * 1000) / 1000
    span = max(1e-3, last - t0)
    wall = cpu["wall_s"]
    per_node = []
    for label, rs in zip("AB", reports, strict=False):
        d = fanout.combine_done(rs)
        per_node.append(
            {
                "node": label,
                "delivered": d["delivered"],
                "expected": d["expected"],
                "p50_ms": d["p50_ms"],
                "p99_ms": d["p99_ms"],
                "max_ms": d["max_ms"],
                "cpu_pct": pct(cpu["cpu_s"][f"node {label}"], wall),
                "cpu_us_per_delivery": round(
                    1e6 * cpu["cpu_s"][f"node {label}"] / max(1, d["delivered"]), 1
                ),
            }
        )
    return {
        "config": name,
        "label": B_LABELS[name],
        "nodes": count,
        "clients": clients,
        "rooms": rooms,
        "rate": rate,
        "offered_deliveries_per_s": round(rate * sum(clients) / rooms),
        "planned_events": events,
        "deliveries_per_s": round(done["delivered"] / span, 1),
        "delivery_span_s": round(span, 2),
        **{k: done[k] for k in ("delivered", "expected", "timed_out", "out_of_order")},
        **{k: done[k] for k in ("disconnects", "p50_ms", "p90_ms", "p99_ms", "max_ms")},
        "per_node": per_node,
        "cpu": cpu,
        "cpu_us_per_delivery": {
            k: round(1e6 * v / max(1, done["delivered"]), 1) for k, v in cpu["cpu_s"].items()
        },
    }


# --- c: cross-node latency -------------------------------------------------------------------


async def part_c(opts: Any) -> list[dict[str, Any]]:
    out = []
    for bus in ("postgres", "redis"):
        rates = ", ".join(f"{r:,.0f}" for r in opts.c_rates)
        print(f"[c] bus={bus}: {rates} events/s, {opts.duration:g} s each ...", flush=True)
        try:
            async with configuration("postgresql", bus, 2, {}, opts) as nodes:
                a, b = nodes
                meter = Meter(groups_for(nodes, {}), "client+publisher")
                # warm-up, not reported: the nodes' first requests, pools, the client's join
                await cross_node.run_load(b.url, a.url, a.secret, 200, 1)
                for rate in opts.c_rates:
                    for path, pub in (("same node (A -> A)", a), ("cross-node (B -> A)", b)):
                        meter.start()
                        r = await cross_node.run_load(pub.url, a.url, a.secret, rate, opts.duration)
                        r["cpu"] = meter.stop()
                        r.update(bus=bus, path=path, rate=rate)
                        out.append(r)
                        ms = r["ms"]
                        print(
                            f"  {rate:,.0f}/s {path}: received {r['received']}/{r['sent']}, "
                            f"p50 {ms.get('p50')} ms p99 {ms.get('p99')} ms max {ms.get('max')} "
                            f"ms, other CPU {pct(r['cpu']['other_s'], r['cpu']['wall_s'])}%",
                            flush=True,
                        )
        except Exception as exc:
            print(f"  failed: {type(exc).__name__}: {exc}", flush=True)
            out.append({"bus": bus, "error": f"{type(exc).__name__}: {exc}"[:2000]})
    return out


# --- report ----------------------------------------------------------------------------------


def table(head: list[str], rows: list[list[Any]]) -> None:
    """Print rows under head, the first column left-aligned, the others right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in [head, *cells] if i < len(r)) for i in range(len(head))]
    for row in [head, *cells]:
        parts = [
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=False))
        ]
        print("  ".join(parts))


def f0(v: Any) -> str:
    return "-" if v is None else f"{v:,.0f}"


def f1(v: Any) -> str:
    return "-" if v is None or v != v else f"{v:,.1f}"


def cpu_cells(cpu: dict[str, Any], per_unit: float, names: list[str]) -> list[str]:
    wall = cpu["wall_s"]
    out = []
    for name in names:
        s = cpu["cpu_s"].get(name) if name not in ("other", "machine") else None
        if name == "other":
            s = cpu["other_s"]
        elif name == "machine":
            s = cpu["machine_busy_s"]
        if s is None:
            out.append("-")
        else:
            out.append(f"{pct(s, wall):.0f}% / {1e6 * s / max(1, per_unit):,.0f}")
    return out


def report_a(results: list[dict[str, Any]], opts: Any) -> None:
    print(
        f"\n== a. MLLP ingest: {opts.connections} connections, each waiting for its ACK; "
        f"{opts.duration:g} s per configuration; pin={opts.pin} =="
    )
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["config"], "ERROR " + r["error"][:80]])
            continue
        per = r["per_node"]
        rows.append(
            [
                r["label"],
                "+".join(str(k) for k in r["connections"]),
                f0(r["msgs_per_s"]),
                " / ".join(f0(p["msgs_per_s"]) for p in per),
                f"{r['ack_ms_worst_node'].get('p50')}",
                f"{r['ack_ms_worst_node'].get('p99')}",
                "yes" if r["all_aa"] else "NO",
                " / ".join(f1(p["journal"].get("commits_per_msg")) for p in per),
                " / ".join(f1(p["journal"].get("commit_ms_mean")) for p in per),
                " / ".join(f0(p["cpu_us_per_msg"]) for p in per),
            ]
        )
    table(
        [
            "configuration",
            "conns",
            "msgs/s",
            "per node",
            "ACK p50",
            "ACK p99",
            "all AA",
            "commits/msg",
            "commit ms",
            "node CPU µs/msg",
        ],
        [r for r in rows if len(r) > 2],
    )
    for r in rows:
        if len(r) == 2:
            print(f"{r[0]}: {r[1]}")
    names = ["node A", "node B", "postgres", "redis", "loadgen", "other", "machine"]
    print(
        "\nwhere the CPU went, a: % of one core over the window / CPU µs per message "
        "(all messages; 'machine' = all busy time, out of 200% on 2 cores)"
    )
    table(
        ["configuration", *names],
        [[r["label"], *cpu_cells(r["cpu"], r["msgs"], names)] for r in results if "error" not in r],
    )
    print(
        "ACK latencies: of the node with the higher one. node CPU µs/msg: a node's CPU over the "
        "messages it took in itself; with 2 nodes it includes applying the other node's commits."
    )
    states: list[str] = []
    for r in results:
        for k in r.get("pg_sessions", {}):
            if k != "samples" and k not in states:
                states.append(k)
    if states:
        print(
            "\nPostgreSQL sessions of the journal database, mean number in each state "
            "(pg_stat_activity sampled every 20 ms; idle sessions left out)"
        )
        table(
            ["configuration", *states],
            [
                [r["label"], *(f"{r['pg_sessions'].get(k, 0):.2f}" for k in states)]
                for r in results
                if r.get("pg_sessions")
            ],
        )


def report_b(results: list[dict[str, Any]], opts: Any) -> None:
    print(
        f"\n== b. fan-out: {opts.b_clients} WebSocket clients in {opts.b_rooms} rooms, split "
        f"evenly across the nodes; events POSTed to node A for {opts.b_seconds:g} s per rate; "
        f"PostgreSQL, bus=redis; pin={opts.pin} =="
    )
    rows = []
    for r in results:
        if "error" in r:
            print(f"{r['config']}: ERROR {r['error'][:200]}")
            continue
        rows.append(
            [
                r["label"],
                "+".join(str(c) for c in r["clients"]),
                f0(r["rate"]),
                f0(r["offered_deliveries_per_s"]),
                f0(r["deliveries_per_s"]),
                f"{r['delivered']:,}/{r['expected']:,}",
                f1(r["p50_ms"]),
                f1(r["p99_ms"]),
                " / ".join(f"{f1(p['p50_ms'])}, {f1(p['p99_ms'])}" for p in r["per_node"]),
                f1(r.get("publish_rtt_p99_ms")),
            ]
        )
    table(
        [
            "configuration",
            "clients",
            "events/s",
            "offered deliv/s",
            "deliv/s",
            "delivered",
            "p50 ms",
            "p99 ms",
            "per node p50, p99",
            "POST p99",
        ],
        rows,
    )
    names = ["node A", "node B", "postgres", "redis", "clients", "other", "machine"]
    print(
        "\nwhere the CPU went, b: % of one core / CPU µs per delivery "
        "('clients' = the Node load generators + the publisher)"
    )
    table(
        ["configuration", "events/s", *names],
        [
            [r["label"], f0(r["rate"]), *cpu_cells(r["cpu"], r["delivered"], names)]
            for r in results
            if "error" not in r
        ],
    )


def report_c(results: list[dict[str, Any]], opts: Any) -> dict[str, Any]:
    print(
        f"\n== c. cross-node latency: events/s as given, {opts.duration:g} s each; the client on "
        "node A; 2 nodes on PostgreSQL, nothing pinned =="
    )
    rows = []
    verdicts = {}
    for r in results:
        if "error" in r:
            print(f"bus={r['bus']}: ERROR {r['error'][:200]}")
            continue
        ms = r["ms"]
        wall = r["cpu"]["wall_s"]
        pub = "node B" if r["path"].startswith("cross") else "node A"
        rows.append(
            [
                f"bus={r['bus']}",
                f0(r["rate"]),
                r["path"],
                f"{r['received']:,}/{r['sent']:,}",
                f1(ms.get("p50")),
                f1(ms.get("p90")),
                f1(ms.get("p99")),
                f1(ms.get("max")),
                f"{pct(r['cpu']['machine_busy_s'], wall):.0f}%",
                f"{pct(r['cpu']['other_s'], wall):.0f}%",
                f"{pct(r['cpu']['cpu_s'][pub], wall):.0f}%",
            ]
        )
        if r["path"].startswith("cross") and r["rate"] == TARGET_RATE:
            p99 = ms.get("p99", float("inf"))
            met = p99 <= 50 and r["received"] == r["sent"]
            verdicts[r["bus"]] = {"p99_ms": p99, "met": met}
    table(
        [
            "bus",
            "events/s",
            "path",
            "received",
            "p50",
            "p90",
            "p99",
            "max ms",
            "machine busy",
            "other CPU",
            "publishing node CPU",
        ],
        rows,
    )
    print(
        "machine busy: of 200% (2 cores); other CPU: work on the machine outside the nodes, "
        "PostgreSQL, Redis and this process; the publishing node takes the POSTs and journals"
    )
    for bus, v in verdicts.items():
        print(
            f"target cross-node p99 <= 50 ms at {TARGET_RATE:,.0f}/s, bus={bus}: "
            f"{v['p99_ms']} ms -> {'met' if v['met'] else 'NOT met'}"
        )
    return verdicts


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0] if __doc__ else None,
        epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--duration", type=float, default=None, help="seconds per point in a and c (10)")
    p.add_argument("--only", choices=PARTS, action="append", help="run only this part (repeatable)")
    p.add_argument("--quick", action="store_true", help="smoke run: 3 s points, 100 clients")
    p.add_argument(
        "--pin",
        choices=["none", "nodes"],
        default="none",
        help="CPU placement: see below (default none)",
    )
    p.add_argument("--json", metavar="PATH", help="JSON output (default under bench/results/)")
    p.add_argument("--keep-tmp", action="store_true", help="keep the nodes' logs and journals")
    p.add_argument("--redis-url", default=cross_node.REDIS_URL)
    p.add_argument(
        "--prefill",
        type=int,
        default=None,
        help="events of history journaled before each configuration starts (100,000; --quick "
        "20,000; 0: none); see prefill()",
    )
    g = p.add_argument_group("a: MLLP ingest")
    g.add_argument("--connections", type=int, default=8)
    g.add_argument("--warmup", type=int, default=None, help="messages per node first (500)")
    g.add_argument(
        "--a-configs",
        default=",".join(A_CONFIGS),
        help=f"comma list of {', '.join(A_CONFIGS)}",
    )
    g = p.add_argument_group("b: fan-out")
    g.add_argument("--b-clients", type=int, default=None, help="clients over all nodes (400)")
    g.add_argument("--b-rooms", type=int, default=4, help="rooms (4: 100 clients each)")
    g.add_argument("--b-rates", default=None, help="events/s to POST, comma list (100,200,400,800)")
    g.add_argument("--b-seconds", type=float, default=None, help="seconds per rate (5)")
    g.add_argument("--b-in-flight", type=int, default=64, help="most POSTs in flight")
    g = p.add_argument_group("c: cross-node latency")
    g.add_argument(
        "--c-rates",
        default="1000,500",
        help="events/s, comma list (1000,500): the target's rate, and one at which the "
        "publishing node is not near saturation",
    )
    p.add_argument("--phase-timeout", type=float, default=120, help="seconds per wait")
    opts = p.parse_args(argv)
    q = opts.quick
    opts.duration = opts.duration or (3.0 if q else 10.0)
    opts.warmup = opts.warmup if opts.warmup is not None else (200 if q else 500)
    opts.prefill = opts.prefill if opts.prefill is not None else (20_000 if q else 100_000)
    opts.b_clients = opts.b_clients or (100 if q else 400)
    opts.b_seconds = opts.b_seconds or (2.0 if q else 5.0)
    opts.b_rates = [
        float(x) for x in (opts.b_rates or ("100,400" if q else "100,200,400,800")).split(",")
    ]
    opts.c_rates = [float(x) for x in opts.c_rates.split(",") if x.strip()]
    opts.a_configs = [c.strip() for c in opts.a_configs.split(",") if c.strip()]
    for c in opts.a_configs:
        if c not in A_CONFIGS:
            p.error(f"unknown configuration {c}")
    opts.parts = opts.only or list(PARTS)
    if opts.json is None:
        suffix = ("-" + "".join(opts.only)) if opts.only else ""
        opts.json = str(RESULTS / f"cluster{suffix}{'-quick' if q else ''}.json")
    return opts


def preflight(opts: argparse.Namespace) -> None:
    if not mllp.HUB_BIN.exists():
        sys.exit(f"{mllp.HUB_BIN} not found: run with the project's venv python")
    if "b" in opts.parts and not (BENCH / "node_modules" / "socket.io-client").exists():
        sys.exit("bench/node_modules missing: run `npm ci --prefix bench` first")
    if opts.pin == "nodes" and (os.cpu_count() or 1) < 2:
        sys.exit("--pin nodes needs 2 CPUs")


async def amain(opts: argparse.Namespace) -> int:
    opts.tmp = Path(tempfile.mkdtemp(prefix="hub-cluster-"))
    opts.history = History(opts.prefill, opts.tmp)
    info = mllp.machine_info()
    with contextlib.suppress(Exception):
        info["libs"] = fanout.machine_info()["libs"]
        info["node"] = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    with contextlib.suppress(Exception):
        import asyncpg

        conn = await asyncpg.connect(cross_node.SERVER_DSN, timeout=5)
        try:
            info["postgres"] = await conn.fetchval("SHOW server_version")
            info["postgres_fsync"] = {
                k: await conn.fetchval(f"SHOW {k}")
                for k in ("synchronous_commit", "wal_sync_method", "fsync")
            }
        finally:
            await conn.close()
    dirty = " (hub/ has uncommitted changes)" if info.get("hub_uncommitted") else ""
    print(
        f"hub {info.get('hub_commit')}{dirty}; "
        f"{info.get('cpus')} x {info.get('cpu_model')}, {info.get('mem_gib')} GiB; Python "
        f"{info.get('python')}; PostgreSQL {info.get('postgres')}; Node {info.get('node')}; "
        f"load average {loadavg()}",
        flush=True,
    )
    print(
        "CPU placement: "
        + (
            "nothing pinned: the nodes, PostgreSQL, Redis and the load generators share both "
            "cores, scheduled by the kernel"
            if opts.pin == "none"
            else "node A on CPU 0, node B on CPU 1; the load generators, PostgreSQL and Redis "
            "float over both cores, sharing them with the nodes"
        )
        + " (parts a, b; part c is never pinned).",
        flush=True,
    )
    out: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": info,
        "loadavg_start": loadavg(),
        "params": {
            k: v
            for k, v in vars(opts).items()
            if k not in ("tmp", "history")
            and isinstance(v, int | float | str | bool | list | type(None))
        },
    }
    try:
        if "a" in opts.parts:
            out["a"] = await part_a(opts)
        if "b" in opts.parts:
            out["b"] = await part_b(opts)
        if "c" in opts.parts:
            out["c"] = await part_c(opts)
    finally:
        with contextlib.suppress(Exception):
            await opts.history.close()
        if not opts.keep_tmp:
            shutil.rmtree(opts.tmp, ignore_errors=True)
        else:
            print(f"kept {opts.tmp}")
    out["loadavg_end"] = loadavg()
    if "a" in out:
        report_a(out["a"], opts)
    if "b" in out:
        report_b(out["b"], opts)
    if "c" in out:
        out["c_target"] = report_c(out["c"], opts)
    print(f"\nload average: {out['loadavg_start']} at the start, {out['loadavg_end']} at the end")
    Path(opts.json).parent.mkdir(parents=True, exist_ok=True)
    Path(opts.json).write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"wrote {opts.json}")
    errors = [r for part in PARTS for r in out.get(part, []) if "error" in r]
    return 1 if errors else 0


def _cleanup() -> None:
    mllp.cleanup_children()
    fanout.cleanup_children()


def main() -> None:
    opts = parse_args(sys.argv[1:])
    preflight(opts)
    atexit.register(_cleanup)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, mllp._on_signal)
    mllp._use_uvloop()
    try:
        code = asyncio.run(amain(opts))
    finally:
        _cleanup()
    sys.exit(code)


if __name__ == "__main__":
    main()
