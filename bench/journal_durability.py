"""What durability costs the journal: SQLite and PostgreSQL, each durable and not, same load.

The journal alone, in this process (no hub, no HTTP): K concurrent asyncio tasks (``--concurrency``,
default 1, 8, 64), each writing one event at a time in a loop, awaiting each write, for
``--duration`` s (10) after ``--warmup`` s (1). Two operations (``--ops``):

- ``append``: ``journal.append([event])`` with one ``hospital_alert`` event (no census change),
  as ``POST /api/events`` does.
- ``accept``: ``journal.accept_input(record, [(local id, event)])``, as the MLLP listener does
  for an ADT^A01: the raw HL7 message, its ACK and one ``bed_status_changed`` event (which
  updates the bed census and the patient's location) in one transaction.

Journals (``--backends``), a fresh one per point (a new SQLite file; a new PostgreSQL database
on 127.0.0.1:5432, user postgres, dropped after), each a copy of one holding the history below:

- SQLite durable: WAL, ``synchronous=FULL`` (fsync of the WAL at every commit), the hub's setting;
  not durable: ``synchronous=OFF`` (no fsync; a crash of the machine may lose commits).
- PostgreSQL durable: ``synchronous_commit=on`` (COMMIT waits for the WAL flush), the hub's
  setting; not durable: ``synchronous_commit=off`` (COMMIT returns before the flush; the WAL
  writer flushes within ``wal_writer_delay``). No bus: commits are announced by NOTIFY, as
  with the default ``cluster.bus = "postgres"``.

``durable=False`` exists in the journals for this measurement only; the hub never sets it.
Durable and not durable run back to back for each point; ``--repeat N`` runs everything N
times (as outer loops) and keeps, for each point, the run with the median events/s. "other
CPU" is the machine's busy time that neither this process nor PostgreSQL accounts for: other
work running meanwhile, which makes a point less reliable.

Each journal starts with ``--prefill`` (100,000) events of history (journaled once per run and
backend, then copied), a PostgreSQL one analyzed, as on a hub that has been running
(``bench/cluster.prefill``): on an empty, never analyzed database PostgreSQL caches a plan
for the journal's id lookup that scans the whole events table, so every batch would read an
ever larger table until autovacuum analyzes it (``--prefill 0`` shows it: PostgreSQL at 64
appenders falls to a fraction of its rate).

Both journals commit in groups: one writer takes every write queued while the previous
transaction ran, and all of their callers resume after that one commit. Reported per point:
events/s, commits/s (transactions that wrote events) and events per commit, all transactions/s
(PostgreSQL's also include catch-up reads: a node LISTENs to its own NOTIFY, and one that
arrives before the writer has applied its own commit queues a read that finds nothing new) and
the writer's mean time per transaction (from the journal's commit callback), latency
p50/p99/max of each call (from the call to its return, i.e. to the commit), this process's CPU
per event (the event loop plus SQLite's writer thread) and PostgreSQL's (all its processes,
``bench/cluster.Meter``), and for PostgreSQL the WAL syncs from ``pg_stat_wal`` (server-wide:
anything else writing to the server is counted too). Then the cost of durability for each
journal and K: events/s not durable / durable, and the latency difference.

Timing context, measured first (not ``pg_test_fsync``): ``fdatasync`` of a 4 KiB block
overwritten in place in the SQLite journal's directory (``--dir``, default a temp dir under
the system temp directory), and one PostgreSQL connection committing one-row inserts one after
another with ``synchronous_commit`` on, then off. On a virtual machine the disk's cache may
acknowledge a flush without reaching stable storage, which makes durability look cheap: the
fsync figures say how expensive it was here.

    .venv/bin/python bench/journal_durability.py --quick
    .venv/bin/python bench/journal_durability.py                 # about 5 minutes
    .venv/bin/python bench/journal_durability.py --repeat 3      # medians of 3, ~14 minutes
    .venv/bin/python bench/journal_durability.py --backends sqlite --ops accept -c 1,64

Writes JSON to ``bench/results/journal-durability[-quick].json`` (``--json`` to choose).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

import cluster  # noqa: E402  (Meter, pids_by_comm, loadavg, table)
import cross_node  # noqa: E402  (fresh_database)
import mllp_ingest as mllp  # noqa: E402  (percentiles, machine_info, MSG)

from hub.events import Event, iso, utc_now  # noqa: E402
from hub.journal.base import InputRecord  # noqa: E402

RESULTS = BENCH / "results"
BACKENDS = ("sqlite", "postgresql")
OPS = ("append", "accept")
# the shape of the hub's answer, stored with the input
ACK = "MSH|^~\\&|HUB|H1|PAS|H1|20260310160000||ACK^A01^ACK|A{ctl}|P|2.5.1\rMSA|AA|{ctl}\r"


# --- the load --------------------------------------------------------------------------------


def make_event(op: str, n: int, tag: str) -> Event:
    """An event as the hub builds it (``HubRuntime._events``), without validation cost."""
    now = iso(utc_now())
    if op == "append":
        data = {"hospital_id": "H1", "alert_type": "system", "alert_data": {"n": n}}
        rooms: tuple[str, ...] = ("hospital_H1",)
        etype, location, event_id = "hospital_alert", None, f"bench-{tag}-{n}"
    else:
        patient = f"P{n:08d}"
        bed = {
            "bed_id": f"5B:R{(n // 25) % 40:02d}:B{n % 25:02d}",
            "status": "occupied",
            "unit": "5B",
            "room": f"R{(n // 25) % 40:02d}",
            "bed": f"B{n % 25:02d}",
            "patient_id": patient,
        }
        data = {"hospital_id": "H1", "bed_info": bed}
        rooms = ("hospital_H1", f"patient_{patient}")
        # accept_input names an event with an empty id {source}:{input id}:{local id}
        etype, location, event_id = "bed_status_changed", (patient, "H1"), ""
    return Event.model_construct(
        id=event_id,
        seq=0,
        type=etype,
        version=1,
        timestamp=now,
        received_at=now,
        source="mllp:default" if op == "accept" else "api",
        rooms=rooms,
        data=data,
        patient_location=location,
    )


def make_record(n: int, tag: str) -> InputRecord:
    ctl = f"{tag}{n:08d}"
    raw = mllp.MSG.format(
        ctl=ctl,
        pid=f"P{n:08d}",
        room=f"R{(n // 25) % 40:02d}",
        bed=f"B{n % 25:02d}",
    ).encode()
    return InputRecord(
        source="mllp:default",
        dedupe_key=f"PAS|H1|{ctl}",
        raw=raw,
        received_at=iso(utc_now()),
        status="processed",
        reply=ACK.format(ctl=ctl).encode(),
    )


class Counters:
    """From the journal's commit callback: transactions that wrote events (``commits``), and
    all transactions, including PostgreSQL's catch-up reads that found nothing new."""

    def __init__(self) -> None:
        self.measuring = False
        self.commits = 0
        self.transactions = 0
        self.events = 0
        self.commit_seconds = 0.0

    def on_commit(self, appended: list[Any], records: int, seconds: float) -> None:
        if self.measuring and records:  # records == 0: events other nodes wrote (a bus)
            self.transactions += 1
            self.commit_seconds += seconds
            if appended:
                self.commits += 1
                self.events += len(appended)


