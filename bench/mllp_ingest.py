"""MLLP ingest benchmark: HL7 v2 ADT^A01 messages into the hub, ACK by ACK, against two baselines.

Each server gets a fresh process pinned to CPU 0 (``taskset -c 0``); this script, the load
generator, re-executes itself under ``taskset -c 1``. Servers, one after another:

- ``hub``: ``hub serve`` with one MLLP listener and a fresh journal. It stores each message
  durably (SQLite, fsync) before answering, normalizes it into a ``bed_status_changed`` event
  (journaled) and fans the event out to 3 Socket.IO subscribers in ``hospital_H1`` (a separate
  process, also on CPU 1, that counts what it receives).
- ``python-hl7``: python-hl7's asyncio MLLP server, ACKs and stores nothing
  (``bench/mllp_bare_servers.py``).
- ``hl7apy``: hl7apy's ``MLLPServer`` (threads), ACKs and stores nothing. It closes the connection
  after each answer, so its senders connect once per message; see ``mllp_bare_servers.py``.
- optional: ``hub-reconnect`` (the hub, with a connection per message, to compare with hl7apy
  on equal terms) and ``hl7apy-parse`` (hl7apy parsing each message and building the ACK).

Phases per server (after a warm-up of ``--warmup`` messages):

1. throughput: ``-n`` messages (default 20,000; ``--quick`` 2,000) over ``-k`` (8) connections,
   each sending its next message only when the previous one's ACK arrived. Messages/s, ACK
   latency p50/p90/p99, and every ACK checked (MSA-1 = AA, MSA-2 = the message's MSH-10).
2. paced: ``--rate`` (500) messages/s for ``--duration`` (10) s over the same connections
   (message j due at t0 + j/rate on connection j mod k). ACK latency from send and from the
   scheduled time (the latter includes waiting behind a slow ACK: no coordinated omission).

Every phase is bounded in time and count; children run in their own process groups and are
killed on exit, Ctrl-C or SIGTERM. Only 127.0.0.1 is used.

    .venv/bin/python bench/mllp_ingest.py --quick
    .venv/bin/python bench/mllp_ingest.py --json bench/results/mllp-ingest.json --py-spy 10
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import itertools
import json
import math
import os
import platform
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV_BIN = Path(sys.executable).parent
HUB_BIN = VENV_BIN / "hub"
PINNED_ENV = "MLLP_BENCH_PINNED"
ALL_SERVERS = ("hub", "python-hl7", "hl7apy", "hub-reconnect", "hl7apy-parse")
RECONNECT = {"hl7apy", "hl7apy-parse", "hub-reconnect"}
CLK_TCK = os.sysconf("SC_CLK_TCK")
EVENT = "bed_status_changed"  # what the hub makes of each ADT^A01 with a bed

MSG = (
    "MSH|^~\\&|PAS|H1|HUB|H1|20260310160000||ADT^A01^ADT_A01|{ctl}|P|2.5.1\r"
    "EVN||20260310160000\r"
    "PID|||{pid}^^^H1^MR||Doe^Test\r"
    "PV1||I|5B^{room}^{bed}^H1\r"
)

# --- child processes -------------------------------------------------------------------------

_children: dict[int, str] = {}  # pid (= its process group, start_new_session) -> label


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cleanup_children() -> None:
    """Last resort (atexit, signals): SIGTERM, then SIGKILL, each process group we started."""
    for pid in list(_children):
        _kill_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in _children):
        time.sleep(0.1)
    for pid in list(_children):
        _kill_group(pid, signal.SIGKILL)
    _children.clear()


def _on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


async def spawn(label: str, *cmd: str, **kw: Any) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(*cmd, start_new_session=True, **kw)
    _children[proc.pid] = label
    return proc


async def terminate(proc: asyncio.subprocess.Process, grace: float = 10.0) -> None:
    if proc.returncode is None:
        _kill_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            _kill_group(proc.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 5)
    _kill_group(proc.pid, signal.SIGKILL)
    _children.pop(proc.pid, None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of the main thread (tid = pid) and of all other threads together."""
    out = {"main": 0.0, "other_threads": 0.0}
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
            out["main" if int(tid) == pid else "other_threads"] += cpu
    return out


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system


# --- servers ---------------------------------------------------------------------------------


class Server:
    def __init__(self, kind: str, proc: asyncio.subprocess.Process, port: int, workdir: Path):
        self.kind, self.proc, self.port, self.workdir = kind, proc, port, workdir
        self.http_port: int | None = None
        self.secret: str | None = None
        self.log = workdir / "server.log"

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def is_hub(self) -> bool:
        return self.kind.startswith("hub")

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return int(r.status)
    except Exception:
        return 0


async def _port_open(port: int) -> bool:
    try:
        _, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1)
    except (OSError, TimeoutError):
        return False
    w.close()
    return True