async def open_journal(backend: str, durable: bool, counters: Counters, where: Any) -> Any:
    if backend == "sqlite":
        from hub.journal.sqlite import SQLiteJournal

        journal: Any = SQLiteJournal(
            where / "journal.sqlite3", on_commit=counters.on_commit, durable=durable
        )
    else:
        from hub.journal.postgres import PostgresJournal

        journal = PostgresJournal(where, on_commit=counters.on_commit, durable=durable)
    await journal.open()
    return journal


async def wal_stats() -> dict[str, float]:
    import asyncpg

    conn = await asyncpg.connect(cross_node.SERVER_DSN, timeout=5)
    try:
        row = await conn.fetchrow(
            "SELECT wal_records, wal_bytes, wal_write, wal_sync, wal_sync_time FROM pg_stat_wal"
        )
    finally:
        await conn.close()
    return {k: float(v) for k, v in dict(row).items()}


async def run_point(
    op: str, backend: str, durable: bool, k: int, opts: argparse.Namespace
) -> dict[str, Any]:
    counters = Counters()
    async with contextlib.AsyncExitStack() as stack:
        if backend == "sqlite":
            where: Any = Path(tempfile.mkdtemp(prefix="journal-", dir=opts.dir))
            stack.callback(shutil.rmtree, where, ignore_errors=True)
            await opts.history.sqlite(where / "journal.sqlite3")
        else:
            where = await stack.enter_async_context(opts.history.postgres("hub_durability"))
        journal = await open_journal(backend, durable, counters, where)
        try:
            return await load(journal, counters, op, backend, durable, k, opts)
        finally:
            await journal.close()