async def start_server(kind: str, opts: argparse.Namespace, tmp: Path) -> Server:
    workdir = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=tmp))
    mllp_port = free_port()
    pin = ["taskset", "-c", str(opts.server_cpu)] if opts.pin else []
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.pop(PINNED_ENV, None)
    secret = secrets.token_hex(20)  # 40 characters
    http_port = free_port()
    if kind.startswith("hub"):
        env.update(
            HUB_SERVER__HOST="127.0.0.1",
            HUB_SERVER__PORT=str(http_port),
            HUB_JOURNAL__PATH=str(workdir / "journal.sqlite3"),
            HUB_AUTH__SECRET=secret,
            HUB_AUTH__SECRET_FILE=str(workdir / "secret"),
            HUB_LOGGING__LEVEL="WARNING",
            HUB_PLUGINS__SETTINGS=json.dumps(
                {"hl7_mllp": {"listeners": [{"name": "default", "port": mllp_port}]}}
            ),
        )
        cmd = [*pin, str(HUB_BIN), "serve"]
    else:
        base = "hl7apy" if kind.startswith("hl7apy") else "python-hl7"
        cmd = [*pin, sys.executable, str(BENCH / "mllp_bare_servers.py"), "--kind", base]
        cmd += ["--port", str(mllp_port)]
        if kind == "hl7apy-parse":
            cmd.append("--hl7apy-parse")
    logf = (workdir / "server.log").open("ab")
    proc = await spawn(kind, *cmd, cwd=str(workdir), env=env, stdout=logf, stderr=logf)
    logf.close()
    server = Server(kind, proc, mllp_port, workdir)
    deadline = time.monotonic() + opts.start_timeout
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(f"{kind} exited early:\n{server.tail()}")
        if kind.startswith("hub"):
            status = await asyncio.to_thread(_http_status, f"http://127.0.0.1:{http_port}/ready")
            if status == 200:
                server.http_port, server.secret = http_port, secret
                return server
        elif await _port_open(mllp_port):
            return server
        await asyncio.sleep(0.1)
    await terminate(proc)
    raise RuntimeError(f"{kind} not ready within {opts.start_timeout} s:\n{server.tail()}")


async def start_hub_process(
    opts: argparse.Namespace,
    tmp: Path,
    prefix: str,
    plugin_settings: dict[str, Any],
    extra_env: dict[str, str] | None = None,
    secret: str | None = None,
) -> tuple[asyncio.subprocess.Process, int, str, Path]:
    """``hub serve`` on a free port with a fresh journal, pinned to ``opts.server_cpu``, once
    it answers /ready: (process, HTTP port, signing secret, working directory). Used by the
    FHIR and feed benchmarks; the MLLP one starts its servers in ``start_server``."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=tmp))
    port, secret = free_port(), secret or secrets.token_hex(20)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.pop(PINNED_ENV, None)
    settings = {"hl7_mllp": {"listeners": [{"name": "default", "port": free_port()}]}}
    settings.update(plugin_settings)
    env.update(
        HUB_SERVER__HOST="127.0.0.1",
        HUB_SERVER__PORT=str(port),
        HUB_JOURNAL__PATH=str(workdir / "journal.sqlite3"),
        HUB_AUTH__SECRET=secret,
        HUB_AUTH__SECRET_FILE=str(workdir / "secret"),
        HUB_LOGGING__LEVEL="WARNING",
        HUB_PLUGINS__SETTINGS=json.dumps(settings),
    )
    env.update(extra_env or {})  # may override the above (e.g. HUB_JOURNAL__PATH)
    pin = ["taskset", "-c", str(opts.server_cpu)] if opts.pin else []
    logf = (workdir / "server.log").open("ab")
    proc = await spawn(
        "hub", *pin, str(HUB_BIN), "serve", cwd=str(workdir), env=env, stdout=logf, stderr=logf
    )
    logf.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError((workdir / "server.log").read_text()[-3000:])
        if await asyncio.to_thread(_http_status, f"http://127.0.0.1:{port}/ready") == 200:
            return proc, port, secret, workdir
        await asyncio.sleep(0.1)
    await terminate(proc)
    raise RuntimeError("hub not ready:\n" + (workdir / "server.log").read_text()[-3000:])


def run_pinned(opts: argparse.Namespace, amain: Any) -> None:
    """Re-execute this script on ``opts.client_cpu`` (once), then run ``amain(opts)`` on uvloop:
    the load generator must not share the hub's core."""
    if opts.pin and os.environ.get(PINNED_ENV) != "1":
        env = {**os.environ, PINNED_ENV: "1"}
        os.execvpe(
            "taskset", ["taskset", "-c", str(opts.client_cpu), sys.executable, *sys.argv], env
        )
    _use_uvloop()
    sys.exit(asyncio.run(amain(opts)))


def _get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:  # loopback only
        return str(r.read().decode())


async def journal_metrics(server: Server) -> dict[str, float]:
    """The hub's journal commit counters from GET /metrics (sums and counts)."""
    if server.http_port is None:
        return {}
    try:
        text = await asyncio.to_thread(_get_text, f"http://127.0.0.1:{server.http_port}/metrics")
    except Exception:
        return {}
    out = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in (
            "hub_journal_batch_events_sum",
            "hub_journal_batch_events_count",
            "hub_journal_write_seconds_sum",
        ):
            out[name] = float(value)
    return out


def journal_delta(before: dict[str, float], after: dict[str, float], msgs: int) -> dict[str, Any]:
    if not before or not after:
        return {}
    commits = after["hub_journal_batch_events_count"] - before["hub_journal_batch_events_count"]
    records = after["hub_journal_batch_events_sum"] - before["hub_journal_batch_events_sum"]
    secs = after["hub_journal_write_seconds_sum"] - before["hub_journal_write_seconds_sum"]
    return {
        "commits": int(commits),
        "records": int(records),
        "commits_per_msg": round(commits / max(1, msgs), 2),
        "records_per_commit": round(records / max(1, commits), 2),
        "commit_ms_mean": round(1000 * secs / max(1, commits), 3),
    }


def journal_counts(path: Path) -> dict[str, Any]:
    """What the hub kept, read after it stopped: inputs by status and events by type."""
    if not path.exists():
        return {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        inputs = dict(conn.execute("SELECT status, count(*) FROM inputs GROUP BY status"))
        events = dict(conn.execute("SELECT type, count(*) FROM events GROUP BY type"))
    finally:
        conn.close()
    return {"inputs": inputs, "events": events}


# --- Socket.IO subscribers (a separate process on the load generator's CPU) -----------------


async def subscriber_main(url: str, token: str, count: int, room: str, seconds: float) -> None:
    """Connect ``count`` clients, join ``room``, print counts as JSON lines until SIGTERM."""
    import socketio

    counts: list[Counter[str]] = [Counter() for _ in range(count)]
    clients: list[Any] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    acks = []
    for k in range(count):
        sio = socketio.AsyncClient(reconnection=False)

        def on_any(event: str, *_data: Any, k: int = k) -> None:
            counts[k][event] += 1

        sio.on("*", on_any)
        await sio.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=10)
        acks.append(await sio.call("join_room", {"room": room}, timeout=10))
        clients.append(sio)
    print(json.dumps({"joined": count, "acks": acks}), flush=True)
    deadline = time.monotonic() + seconds
    while not stop.is_set() and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)
        print(json.dumps({"counts": [dict(c) for c in counts]}), flush=True)
    for sio in clients:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(sio.disconnect(), 5)


class Subscribers:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.joined: dict[str, Any] | None = None
        self.latest: list[dict[str, int]] = []
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, server: Server, opts: argparse.Namespace) -> Subscribers:
        from hub.auth import mint_token

        assert server.secret is not None
        token = mint_token(server.secret, sub="b", role="admin", ttl_s=3600)
        pin = ["taskset", "-c", str(opts.client_cpu)] if opts.pin else []
        env = dict(os.environ)
        env[PINNED_ENV] = "1"
        proc = await spawn(
            "subscribers",
            *pin,
            sys.executable,
            str(Path(__file__).resolve()),
            "--_subscriber",
            json.dumps(
                {
                    "url": f"http://127.0.0.1:{server.http_port}",
                    "token": token,
                    "count": opts.subscribers,
                    "room": "hospital_H1",
                    "seconds": 1800,
                }
            ),
            stdout=subprocess.PIPE,
            stderr=(server.workdir / "subscribers.log").open("ab"),
            env=env,
        )
        self = cls(proc)
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        if not line:
            raise RuntimeError("subscribers exited before joining; see subscribers.log")
        self.joined = json.loads(line)
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            with contextlib.suppress(ValueError):
                self.latest = json.loads(line).get("counts", self.latest)

    def total(self) -> list[int]:
        """bed_status_changed events received, per subscriber."""
        return [c.get(EVENT, 0) for c in self.latest]

    def others(self) -> dict[str, int]:
        """Other events received (summed over the subscribers)."""
        out: Counter[str] = Counter()
        for c in self.latest:
            out.update({k: v for k, v in c.items() if k != EVENT})
        return dict(out)

    async def wait_for(self, expected: int, timeout: float) -> tuple[list[int], float]:
        """Until every subscriber has ``expected`` events, or ``timeout``; counts and seconds."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            got = self.total()
            if got and min(got) >= expected:
                break
            await asyncio.sleep(0.1)
        return self.total(), round(time.monotonic() - t0, 2)

    async def stop(self) -> None:
        await terminate(self.proc)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


# --- load generation -------------------------------------------------------------------------


class Stats:
    def __init__(self) -> None:
        self.latencies_ns: list[int] = []
        self.late_ns: list[int] = []  # paced: from the scheduled time to the ACK
        self.not_aa: list[str] = []
        self.errors: Counter[str] = Counter()
        self.sent = 0


def build(tag: str, phase: str, i: int) -> tuple[bytes, bytes]:
    ctl = f"{tag}{phase}{i:08d}"
    msg = MSG.format(
        ctl=ctl, pid=f"P{tag}{phase}{i:08d}", room=f"R{(i // 25) % 40:02d}", bed=f"B{i % 25:02d}"
    )
    return msg.encode(), ctl.encode()


def ack_ok(ack: bytes, ctl: bytes) -> bool:
    """MSA-1 is AA and MSA-2 echoes the message's control id."""
    k = ack.find(b"\rMSA|")
    if k < 0:
        return False
    fields = ack[k + 5 :].split(b"\r", 1)[0].split(b"|")
    return fields[0] == b"AA" and len(fields) > 1 and fields[1] == ctl