async def load(
    journal: Any,
    counters: Counters,
    op: str,
    backend: str,
    durable: bool,
    k: int,
    opts: argparse.Namespace,
) -> dict[str, Any]:
    numbers = itertools.count()
    tag = os.urandom(2).hex()
    latencies: list[int] = []
    done = 0
    stop = False
    measuring = False

    async def appender() -> None:
        nonlocal done
        while not stop:
            n = next(numbers)
            event = make_event(op, n, tag)
            t0 = time.perf_counter_ns()
            if op == "append":
                await journal.append([event])
            else:
                await journal.accept_input(make_record(n, tag), [("0", event)])
            if measuring:
                latencies.append(time.perf_counter_ns() - t0)
                done += 1

    meter = cluster.Meter({"postgres": lambda: cluster.pids_by_comm("postgres")}, "this process")
    tasks = [asyncio.create_task(appender()) for _ in range(k)]
    try:
        await asyncio.sleep(opts.warmup)
        wal0 = await wal_stats() if backend == "postgresql" else {}
        meter.start()
        measuring = counters.measuring = True
        t0 = time.perf_counter()
        await asyncio.sleep(opts.duration)
        measuring = counters.measuring = False
        elapsed = time.perf_counter() - t0
        cpu = meter.stop()
        wal1 = await wal_stats() if backend == "postgresql" else {}
        stop = True
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
    finally:
        stop = True
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    res: dict[str, Any] = {
        "op": op,
        "backend": backend,
        "durable": durable,
        "concurrency": k,
        "events": done,
        "elapsed_s": round(elapsed, 3),
        "events_per_s": round(done / elapsed, 1),
        "commits": counters.commits,
        "commits_per_s": round(counters.commits / elapsed, 1),
        "events_per_commit": round(counters.events / max(1, counters.commits), 2),
        "transactions_per_s": round(counters.transactions / elapsed, 1),
        "transaction_ms_mean": round(
            1000 * counters.commit_seconds / max(1, counters.transactions), 3
        ),
        "latency_ms": mllp.percentiles(latencies),
        "cpu": cpu,
        "cpu_us_per_event": {
            name: round(1e6 * s / max(1, done), 1) for name, s in cpu["cpu_s"].items()
        },
        "other_cpu_pct": cluster.pct(cpu["other_s"], cpu["wall_s"]),
    }
    if wal1:
        d = {key: wal1[key] - wal0[key] for key in wal1}
        res["pg_wal"] = {
            "syncs_per_s": round(d["wal_sync"] / elapsed, 1),
            "writes_per_s": round(d["wal_write"] / elapsed, 1),
            "syncs_per_commit": round(d["wal_sync"] / max(1, counters.commits), 2),
            "bytes_per_event": round(d["wal_bytes"] / max(1, done)),
            "records_per_event": round(d["wal_records"] / max(1, done), 1),
        }
    return res


# --- timing context --------------------------------------------------------------------------


def fsync_probe(directory: Path, n: int) -> dict[str, Any]:
    """fdatasync of a 4 KiB block overwritten in place, n times (as a WAL in steady state)."""
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        block = os.urandom(4096)
        for i in range(16):
            os.pwrite(fd, block, i * 4096)
        os.fsync(fd)
        lat = []
        for i in range(n):
            os.pwrite(fd, block, (i % 16) * 4096)
            t0 = time.perf_counter_ns()
            os.fdatasync(fd)
            lat.append(time.perf_counter_ns() - t0)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    fs = "?"
    with contextlib.suppress(Exception):
        fs = (
            subprocess.run(
                ["df", "--output=fstype,source", str(directory)],
                capture_output=True,
                text=True,
                timeout=10,
            )
            .stdout.split("\n")[1]
            .strip()
        )
    return {"directory": str(directory), "filesystem": fs, "n": n, "ms": mllp.percentiles(lat)}