class Sender:
    """One sender: a kept connection, or (``reconnect``) a new connection per message."""

    def __init__(self, port: int, reconnect: bool, timeout: float) -> None:
        self.port, self.reconnect, self.timeout = port, reconnect, timeout
        self.client: Any = None
        self.checked = False

    async def connect(self) -> None:
        from adapters.hl7.client import MllpClient

        if self.client is None:
            client = MllpClient("127.0.0.1", self.port, timeout=self.timeout)
            self.client = await client.__aenter__()

    async def send(self, msg: bytes) -> bytes:
        if self.reconnect:
            from adapters.hl7.client import MllpClient

            async with MllpClient("127.0.0.1", self.port, timeout=self.timeout) as c:
                return await c.send(msg)
        if self.client is None:
            await self.connect()
        return await self.client.send(msg)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.__aexit__(None, None, None)
            self.client = None

    async def one(self, msg: bytes, ctl: bytes, stats: Stats) -> int | None:
        """Send, wait for the ACK, check it; the latency in ns (None on error)."""
        t0 = time.perf_counter_ns()
        try:
            ack = await self.send(msg)
        except Exception as exc:
            stats.errors[type(exc).__name__] += 1
            with contextlib.suppress(Exception):
                await self.close()
            return None
        dt = time.perf_counter_ns() - t0
        stats.sent += 1
        stats.latencies_ns.append(dt)
        if not ack_ok(ack, ctl):
            stats.not_aa.append(ack[:200].decode(errors="replace"))
        elif not self.checked:
            # once per sender, also with the project's own parser
            from adapters.hl7.message import parse

            self.checked = True
            if parse(ack).value("MSA", 1) != "AA":
                stats.not_aa.append(ack[:200].decode(errors="replace"))
        return dt


async def run_throughput(
    port: int,
    reconnect: bool,
    opts: argparse.Namespace,
    tag: str,
    phase: str,
    n: int,
    time_limit: float,
) -> dict[str, Any]:
    stats = Stats()
    counter = itertools.count()
    senders = [Sender(port, reconnect, opts.msg_timeout) for _ in range(opts.connections)]
    deadline = time.monotonic() + time_limit

    async def worker(s: Sender) -> None:
        while time.monotonic() < deadline and sum(stats.errors.values()) < opts.max_errors:
            i = next(counter)
            if i >= n:
                return
            msg, ctl = build(tag, phase, i)
            await s.one(msg, ctl, stats)

    cpu0 = self_cpu()
    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(worker(s) for s in senders))
    finally:
        elapsed = time.perf_counter() - t0
        for s in senders:
            await s.close()
    cpu = self_cpu() - cpu0
    res = summarize(stats, elapsed, n)
    res["msgs_per_s"] = round(stats.sent / elapsed, 1) if elapsed else 0.0
    res["loadgen_cpu_pct"] = round(100 * cpu / elapsed, 1) if elapsed else 0.0
    return res


async def run_paced(
    port: int, reconnect: bool, opts: argparse.Namespace, tag: str, phase: str
) -> dict[str, Any]:
    stats = Stats()
    k = opts.connections
    total = int(opts.rate * opts.duration)
    senders = [Sender(port, reconnect, opts.msg_timeout) for _ in range(k)]
    deadline = time.monotonic() + opts.duration + 30
    # connect first, so the first messages do not pay for it (kept connections only)
    if not reconnect:
        for s in senders:
            await s.connect()
    t0 = time.perf_counter_ns() + 50_000_000
    interval = 1e9 / opts.rate

    async def worker(w: int) -> None:
        s = senders[w]
        for j in range(w, total, k):
            if time.monotonic() > deadline or sum(stats.errors.values()) >= opts.max_errors:
                return
            due = t0 + int(j * interval)
            wait = (due - time.perf_counter_ns()) / 1e9
            if wait > 0:
                await asyncio.sleep(wait)
            msg, ctl = build(tag, phase, j)
            if await s.one(msg, ctl, stats) is not None:
                stats.late_ns.append(time.perf_counter_ns() - due)

    cpu0 = self_cpu()
    start = time.perf_counter()
    try:
        await asyncio.gather(*(worker(w) for w in range(k)))
    finally:
        elapsed = time.perf_counter() - start
        for s in senders:
            await s.close()
    res = summarize(stats, elapsed, total)
    res["target_rate"] = opts.rate
    res["achieved_rate"] = round(stats.sent / elapsed, 1) if elapsed else 0.0
    res["from_schedule_ms"] = percentiles(stats.late_ns)
    res["loadgen_cpu_pct"] = round(100 * (self_cpu() - cpu0) / elapsed, 1) if elapsed else 0.0
    return res


def percentiles(values_ns: list[int]) -> dict[str, float]:
    if not values_ns:
        return {}
    v = sorted(values_ns)
    pick = lambda p: v[min(len(v) - 1, max(0, math.ceil(p / 100 * len(v)) - 1))]  # noqa: E731
    out = {f"p{p}": round(pick(p) / 1e6, 2) for p in (50, 90, 99, 99.9)}
    out["max"] = round(v[-1] / 1e6, 2)
    out["mean"] = round(sum(v) / len(v) / 1e6, 2)
    return out


def summarize(stats: Stats, elapsed: float, planned: int) -> dict[str, Any]:
    return {
        "planned": planned,
        "acked": stats.sent,
        "elapsed_s": round(elapsed, 3),
        "all_aa": not stats.not_aa and not stats.errors and stats.sent == planned,
        "not_aa": len(stats.not_aa),
        "not_aa_sample": stats.not_aa[:3],
        "errors": dict(stats.errors),
        "ack_ms": percentiles(stats.latencies_ns),
    }


# --- py-spy ----------------------------------------------------------------------------------


def py_spy_exe() -> str | None:
    exe = shutil.which("py-spy") or str(VENV_BIN / "py-spy")
    return exe if Path(exe).exists() else None


def _short(frame: str) -> str:
    """'send (adapters/hl7/client.py:48)' -> 'send (adapters/hl7/client.py)'."""
    name, _, loc = frame.partition(" (")
    path = loc.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3."):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "lib/python3.":
                path = "stdlib/" + path.split("/", 1)[-1]
    return f"{name} ({path})" if path else name


def summarize_profile(path: Path, seconds: float, rate: int, top: int = 15) -> dict[str, Any]:
    """Self and inclusive shares per frame from py-spy's raw (collapsed) output.

    Shares are of all samples of the event-loop (main) thread. Worker threads (the journal's
    SQLite writer, asyncio.to_thread) are counted apart, only while they run a work item.
    """
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    worker_self: Counter[str] = Counter()
    worker_incl: Counter[str] = Counter()
    main = worker = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        if frames[0].startswith("_bootstrap") or frames[0].startswith("Thread._bootstrap"):
            if any(f.startswith(("_WorkItem.run", "run (concurrent")) for f in frames) and not (
                frames[-1].startswith(("wait (threading", "get (queue", "_worker"))
            ):
                worker += count
                worker_self[_short(frames[-1])] += count
                for f in {_short(f) for f in frames}:
                    worker_incl[f] += count
            continue
        main += count
        self_c[_short(frames[-1])] += count
        for f in {_short(f) for f in frames}:
            incl[f] += count
    pct = lambda c: round(100 * c / main, 1) if main else 0.0  # noqa: E731
    return {
        "seconds": seconds,
        "rate_hz": rate,
        "main_samples": main,
        "main_busy_pct": round(100 * main / (seconds * rate), 1),
        "self": [(f, pct(c)) for f, c in self_c.most_common(top)],
        "inclusive": [(f, pct(c)) for f, c in incl.most_common() if c < 0.97 * main][: top + 10],
        "worker_samples_pct_of_main": pct(worker),
        "worker_self": [(f, pct(c)) for f, c in worker_self.most_common(8)],
        "worker_inclusive": [(f, pct(c)) for f, c in worker_incl.most_common(12)],
    }