async def pg_commit_probe(seconds: float) -> dict[str, Any]:
    """One connection, one-row INSERT + COMMIT after another, synchronous_commit on then off."""
    import asyncpg

    out: dict[str, Any] = {}
    async with cross_node.fresh_database("hub_durability") as dsn:
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            out["settings"] = {
                k: await conn.fetchval(f"SHOW {k}")
                for k in (
                    "server_version",
                    "fsync",
                    "wal_sync_method",
                    "synchronous_commit",
                    "commit_delay",
                    "wal_writer_delay",
                    "full_page_writes",
                )
            }
            await conn.execute("CREATE TABLE t (id bigserial PRIMARY KEY, v text)")
            for mode in ("on", "off"):
                await conn.execute(f"SET synchronous_commit = {mode}")
                lat = []
                deadline = time.perf_counter() + seconds
                while time.perf_counter() < deadline:
                    t0 = time.perf_counter_ns()
                    await conn.execute("INSERT INTO t (v) VALUES ('x')")
                    lat.append(time.perf_counter_ns() - t0)
                out[f"synchronous_commit_{mode}"] = {
                    "commits_per_s": round(len(lat) / seconds, 1),
                    "ms": mllp.percentiles(lat),
                }
        finally:
            await conn.close()
    return out


# --- report ----------------------------------------------------------------------------------


def label(backend: str) -> str:
    return "SQLite" if backend == "sqlite" else "PostgreSQL"


def report(results: list[dict[str, Any]], context: dict[str, Any], opts: Any) -> dict[str, Any]:
    fs = context.get("fsync")
    if fs:
        ms = fs["ms"]
        print(
            f"\nfdatasync of 4 KiB in {fs['directory']} ({fs['filesystem']}), {fs['n']} times: "
            f"p50 {ms['p50']} ms, p99 {ms['p99']} ms, mean {ms['mean']} ms "
            f"(one after another: {1000 / ms['mean'] if ms['mean'] else 0:,.0f}/s)"
        )
    pg = context.get("pg_commit")
    if pg:
        on, off = pg["synchronous_commit_on"], pg["synchronous_commit_off"]
        print(
            f"PostgreSQL {pg['settings']['server_version'].split()[0]} "
            f"(wal_sync_method={pg['settings']['wal_sync_method']}), one connection, one-row "
            f"INSERT commits in a row: synchronous_commit=on {on['commits_per_s']:,.0f}/s "
            f"(p50 {on['ms']['p50']} ms, p99 {on['ms']['p99']} ms); off "
            f"{off['commits_per_s']:,.0f}/s (p50 {off['ms']['p50']} ms, p99 {off['ms']['p99']} ms)"
        )
    ok = [r for r in results if "error" not in r]
    for op in opts.ops:
        rows = []
        for r in ok:
            if r["op"] != op:
                continue
            lat = r["latency_ms"]
            wal = r.get("pg_wal", {})
            rows.append(
                [
                    label(r["backend"]),
                    "yes" if r["durable"] else "no",
                    r["concurrency"],
                    f"{r['events_per_s']:,.0f}",
                    f"{r['commits_per_s']:,.0f}",
                    f"{r['events_per_commit']:.1f}",
                    f"{r['transactions_per_s']:,.0f}",
                    f"{r['transaction_ms_mean']:.2f}",
                    lat.get("p50", "-"),
                    lat.get("p99", "-"),
                    lat.get("max", "-"),
                    f"{r['cpu_us_per_event'].get('this process', 0):,.0f}",
                    f"{r['cpu_us_per_event'].get('postgres', 0):,.0f}"
                    if r["backend"] == "postgresql"
                    else "-",
                    f"{wal['syncs_per_s']:,.0f}" if wal else "-",
                    f"{r['other_cpu_pct']:.0f}%",
                ]
                + (
                    [
                        f"{min(r['events_per_s_runs']):,.0f}-{max(r['events_per_s_runs']):,.0f}"
                        if r.get("events_per_s_runs")
                        else "-"
                    ]
                    if opts.repeat > 1
                    else []
                )
            )
        what = (
            "journal.append([event])"
            if op == "append"
            else "journal.accept_input(record, [event]), as MLLP"
        )
        runs = f"; the median of {opts.repeat} runs by events/s" if opts.repeat > 1 else ""
        print(f"\n== {what}: K tasks, {opts.duration:g} s per point{runs} ==")
        cluster.table(
            [
                "journal",
                "durable",
                "K",
                "events/s",
                "commits/s",
                "ev/commit",
                "transactions/s",
                "tx ms",
                "p50 ms",
                "p99 ms",
                "max ms",
                "CPU µs/ev",
                "pg µs/ev",
                "WAL syncs/s",
                "other CPU",
                *(["events/s, all runs"] if opts.repeat > 1 else []),
            ],
            rows,
        )
    costs = []
    print(
        "\n== cost of durability: not durable / durable events/s; latency durable - not durable =="
    )
    rows = []
    for op in opts.ops:
        for backend in opts.backends:
            for k in opts.concurrency:
                pair = {
                    r["durable"]: r
                    for r in ok
                    if r["op"] == op and r["backend"] == backend and r["concurrency"] == k
                }
                if len(pair) != 2:
                    continue
                d, f = pair[True], pair[False]
                ratio = (
                    round(f["events_per_s"] / d["events_per_s"], 2) if d["events_per_s"] else None
                )
                dp50 = round(d["latency_ms"]["p50"] - f["latency_ms"]["p50"], 2)
                dp99 = round(d["latency_ms"]["p99"] - f["latency_ms"]["p99"], 2)
                costs.append(
                    {
                        "op": op,
                        "backend": backend,
                        "concurrency": k,
                        "events_per_s_durable": d["events_per_s"],
                        "events_per_s_not_durable": f["events_per_s"],
                        "speedup_without_durability": ratio,
                        "p50_ms_added": dp50,
                        "p99_ms_added": dp99,
                        "commits_per_s": [d["commits_per_s"], f["commits_per_s"]],
                    }
                )
                rows.append(
                    [
                        op,
                        label(backend),
                        k,
                        f"{d['events_per_s']:,.0f}",
                        f"{f['events_per_s']:,.0f}",
                        f"{ratio}x",
                        f"{d['events_per_commit']:.1f} / {f['events_per_commit']:.1f}",
                        f"{dp50:+.2f}",
                        f"{dp99:+.2f}",
                    ]
                )
    cluster.table(
        [
            "op",
            "journal",
            "K",
            "ev/s durable",
            "ev/s not",
            "not/durable",
            "ev/commit d / n",
            "p50 ms added",
            "p99 ms added",
        ],
        rows,
    )
    for r in results:
        if "error" in r:
            print(f"ERROR {r['op']} {r['backend']} durable={r['durable']} K={r['concurrency']}:")
            print(f"  {r['error']}")
    return {"cost_of_durability": costs}


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0] if __doc__ else None,
        epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--duration", type=float, default=None, help="seconds per point (10)")
    p.add_argument("--warmup", type=float, default=None, help="seconds before each point (1)")
    p.add_argument("-c", "--concurrency", default="1,8,64", help="appender tasks, comma list")
    p.add_argument("--ops", default="append,accept", help=f"comma list of {', '.join(OPS)}")
    p.add_argument(
        "--backends", default="sqlite,postgresql", help=f"comma list of {', '.join(BACKENDS)}"
    )
    p.add_argument(
        "--prefill",
        type=int,
        default=None,
        help="events of history journaled into each new journal first (100,000; --quick 20,000; "
        "0: none)",
    )
    p.add_argument("--dir", default=None, help="directory for the SQLite journals (a temp dir)")
    p.add_argument(
        "--repeat", type=int, default=1, help="runs per point, as outer loops; the median is kept"
    )
    p.add_argument("--quick", action="store_true", help="2 s points, 0.5 s warm-up")
    p.add_argument("--json", metavar="PATH", help="JSON output (default under bench/results/)")
    opts = p.parse_args(argv)
    opts.duration = opts.duration or (2.0 if opts.quick else 10.0)
    opts.warmup = opts.warmup if opts.warmup is not None else (0.5 if opts.quick else 1.0)
    opts.prefill = opts.prefill if opts.prefill is not None else (20_000 if opts.quick else 100_000)
    opts.concurrency = [int(x) for x in opts.concurrency.split(",") if x.strip()]
    opts.ops = [x.strip() for x in opts.ops.split(",") if x.strip()]
    opts.backends = [x.strip() for x in opts.backends.split(",") if x.strip()]
    for x in opts.ops:
        if x not in OPS:
            p.error(f"unknown op {x}")
    for x in opts.backends:
        if x not in BACKENDS:
            p.error(f"unknown backend {x}")
    if opts.json is None:
        opts.json = str(RESULTS / f"journal-durability{'-quick' if opts.quick else ''}.json")
    return opts