async def profile_run(server: Server, opts: argparse.Namespace, tag: str) -> dict[str, Any] | None:
    exe = py_spy_exe()
    if exe is None:
        print("  py-spy not found (.venv/bin/pip install py-spy): no profile", flush=True)
        return None
    out = server.workdir / "py-spy.raw"
    load = asyncio.create_task(
        run_throughput(
            server.port, server.kind in RECONNECT, opts, tag, "S", 10**7, opts.py_spy + 3
        )
    )
    await asyncio.sleep(1.0)
    pin = ["taskset", "-c", str(opts.client_cpu)] if opts.pin else []
    spy = await spawn(
        "py-spy",
        *pin,
        exe,
        "record",
        "-p",
        str(server.pid),
        "-d",
        str(int(opts.py_spy)),
        "-r",
        "100",
        "-f",
        "raw",
        "-o",
        str(out),
        *(["--native"] if opts.py_spy_native else []),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(spy.communicate(), opts.py_spy + 60)
    finally:
        await terminate(spy)
    res = await load
    if not out.exists():
        print(f"  py-spy failed: {err.decode(errors='replace')[-500:]}", flush=True)
        return {"throughput_while_profiled": res, "error": err.decode(errors="replace")[-500:]}
    prof = summarize_profile(out, opts.py_spy, 100)
    prof["throughput_while_profiled"] = {
        k: res[k] for k in ("acked", "msgs_per_s", "ack_ms", "all_aa")
    }
    prof["raw_file"] = str(out)
    if opts.keep_profile:
        dest = Path(opts.keep_profile)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(out, dest)
        prof["raw_file"] = str(dest)
    return prof


# --- one server ------------------------------------------------------------------------------


async def bench_server(kind: str, opts: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    print(f"== {kind}", flush=True)
    server = await start_server(kind, opts, tmp)
    reconnect = kind in RECONNECT
    tag = secrets.token_hex(2)
    res: dict[str, Any] = {"server": kind, "connection_per_message": reconnect}
    subs: Subscribers | None = None
    events_expected = 0
    try:
        if server.is_hub and opts.subscribers:
            subs = await Subscribers.start(server, opts)
            res["subscribers"] = {"count": opts.subscribers, "join": subs.joined}
        if opts.warmup:
            w = await run_throughput(server.port, reconnect, opts, tag, "W", opts.warmup, 60)
            events_expected += w["acked"]
            print(f"  warm-up {w['acked']} msgs, {w['msgs_per_s']:.0f}/s", flush=True)
        cpu0, rss0 = cpu_seconds(server.pid), rss_mb(server.pid)
        threads0 = thread_cpu(server.pid)
        jm0 = await journal_metrics(server)
        t = await run_throughput(server.port, reconnect, opts, tag, "T", opts.n, opts.phase_limit)
        if server.is_hub:
            t["journal"] = journal_delta(jm0, await journal_metrics(server), t["acked"])
        cpu = cpu_seconds(server.pid) - cpu0
        threads1 = thread_cpu(server.pid)
        t["server_cpu_pct_by_thread"] = {
            k: round(100 * (threads1[k] - threads0[k]) / t["elapsed_s"], 1) for k in threads0
        }
        t["server_cpu_pct"] = round(100 * cpu / t["elapsed_s"], 1)
        t["server_cpu_us_per_msg"] = round(1e6 * cpu / max(1, t["acked"]), 1)
        t["server_rss_mb"] = {"before": rss0, "after": rss_mb(server.pid)}
        events_expected += t["acked"]
        res["throughput"] = t
        print(
            f"  throughput {t['acked']}/{t['planned']} in {t['elapsed_s']} s: "
            f"{t['msgs_per_s']:.0f} msgs/s, ACK p50 {t['ack_ms'].get('p50')} ms "
            f"p99 {t['ack_ms'].get('p99')} ms, all AA: {t['all_aa']}, server CPU "
            f"{t['server_cpu_pct']}% ({t['server_cpu_us_per_msg']} us/msg; by thread "
            f"{t['server_cpu_pct_by_thread']}), "
            f"loadgen CPU {t['loadgen_cpu_pct']}%",
            flush=True,
        )
        if t.get("journal"):
            print(f"  journal: {t['journal']}", flush=True)
        if subs is not None:
            got, waited = await subs.wait_for(events_expected, opts.drain_timeout)
            res["throughput"]["subscribers_received"] = got
            res["throughput"]["subscribers_expected"] = events_expected
            res["throughput"]["subscribers_drain_s"] = waited
            print(f"  subscribers got {got} of {events_expected} (+{waited} s)", flush=True)
        await asyncio.sleep(1.0)
        cpu0 = cpu_seconds(server.pid)
        jm0 = await journal_metrics(server)
        p = await run_paced(server.port, reconnect, opts, tag, "P")
        if server.is_hub:
            p["journal"] = journal_delta(jm0, await journal_metrics(server), p["acked"])
        p["server_cpu_pct"] = round(100 * (cpu_seconds(server.pid) - cpu0) / p["elapsed_s"], 1)
        events_expected += p["acked"]
        res["paced"] = p
        print(
            f"  paced {p['acked']}/{p['planned']} at {p['achieved_rate']:.0f}/s: ACK p50 "
            f"{p['ack_ms'].get('p50')} ms p99 {p['ack_ms'].get('p99')} ms (from schedule p99 "
            f"{p['from_schedule_ms'].get('p99')} ms), all AA: {p['all_aa']}, server CPU "
            f"{p['server_cpu_pct']}%",
            flush=True,
        )
        if subs is not None:
            got, waited = await subs.wait_for(events_expected, opts.drain_timeout)
            res["paced"]["subscribers_received_total"] = got
            res["paced"]["subscribers_expected_total"] = events_expected
            res["subscribers"]["other_events"] = subs.others()
            print(f"  subscribers got {got} of {events_expected} (+{waited} s)", flush=True)
        if opts.py_spy and kind == "hub":
            print(f"  py-spy {opts.py_spy:.0f} s under throughput load ...", flush=True)
            res["profile"] = await profile_run(server, opts, tag)
            if res["profile"] and "throughput_while_profiled" in res["profile"]:
                tw = res["profile"]["throughput_while_profiled"]
                print(f"  while profiled: {tw['msgs_per_s']:.0f} msgs/s", flush=True)
    finally:
        if subs is not None:
            await subs.stop()
        await terminate(server.proc)
    if server.is_hub:
        res["journal"] = journal_counts(server.workdir / "journal.sqlite3")
        if server.proc.returncode not in (0, -signal.SIGTERM):
            res["exit_code"] = server.proc.returncode
    if not opts.keep_tmp:
        shutil.rmtree(server.workdir, ignore_errors=True)
    return res


# --- report ----------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["mem_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    from importlib.metadata import PackageNotFoundError, version

    pkgs = {}
    for pkg in ("hl7", "hl7apy", "python-socketio", "hypercorn", "uvloop", "py-spy"):
        with contextlib.suppress(PackageNotFoundError):
            pkgs[pkg] = version(pkg)
    info["packages"] = pkgs
    with contextlib.suppress(Exception):
        info["hub_commit"] = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "hub", "adapters", "plugins"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        if dirty:
            info["hub_uncommitted"] = dirty.splitlines()
    return info


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def report(results: list[dict[str, Any]], opts: argparse.Namespace) -> dict[str, Any]:
    by = {r["server"]: r for r in results if "throughput" in r}
    print()
    head = (
        f"{'server':<14}{'conn':>6}{'msgs/s':>9}{'p50':>8}{'p99':>8}{'all AA':>8}"
        f"{'CPU us/msg':>11}{'lg CPU%':>8}  | {'paced/s':>8}{'p50':>7}{'p99':>8}{'sched p99':>10}"
    )
    print(
        f"throughput: {opts.n} msgs over {opts.connections} connections; paced: "
        f"{opts.rate:.0f}/s for {opts.duration:.0f} s; latencies in ms"
    )
    print(head)
    print("-" * len(head))
    for kind, r in by.items():
        t, p = r["throughput"], r.get("paced", {})
        print(
            f"{kind:<14}{'new' if r['connection_per_message'] else 'kept':>6}"
            f"{t['msgs_per_s']:>9.0f}{t['ack_ms'].get('p50', 0):>8.2f}"
            f"{t['ack_ms'].get('p99', 0):>8.2f}{'yes' if t['all_aa'] else 'NO':>8}"
            f"{t['server_cpu_us_per_msg']:>11.0f}{t['loadgen_cpu_pct']:>8.0f}  | "
            f"{p.get('achieved_rate', 0):>8.0f}{p.get('ack_ms', {}).get('p50', 0):>7.2f}"
            f"{p.get('ack_ms', {}).get('p99', 0):>8.2f}"
            f"{p.get('from_schedule_ms', {}).get('p99', 0):>10.2f}"
        )
    hub = by.get("hub")
    ratios: dict[str, Any] = {}
    targets: dict[str, Any] = {}
    if hub:
        ht = hub["throughput"]["msgs_per_s"]
        for base in ("python-hl7", "hl7apy", "hl7apy-parse"):
            if base in by:
                ratios[f"hub/{base} msgs/s"] = _ratio(ht, by[base]["throughput"]["msgs_per_s"])
                ratios[f"hub/{base} paced p99"] = _ratio(
                    hub.get("paced", {}).get("ack_ms", {}).get("p99"),
                    by[base].get("paced", {}).get("ack_ms", {}).get("p99"),
                )
        if "hub-reconnect" in by and "hl7apy" in by:
            ratios["hub-reconnect/hl7apy msgs/s"] = _ratio(
                by["hub-reconnect"]["throughput"]["msgs_per_s"],
                by["hl7apy"]["throughput"]["msgs_per_s"],
            )
        p99 = hub.get("paced", {}).get("ack_ms", {}).get("p99")
        targets = {
            f">= 2,000 msgs/s with {opts.connections} connections": (ht, ht >= 2000),
            f"ACK p99 <= 20 ms at {opts.rate:.0f} msgs/s": (p99, p99 is not None and p99 <= 20),
        }
        for base in ("python-hl7", "hl7apy"):
            if base in by:
                bt = by[base]["throughput"]["msgs_per_s"]
                targets[f"hub faster than {base}"] = (_ratio(ht, bt), ht > bt)
        all_aa = all(
            r["throughput"]["all_aa"] and r.get("paced", {}).get("all_aa") for r in by.values()
        )
        targets["every ACK AA (all servers, all phases)"] = (all_aa, all_aa)
        print()
        for k, v in ratios.items():
            print(f"ratio {k}: {v}")
        print()
        for k, (val, ok) in targets.items():
            print(f"target {k}: {val} -> {'met' if ok else 'NOT met'}")
        prof = hub.get("profile")
        if prof and prof.get("self"):
            print(
                f"\npy-spy on the hub ({prof['seconds']} s, main thread busy "
                f"{prof['main_busy_pct']}% of wall time; worker threads "
                f"{prof['worker_samples_pct_of_main']}% of main's samples). Top self:"
            )
            for f, pc in prof["self"][:12]:
                print(f"  {pc:5.1f}%  {f}")
            print("Top inclusive:")
            for f, pc in prof["inclusive"][:15]:
                print(f"  {pc:5.1f}%  {f}")
    return {
        "ratios": ratios,
        "targets": {k: {"value": v, "met": ok} for k, (v, ok) in targets.items()},
    }


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="2,000 messages, 5 s paced")
    p.add_argument("-n", type=int, default=None, help="throughput messages (default 20,000)")
    p.add_argument("-k", "--connections", type=int, default=8)
    p.add_argument("--rate", type=float, default=500.0, help="paced messages/s")
    p.add_argument("--duration", type=float, default=None, help="paced seconds (default 10)")
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument(
        "--servers",
        default="hub,python-hl7,hl7apy",
        help=f"comma-separated, from {','.join(ALL_SERVERS)}",
    )
    p.add_argument("--subscribers", type=int, default=3, help="Socket.IO clients (hub only)")
    p.add_argument(
        "--py-spy",
        type=float,
        default=0.0,
        metavar="S",
        help="profile the hub for S s under throughput load (after its phases)",
    )
    p.add_argument(
        "--py-spy-native",
        action="store_true",
        help="py-spy --native: C frames too (uvloop, sqlite3, the kernel's share shows "
        "as the syscall wrappers)",
    )
    p.add_argument("--keep-profile", metavar="PATH", help="copy py-spy's raw output here")
    p.add_argument("--json", metavar="PATH", help="write all results as JSON")
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--no-pin", dest="pin", action="store_false", help="no taskset")
    p.add_argument("--msg-timeout", type=float, default=30.0, help="seconds to wait for an ACK")
    p.add_argument("--max-errors", type=int, default=100, help="abort a phase after this many")
    p.add_argument("--phase-limit", type=float, default=180.0, help="seconds per throughput phase")
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        help="seconds to wait for subscribers to receive every event",
    )
    p.add_argument("--start-timeout", type=float, default=30.0)
    p.add_argument("--keep-tmp", action="store_true", help="keep journals and logs")
    p.add_argument("--_subscriber", help=argparse.SUPPRESS)
    opts = p.parse_args(argv)
    if opts.n is None:
        opts.n = 2000 if opts.quick else 20000
    if opts.duration is None:
        opts.duration = 5.0 if opts.quick else 10.0
    opts.servers = [s.strip() for s in opts.servers.split(",") if s.strip()]
    unknown = set(opts.servers) - set(ALL_SERVERS)
    if unknown:
        p.error(f"unknown servers: {', '.join(sorted(unknown))}")
    return opts