async def one_point(
    op: str, backend: str, durable: bool, k: int, rep: int, opts: argparse.Namespace
) -> dict[str, Any]:
    name = f"{op} {label(backend)} durable={durable} K={k}"
    if opts.repeat > 1:
        name += f" (run {rep + 1})"
    print(f"{name} ...", end=" ", flush=True)
    try:
        r = await run_point(op, backend, durable, k, opts)
    except Exception as exc:
        r = {
            "op": op,
            "backend": backend,
            "durable": durable,
            "concurrency": k,
            "error": f"{type(exc).__name__}: {exc}"[:2000],
        }
        print(r["error"], flush=True)
    else:
        print(
            f"{r['events_per_s']:,.0f} events/s, {r['commits_per_s']:,.0f} commits/s, p99 "
            f"{r['latency_ms'].get('p99')} ms, other CPU {r['other_cpu_pct']:.0f}%",
            flush=True,
        )
    r["run"] = rep + 1
    return r


def median_runs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One result per point: the run with the median events/s (all its figures from that run),
    with every run's events/s alongside; an error only if every run failed."""
    points: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in runs:
        points.setdefault((r["op"], r["backend"], r["durable"], r["concurrency"]), []).append(r)
    out = []
    for same in points.values():
        ok = sorted((r for r in same if "error" not in r), key=lambda r: r["events_per_s"])
        if not ok:
            out.append(same[0])
            continue
        chosen = dict(ok[(len(ok) - 1) // 2])
        chosen["events_per_s_runs"] = [r["events_per_s"] for r in same if "error" not in r]
        chosen["errors_in_other_runs"] = [r["error"] for r in same if "error" in r]
        out.append(chosen)
    return out


async def amain(opts: argparse.Namespace) -> int:
    base = Path(tempfile.mkdtemp(prefix="journal-durability-", dir=opts.dir))
    opts.dir = str(base)
    info = mllp.machine_info()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    load0 = cluster.loadavg()
    print(
        f"hub {info.get('hub_commit')}"
        f"{' (hub/ has uncommitted changes)' if info.get('hub_uncommitted') else ''}; "
        f"{info.get('cpus')} x {info.get('cpu_model')}, {info.get('mem_gib')} GiB; Python "
        f"{info.get('python')}; load average {load0}",
        flush=True,
    )
    context: dict[str, Any] = {}
    runs: list[dict[str, Any]] = []
    opts.history = cluster.History(opts.prefill, base)
    try:
        if "sqlite" in opts.backends:
            context["fsync"] = fsync_probe(base, 200 if opts.quick else 1000)
        if "postgresql" in opts.backends:
            context["pg_commit"] = await pg_commit_probe(1.0 if opts.quick else 3.0)
        # durable and not durable back to back, so that both see the same machine; repeats
        # as the outer loop, so that each point's runs are spread over the whole run
        for rep in range(opts.repeat):
            for op in opts.ops:
                for backend in opts.backends:
                    for k in opts.concurrency:
                        for durable in (True, False):
                            runs.append(await one_point(op, backend, durable, k, rep, opts))
    finally:
        with contextlib.suppress(Exception):
            await opts.history.close()
        shutil.rmtree(base, ignore_errors=True)
    results = median_runs(runs)
    summary = report(results, context, opts)
    load1 = cluster.loadavg()
    print(f"\nload average: {load0} at the start, {load1} at the end")
    out = {
        "started": started,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": info,
        "loadavg_start": load0,
        "loadavg_end": load1,
        "params": {
            k: getattr(opts, k)
            for k in (
                "duration",
                "warmup",
                "concurrency",
                "ops",
                "backends",
                "prefill",
                "repeat",
                "quick",
            )
        },
        "context": context,
        "results": results,
        "runs": runs if opts.repeat > 1 else [],
        **summary,
    }
    Path(opts.json).parent.mkdir(parents=True, exist_ok=True)
    Path(opts.json).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {opts.json}")
    return 1 if any("error" in r for r in results) else 0


def main() -> None:
    opts = parse_args(sys.argv[1:])
    mllp._use_uvloop()
    sys.exit(asyncio.run(amain(opts)))


if __name__ == "__main__":
    main()