async def amain(opts: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="mllp-bench-"))
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results = []
    try:
        for kind in opts.servers:
            try:
                results.append(await bench_server(kind, opts, tmp))
            except Exception as exc:
                print(f"  {kind} failed: {type(exc).__name__}: {exc}", flush=True)
                results.append({"server": kind, "error": f"{type(exc).__name__}: {exc}"})
    finally:
        if not opts.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    summary = report(results, opts)
    out = {
        "started": started,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine_info(),
        "params": {
            k: getattr(opts, k)
            for k in (
                "n",
                "connections",
                "rate",
                "duration",
                "warmup",
                "servers",
                "subscribers",
                "py_spy",
                "server_cpu",
                "client_cpu",
                "pin",
                "quick",
            )
        },
        "loadgen_affinity": sorted(os.sched_getaffinity(0)),
        "results": results,
        **summary,
    }
    if opts.json:
        Path(opts.json).parent.mkdir(parents=True, exist_ok=True)
        Path(opts.json).write_text(json.dumps(out, indent=2) + "\n")
        print(f"\nwrote {opts.json}")
    ok = all("error" not in r for r in results)
    return 0 if ok else 1


def _use_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()


def main() -> None:
    opts = parse_args(sys.argv[1:])
    if opts._subscriber:
        cfg = json.loads(opts._subscriber)
        _use_uvloop()
        asyncio.run(
            subscriber_main(cfg["url"], cfg["token"], cfg["count"], cfg["room"], cfg["seconds"])
        )
        return
    if opts.pin and os.environ.get(PINNED_ENV) != "1" and shutil.which("taskset"):
        # the load generator runs on its own CPU: re-execute this script under taskset
        os.environ[PINNED_ENV] = "1"
        cmd = ["taskset", "-c", str(opts.client_cpu), sys.executable, str(Path(__file__).resolve())]
        os.execvp("taskset", [*cmd, *sys.argv[1:]])
    if opts.pin and os.sched_getaffinity(0) != {opts.client_cpu}:
        os.sched_setaffinity(0, {opts.client_cpu})
    atexit.register(cleanup_children)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    sys.path.insert(0, str(ROOT))
    _use_uvloop()
    try:
        code = asyncio.run(amain(opts))
    finally:
        cleanup_children()
    sys.exit(code)


if __name__ == "__main__":
    main()
