#!/usr/bin/env python3
"""Socket.IO fan-out benchmark: the hub against a bare python-socketio + Quart server.

Each (scenario, server) pair gets a fresh server process pinned to CPU 0 (``taskset -c 0``) and
fresh Node ``socket.io-client`` load generators pinned to CPU 1 (``taskset -c 1 node
bench/loadgen.js``), WebSocket transport only, clients offering permessage-deflate as browsers
do. This driver (and the HTTP publisher in it) pins itself to CPU 1 as well.

Scenarios (``--scenarios``, default A,P,M,R):
  A  throughput: 1,000 clients in 10 rooms, 200 events per room published with 16 requests in
     flight; deliveries/s = deliveries / (last receipt - first publish)
  P  paced latency: 1,000 clients in 10 rooms, 100 events/s in total for 20 s; p50/p99
  M  memory: 2,000 idle connections; RSS per connection after connect and after one event each
  X  max connections: 10,000 connections to one process (4 Node processes), then one event per
     room; connect time, RSS per connection, delivery latency
  R  resume (hub only): 10,000 events published to a room nobody is in, then one client joins
     with since=0; time until all 10,000 arrived

Servers (``--servers``, default hub,bare,bare-nodeflate):
  hub             ``hub serve`` (journal, auth, its own fan-out; declines permessage-deflate)
  hub-deflate     the hub with realtime.websocket_compression=true
  bare            bench/bare_server.py: stock python-socketio emit, hypercorn accepts deflate
  bare-nodeflate  the same, declining permessage-deflate as the hub does

Run from the repository root with the project's venv; ``npm ci --prefix bench`` first:

    .venv/bin/python bench/fanout.py --quick
    .venv/bin/python bench/fanout.py --scenarios A,P --json bench/results.json
    .venv/bin/python bench/fanout.py --scenarios A --servers hub --py-spy 10

Only 127.0.0.1 is ever targeted; every phase is bounded in count and time; child processes
(each in its own session) are killed on exit, Ctrl-C or error.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import importlib.metadata
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
HUB_BIN = Path(sys.executable).parent / "hub"
EVENT_TYPE = "bed_status_changed"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVERS = ("hub", "hub-deflate", "bare", "bare-nodeflate")
SCENARIOS = ("A", "P", "M", "X", "R")
BODY_BYTES = 300  # size of each published JSON body

# --- child process bookkeeping -------------------------------------------------------------

_children: dict[int, str] = {}  # pid (= process group id, start_new_session) -> label


def _raise_nofile() -> None:
    """preexec_fn for children: open-file limit up to the hard limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def cleanup_children() -> None:
    """Synchronous last resort (atexit, signals): SIGTERM, then SIGKILL, every group we started."""
    if not _children:
        return
    for pid in list(_children):
        _kill_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in _children):
        time.sleep(0.1)
    for pid in list(_children):
        if _alive(pid):
            _kill_group(pid, signal.SIGKILL)
    _children.clear()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def spawn(label: str, *cmd: str, **kw: Any) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        *cmd, preexec_fn=_raise_nofile, start_new_session=True, **kw
    )
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
    # anything left in its group (none expected)
    _kill_group(proc.pid, signal.SIGKILL)
    _children.pop(proc.pid, None)


# --- /proc readings --------------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- tokens ----------------------------------------------------------------------------------


def mint(secret: str, sub: str, role: str, hospitals: list[str]) -> str:
    try:
        from hub.auth import mint_token

        return mint_token(secret, sub=sub, role=role, hospitals=hospitals, ttl_s=6 * 3600)
    except Exception:  # the hub is changing under us: fall back to the documented claims
        import jwt

        now = int(time.time())
        claims = {"sub": sub, "role": role, "hospitals": hospitals, "iat": now, "exp": now + 21600}
        return jwt.encode(claims, secret, algorithm="HS256")


# --- servers ---------------------------------------------------------------------------------


@dataclass
class Server:
    kind: str
    port: int
    proc: asyncio.subprocess.Process
    workdir: Path
    secret: str
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_hub(self) -> bool:
        return self.kind.startswith("hub")


async def start_server(kind: str, opts: argparse.Namespace, tmp_root: Path) -> Server:
    workdir = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=tmp_root))
    port = free_port()
    secret = secrets.token_urlsafe(48)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.pop("SOCKET_IO_CORS_ORIGINS", None)
    env["PYTHONUNBUFFERED"] = "1"
    if kind.startswith("hub"):
        env.update(
            HUB_SERVER__HOST="127.0.0.1",
            HUB_SERVER__PORT=str(port),
            HUB_PLUGINS="room_policy",  # no MLLP listener: this bench measures fan-out only
            HUB_JOURNAL__PATH=str(workdir / "journal.sqlite3"),
            HUB_AUTH__SECRET=secret,
            HUB_AUTH__SECRET_FILE=str(workdir / "secret"),
            HUB_LOGGING__LEVEL="WARNING",
            HUB_REALTIME__TRANSPORTS="websocket",
            HUB_REALTIME__JOIN_RATE_PER_S="1000",
            HUB_REALTIME__JOIN_BURST="1000",
            HUB_REALTIME__WEBSOCKET_COMPRESSION="true" if kind == "hub-deflate" else "false",
        )
        cmd = [sys.executable, str(HUB_BIN), "serve"]
    elif kind.startswith("bare"):
        cmd = [sys.executable, str(BENCH / "bare_server.py"), "--port", str(port)]
        cmd += ["--loop", opts.bare_loop]
        if kind == "bare-nodeflate":
            cmd.append("--no-deflate")
    else:
        raise ValueError(kind)
    if opts.gc_log:
        cmd = [sys.executable, str(BENCH / "gclog.py"), *cmd[1:]]
    log = workdir / "server.log"
    with open(log, "wb") as logf:
        proc = await spawn(
            kind,
            "taskset",
            "-c",
            str(opts.server_cpu),
            *cmd,
            cwd=workdir,  # the hub finds no config/hub.toml there: defaults + the env above
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
        )
    server = Server(kind, port, proc, workdir, secret, log)
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            if proc.returncode is not None:
                raise RuntimeError(f"{kind} exited with {proc.returncode}:\n{tail(log)}")
            try:
                r = await client.get(f"{server.url}/health")
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                await terminate(proc)
                raise RuntimeError(f"{kind} not healthy within 30 s:\n{tail(log)}")
            await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # let start-up garbage settle before the RSS baseline
    return server


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- load generators -------------------------------------------------------------------------


class LoadGen:
    def __init__(self, proc: asyncio.subprocess.Process, log: Path, index: int) -> None:
        self.proc = proc
        self.log = log
        self.index = index

    @classmethod
    async def start(cls, index: int, cfg: dict[str, Any], opts: argparse.Namespace, workdir: Path):
        log = workdir / f"loadgen-{index}.log"
        with open(log, "wb") as logf:
            proc = await spawn(
                f"loadgen-{index}",
                "taskset",
                "-c",
                str(opts.client_cpu),
                "node",
                "--max-old-space-size=4096",
                str(BENCH / "loadgen.js"),
                json.dumps(cfg),
                cwd=BENCH,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=logf,
                limit=64 * 1024 * 1024,
            )
        return cls(proc, log, index)

    async def send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        await self.proc.stdin.drain()

    async def expect(self, msg: str, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"loadgen {self.index}: no {msg!r} within {timeout:.0f} s")
            line = await asyncio.wait_for(self.proc.stdout.readline(), left)
            if not line:
                raise RuntimeError(
                    f"loadgen {self.index} exited ({self.proc.returncode}):\n{tail(self.log)}"
                )
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            if data.get("msg") == msg:
                return data

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(Exception):
                await self.send({"cmd": "close"})
                await asyncio.wait_for(self.proc.wait(), 3)
        await terminate(self.proc, grace=2)


@dataclass
class Fleet:
    gens: list[LoadGen]
    joined: list[dict[str, Any]] = field(default_factory=list)

    async def reset(self) -> None:
        for g in self.gens:
            await g.send({"cmd": "reset"})
        await asyncio.gather(*(g.expect("reset", 30) for g in self.gens))

    async def wait(self, per_room: dict[str, int], timeout: float) -> list[dict[str, Any]]:
        for g in self.gens:
            await g.send({"cmd": "wait", "per_room": per_room, "timeout_ms": int(timeout * 1000)})
        return list(await asyncio.gather(*(g.expect("done", timeout + 30) for g in self.gens)))

    async def stop(self) -> None:
        await asyncio.gather(*(g.stop() for g in self.gens), return_exceptions=True)

    def cpu_seconds(self) -> float:
        """CPU used by the load generators plus this driver (all on the client CPU)."""
        total = time.process_time()
        for g in self.gens:
            with contextlib.suppress(OSError):
                total += cpu_seconds(g.proc.pid)
        return total


def room_names(rooms: int) -> list[str]:
    return [f"hospital_H{i}" for i in range(rooms)]


async def connect_fleet(
    server: Server,
    clients: int,
    rooms: int,
    opts: argparse.Namespace,
    loadgens: int = 1,
    since: int | None = None,
    timeout: float = 180,
) -> Fleet:
    hospitals = [f"H{i}" for i in range(rooms)]
    token = mint(server.secret, "bench-user", "nurse", hospitals) if server.is_hub else ""
    loadgens = max(1, min(loadgens, clients))
    per = [clients // loadgens + (1 if i < clients % loadgens else 0) for i in range(loadgens)]
    gens = []
    first = 0
    for i, count in enumerate(per):
        cfg = {
            "url": server.url,
            "count": count,
            "first_index": first,
            "rooms": room_names(rooms),
            "token": token,
            "deflate": opts.client_deflate,
            "connect_concurrency": max(1, opts.connect_concurrency // loadgens),
            "connect_timeout_ms": 30000,
            "phase_timeout_ms": int(timeout * 1000),
            "event_types": [EVENT_TYPE],
            "max_lifetime_ms": int((timeout + 900) * 1000),
        }
        if since is not None:
            cfg["since"] = since
        gens.append(await LoadGen.start(i, cfg, opts, server.workdir))
        first += count
    fleet = Fleet(gens)
    try:
        fleet.joined = list(await asyncio.gather(*(g.expect("joined", timeout + 30) for g in gens)))
    except BaseException:
        await fleet.stop()
        raise
    return fleet


def join_summary(fleet: Fleet) -> dict[str, Any]:
    joined = sum(j["joined"] for j in fleet.joined)
    failed = sum(j["failed"] for j in fleet.joined)
    start = min(j["connect_start_ms"] for j in fleet.joined)
    end = max(j["connect_end_ms"] for j in fleet.joined)
    ext: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for j in fleet.joined:
        ext.update(j["extensions"])
        errors.update(j["errors"])
    return {
        "joined": joined,
        "join_failed": failed,
        "join_errors": dict(errors.most_common(5)),
        "connect_all_ms": round(end - start, 1),
        "connect_start_ms": start,
        "deflate_offered": fleet.joined[0]["deflate_offered"],
        "negotiated_extensions": dict(ext),
        "deflate_accepted": any("permessage-deflate" in k for k in ext),
    }


# --- latency histograms ----------------------------------------------------------------------


def bucket_ms(key: int) -> float:
    return (key + 0.5) / 10 if key < 100000 else key - 100000 + 0.5


def merge_hist(reports: list[dict[str, Any]]) -> Counter[int]:
    merged: Counter[int] = Counter()
    for r in reports:
        for k, v in r["hist"].items():
            merged[int(k)] += v
    return merged


def percentiles(hist: Counter[int], ps: tuple[float, ...] = (50, 90, 99)) -> dict[str, float]:
    total = sum(hist.values())
    out: dict[str, float] = {}
    if not total:
        return {f"p{p:g}_ms": float("nan") for p in ps} | {"max_ms": float("nan")}
    keys = sorted(hist)
    for p in ps:
        rank = max(1, round(total * p / 100))
        seen = 0
        for k in keys:
            seen += hist[k]
            if seen >= rank:
                out[f"p{p:g}_ms"] = round(bucket_ms(k), 1)
                break
    out["max_ms"] = round(bucket_ms(keys[-1]), 1)
    return out


def combine_done(reports: list[dict[str, Any]]) -> dict[str, Any]:
    firsts = [r["first_recv_ms"] for r in reports if r["first_recv_ms"] is not None]
    lasts = [r["last_recv_ms"] for r in reports if r["last_recv_ms"] is not None]
    reasons: Counter[str] = Counter()
    for r in reports:
        reasons.update(r["disconnect_reasons"])
    return {
        "delivered": sum(r["delivered"] for r in reports),
        "expected": sum(r["expected"] for r in reports),
        "timed_out": any(r["timed_out"] for r in reports),
        "first_recv_ms": min(firsts) if firsts else None,
        "last_recv_ms": max(lasts) if lasts else None,
        "out_of_order": sum(r["out_of_order"] for r in reports),
        "disconnects": sum(r["disconnects"] for r in reports),
        "disconnect_reasons": dict(reasons),
        **percentiles(merge_hist(reports)),
    }


# --- publishing ------------------------------------------------------------------------------


class HttpPool:
    """A minimal keep-alive HTTP/1.1 client for POSTing small JSON bodies to 127.0.0.1.

    httpx costs about 1-2 ms of CPU per request, which on the shared client CPU slowed the
    publisher more than the servers; this costs a few tens of microseconds.
    """

    def __init__(self, port: int, headers: dict[str, str], size: int) -> None:
        self.port = port
        self.head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.sem = asyncio.Semaphore(size)

    async def post(self, path: str, body: bytes, timeout: float = 60) -> tuple[int, bytes]:
        request = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n{self.head}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        async with self.sem:
            conn = None
            now = time.monotonic()
            while self.idle:
                reader, writer, used = self.idle.pop()
                if now - used < 2.0:  # servers close idle keep-alive connections (hypercorn: 5 s)
                    conn = (reader, writer)
                    break
                writer.close()
            reused = conn is not None
            for attempt in range(2):
                if conn is None:
                    conn = await asyncio.open_connection("127.0.0.1", self.port)
                reader, writer = conn
                try:
                    writer.write(request)
                    status, data, keep = await asyncio.wait_for(self._response(reader), timeout)
                except (ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError) as exc:
                    writer.close()
                    # A reused connection the server had just closed: nothing was read, so the
                    # request was not handled; send it once more on a fresh connection.
                    partial = getattr(exc, "partial", b"")
                    if attempt == 0 and reused and not partial:
                        conn = None
                        continue
                    raise
                except BaseException:
                    writer.close()
                    raise
                if keep:
                    self.idle.append((reader, writer, time.monotonic()))
                else:
                    writer.close()
                return status, data
            raise RuntimeError("unreachable")

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = {}
        for line in head[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip().lower()
        if headers.get("transfer-encoding") == "chunked":
            data = b""
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                data += chunk[:-2]
        else:
            data = await reader.readexactly(int(headers.get("content-length", "0")))
        return status, data, headers.get("connection") != "close"

    async def close(self) -> None:
        for _, writer, _ in self.idle:
            writer.close()
        self.idle.clear()


class Publisher:
    def __init__(self, server: Server, max_in_flight: int) -> None:
        token = mint(server.secret, "bench-publisher", "service", [])
        self.client = HttpPool(
            server.port,
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            max_in_flight,
        )
        self.rtts: list[float] = []
        self.errors: Counter[str] = Counter()
        self.ok_per_room: Counter[str] = Counter()
        probe = self._body("H0", 0, time.time() * 1000)
        self.pad = max(0, BODY_BYTES - len(probe))

    def _body(self, hospital: str, i: int, sent_ms: float, pad: int = 0) -> bytes:
        bed = {"bed_id": f"B{i}", "status": "occupied", "note": "x" * pad, "sent_ms": sent_ms}
        return json.dumps({"hospital_id": hospital, "bed_info": bed}).encode()

    async def publish(self, room_index: int, i: int) -> bool:
        hospital = f"H{room_index}"
        sent = time.time() * 1000
        body = self._body(hospital, i, sent, self.pad)
        try:
            status, data = await self.client.post(f"/api/events/{EVENT_TYPE}", body)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            self.errors[type(exc).__name__] += 1
            return False
        self.rtts.append(time.time() * 1000 - sent)
        if status != 202:
            self.errors[f"HTTP {status}: {data[:120].decode(errors='replace')}"] += 1
            return False
        self.ok_per_room[f"hospital_{hospital}"] += 1
        return True

    async def burst(self, plan: list[int], concurrency: int, timeout: float) -> float:
        """Publish plan[i] (room index) for every i with `concurrency` requests in flight."""
        it = iter(enumerate(plan))
        deadline = time.monotonic() + timeout

        async def worker() -> None:
            for i, room in it:
                if time.monotonic() > deadline:
                    self.errors["publish deadline"] += 1
                    return
                await self.publish(room, i)

        t0 = time.time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.time() - t0

    async def paced(self, plan: list[int], rate: float, max_in_flight: int) -> dict[str, Any]:
        """Open loop: event i is sent at t0 + i/rate, whatever earlier requests are doing."""
        sem = asyncio.Semaphore(max_in_flight)
        lags: list[float] = []
        tasks = []

        async def one(room: int, i: int) -> None:
            try:
                await self.publish(room, i)
            finally:
                sem.release()

        t0 = time.monotonic()
        for i, room in enumerate(plan):
            due = t0 + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await sem.acquire()
            lags.append((time.monotonic() - due) * 1000)
            tasks.append(asyncio.ensure_future(one(room, i)))
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
        lags.sort()
        return {
            "publish_lag_p99_ms": round(lags[int(len(lags) * 0.99) - 1], 1) if lags else 0,
            "published_in_s": round(time.monotonic() - t0, 2),
        }

    def rtt_summary(self) -> dict[str, Any]:
        if not self.rtts:
            return {}
        s = sorted(self.rtts)
        return {
            "publish_rtt_p50_ms": round(s[len(s) // 2], 1),
            "publish_rtt_p99_ms": round(s[max(0, int(len(s) * 0.99) - 1)], 1),
        }

    async def close(self) -> None:
        await self.client.close()


# --- py-spy ----------------------------------------------------------------------------------


async def py_spy_record(pid: int, seconds: float, out: Path, opts: argparse.Namespace):
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        print("  py-spy not found (pip install py-spy); skipping profile", flush=True)
        return None
    proc = await spawn(
        "py-spy",
        "taskset",
        "-c",
        str(opts.client_cpu),
        exe,
        "record",
        "-p",
        str(pid),
        "-d",
        str(int(seconds)),
        "-r",
        "100",
        "-f",
        "raw",
        "-o",
        str(out),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return proc


def summarise_collapsed(path: Path, top: int = 15) -> dict[str, Any]:
    """Self and inclusive sample shares per frame from py-spy's collapsed-stack output.

    Shares are of the event-loop (main) thread's samples: at 100% CPU that thread is the
    process. Thread-pool threads (the journal's writer and readers) are counted apart, only
    while running a work item: py-spy reports their idle ``queue.get`` as active.
    """
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    worker_self: Counter[str] = Counter()
    main = worker_busy = worker_idle = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        if frames[0].startswith("Thread._bootstrap"):
            if any(f.startswith("_WorkItem.run") for f in frames):
                worker_busy += count
                worker_self[_short(frames[-1])] += count
            else:
                worker_idle += count
            continue
        main += count
        self_c[_short(frames[-1])] += count
        for f in {_short(f) for f in frames}:
            incl[f] += count
    pct = lambda c: round(100 * c / main, 1) if main else 0.0  # noqa: E731
    inclusive = [(f, pct(c)) for f, c in incl.most_common() if c < 0.98 * main]
    return {
        "samples": main,
        "self": [(f, pct(c)) for f, c in self_c.most_common(top)],
        "inclusive": inclusive[: top + 5],
        "worker_threads_busy_pct_of_main": pct(worker_busy),
        "worker_self": [(f, pct(c)) for f, c in worker_self.most_common(5)],
        "worker_idle_samples": worker_idle,
    }


def _short(frame: str) -> str:
    # "emit (socketio/async_server.py:123)" -> "emit (socketio/async_server.py)"
    name, _, loc = frame.partition(" (")
    loc = loc.rstrip(")")
    path = loc.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3."):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "lib/python3.":
                path = "stdlib/" + path.split("/", 1)[-1]
    return f"{name} ({path})" if path else name


# --- scenarios -------------------------------------------------------------------------------


def settle(seconds: float) -> Any:
    return asyncio.sleep(seconds)


def rss_per_conn(before_kb: int, after_kb: int, n: int) -> float:
    return round((after_kb - before_kb) / max(1, n), 1)


async def scenario_throughput(server: Server, opts: argparse.Namespace, profile: bool = False):
    c = opts.a_clients
    r = opts.a_rooms
    e = opts.a_events_per_room
    rss0 = rss_kb(server.pid)
    fleet = await connect_fleet(server, c, r, opts, loadgens=opts.loadgens)
    pub = Publisher(server, opts.publish_concurrency)
    spy = None
    try:
        res = join_summary(fleet)
        await settle(1)
        rss1 = rss_kb(server.pid)
        await fleet.reset()
        plan = [i % r for i in range(e * r)]
        cpu0 = cpu_seconds(server.pid)
        ccpu0 = fleet.cpu_seconds()
        t0 = time.time()
        if profile:
            spy_out = server.workdir / "py-spy.txt"
            spy = await py_spy_record(server.pid, opts.py_spy, spy_out, opts)
        pub_s = await pub.burst(plan, opts.publish_concurrency, timeout=opts.phase_timeout)
        done = combine_done(await fleet.wait(dict(pub.ok_per_room), opts.phase_timeout))
        cpu1 = cpu_seconds(server.pid)
        ccpu1 = fleet.cpu_seconds()
        t1 = time.time()
        res |= done
        last = done["last_recv_ms"] or t1 * 1000
        span = max(1e-3, last / 1000 - t0)
        res.update(
            clients=c,
            rooms=r,
            events=sum(pub.ok_per_room.values()),
            publish_errors=dict(pub.errors),
            publish_s=round(pub_s, 2),
            publish_per_s=round(sum(pub.ok_per_room.values()) / max(pub_s, 1e-3), 1),
            deliveries_per_s=round(done["delivered"] / span, 1),
            delivery_span_s=round(span, 2),
            measure_window_s=[t0, last / 1000],
            server_cpu_pct=round(100 * (cpu1 - cpu0) / max(1e-3, t1 - t0), 1),
            client_cpu_pct=round(100 * (ccpu1 - ccpu0) / max(1e-3, t1 - t0), 1),
            server_cpu_us_per_delivery=round(1e6 * (cpu1 - cpu0) / max(1, done["delivered"]), 1),
            rss_kb_per_conn=rss_per_conn(rss0, rss1, res["joined"]),
            rss_after_traffic_kb_per_conn=rss_per_conn(rss0, rss_kb(server.pid), res["joined"]),
            **pub.rtt_summary(),
        )
        if spy is not None:
            _, err = await asyncio.wait_for(spy.communicate(), opts.py_spy + 60)
            _children.pop(spy.pid, None)
            if spy.returncode == 0 and spy_out.exists():
                res["py_spy"] = summarise_collapsed(spy_out)
                keep = BENCH / "results"
                keep.mkdir(exist_ok=True)
                shutil.copy(spy_out, keep / f"py-spy-{server.kind}-A.txt")
            else:
                res["py_spy_error"] = (err or b"").decode(errors="replace")[-500:]
        return res
    finally:
        if spy is not None and spy.returncode is None:
            await terminate(spy, grace=2)
        await pub.close()
        await fleet.stop()


async def scenario_paced(server: Server, opts: argparse.Namespace):
    c, r = opts.p_clients, opts.p_rooms
    n = int(opts.p_rate * opts.p_duration)
    rss0 = rss_kb(server.pid)
    fleet = await connect_fleet(server, c, r, opts, loadgens=opts.loadgens)
    pub = Publisher(server, 256)
    try:
        res = join_summary(fleet)
        await settle(1)
        rss1 = rss_kb(server.pid)
        await fleet.reset()
        plan = [i % r for i in range(n)]
        cpu0 = cpu_seconds(server.pid)
        ccpu0 = fleet.cpu_seconds()
        t0 = time.time()
        pace = await pub.paced(plan, opts.p_rate, max_in_flight=256)
        done = combine_done(await fleet.wait(dict(pub.ok_per_room), opts.phase_timeout))
        cpu1 = cpu_seconds(server.pid)
        ccpu1 = fleet.cpu_seconds()
        t1 = time.time()
        res |= done
        last = done["last_recv_ms"] or t1 * 1000
        span = max(1e-3, last / 1000 - t0)
        res.update(
            clients=c,
            rooms=r,
            rate=opts.p_rate,
            events=sum(pub.ok_per_room.values()),
            publish_errors=dict(pub.errors),
            offered_deliveries_per_s=round(opts.p_rate * c / r, 1),
            deliveries_per_s=round(done["delivered"] / span, 1),
            delivery_span_s=round(span, 2),
            measure_window_s=[t0, last / 1000],
            server_cpu_pct=round(100 * (cpu1 - cpu0) / max(1e-3, t1 - t0), 1),
            client_cpu_pct=round(100 * (ccpu1 - ccpu0) / max(1e-3, t1 - t0), 1),
            server_cpu_us_per_delivery=round(1e6 * (cpu1 - cpu0) / max(1, done["delivered"]), 1),
            rss_kb_per_conn=rss_per_conn(rss0, rss1, res["joined"]),
            rss_after_traffic_kb_per_conn=rss_per_conn(rss0, rss_kb(server.pid), res["joined"]),
            **pace,
            **pub.rtt_summary(),
        )
        return res
    finally:
        await pub.close()
        await fleet.stop()


async def scenario_memory(server: Server, opts: argparse.Namespace, clients: int, loadgens: int):
    r = opts.m_rooms
    rss0 = rss_kb(server.pid)
    cpu0 = cpu_seconds(server.pid)
    fleet = await connect_fleet(server, clients, r, opts, loadgens=loadgens, timeout=300)
    pub = Publisher(server, 16)
    try:
        res = join_summary(fleet)
        cpu1 = cpu_seconds(server.pid)
        await settle(2)
        rss1 = rss_kb(server.pid)
        await fleet.reset()
        # one event per room: every client receives one message (deflate contexts, buffers)
        t0 = time.time()
        cpu2 = cpu_seconds(server.pid)
        await pub.burst(list(range(r)), r, timeout=60)
        done = combine_done(await fleet.wait(dict(pub.ok_per_room), 120))
        cpu3 = cpu_seconds(server.pid)
        await settle(2)
        rss2 = rss_kb(server.pid)
        last = done["last_recv_ms"] or time.time() * 1000
        res |= done
        res.update(
            measure_window_s=[t0, last / 1000],
            clients=clients,
            rooms=r,
            events=sum(pub.ok_per_room.values()),
            publish_errors=dict(pub.errors),
            rss_before_mb=round(rss0 / 1024, 1),
            rss_after_connect_mb=round(rss1 / 1024, 1),
            rss_after_traffic_mb=round(rss2 / 1024, 1),
            rss_kb_per_conn=rss_per_conn(rss0, rss1, res["joined"]),
            rss_after_traffic_kb_per_conn=rss_per_conn(rss0, rss2, res["joined"]),
            connect_cpu_ms_per_client=round(1000 * (cpu1 - cpu0) / max(1, res["joined"]), 2),
            broadcast_all_ms=round(last - t0 * 1000, 1),
            deliveries_per_s=round(done["delivered"] / max(1e-3, last / 1000 - t0), 1),
            server_cpu_pct=round(100 * (cpu3 - cpu2) / max(1e-3, last / 1000 - t0), 1),
        )
        return res
    finally:
        await pub.close()
        await fleet.stop()


async def scenario_resume(server: Server, opts: argparse.Namespace):
    if not server.is_hub:
        return {"skipped": "no journal: resume is a hub feature"}
    n = opts.r_events
    pub = Publisher(server, opts.publish_concurrency)
    try:
        pub_s = await pub.burst([0] * n, opts.publish_concurrency, timeout=opts.phase_timeout)
    finally:
        await pub.close()
    published = sum(pub.ok_per_room.values())
    await settle(1)
    rss0 = rss_kb(server.pid)
    cpu0 = cpu_seconds(server.pid)
    fleet = await connect_fleet(server, 1, 1, opts, since=0, timeout=opts.phase_timeout)
    try:
        res = join_summary(fleet)
        done = combine_done(await fleet.wait({"hospital_H0": published}, opts.phase_timeout))
        cpu1 = cpu_seconds(server.pid)
        start = res["connect_start_ms"]
        last = done["last_recv_ms"] or time.time() * 1000
        res |= {k: v for k, v in done.items() if not k.endswith("_ms") or k.endswith("recv_ms")}
        res.update(
            clients=1,
            rooms=1,
            events=published,
            publish_errors=dict(pub.errors),
            publish_s=round(pub_s, 2),
            publish_per_s=round(published / max(pub_s, 1e-3), 1),
            join_ack_ms=res["connect_all_ms"],
            resume_all_ms=round(last - start, 1),
            deliveries_per_s=round(done["delivered"] / max(1e-3, (last - start) / 1000), 1),
            server_cpu_s=round(cpu1 - cpu0, 2),
            rss_growth_mb=round((rss_kb(server.pid) - rss0) / 1024, 1),
            **pub.rtt_summary(),
        )
        return res
    finally:
        await fleet.stop()


async def wait_idle(server: Server, limit: float) -> float | None:
    """Seconds until the server's CPU use drops below 10% over 0.5 s (None: still busy)."""
    t0 = time.monotonic()
    while server.proc.returncode is None and time.monotonic() - t0 < limit:
        try:
            before = cpu_seconds(server.pid)
            await asyncio.sleep(0.5)
            if cpu_seconds(server.pid) - before < 0.05:
                return round(time.monotonic() - t0 - 0.5, 1)
        except OSError:
            return None
    return None


async def run_one(scenario: str, kind: str, opts: argparse.Namespace, tmp_root: Path, **kw):
    if scenario == "R" and not kind.startswith("hub"):
        return {"skipped": "no journal: resume is a hub feature"}
    server = await start_server(kind, opts, tmp_root)
    res: dict[str, Any] | None = None
    try:
        if scenario == "A":
            res = await scenario_throughput(server, opts, **kw)
        elif scenario == "P":
            res = await scenario_paced(server, opts)
        elif scenario == "M":
            res = await scenario_memory(server, opts, opts.m_clients, max(1, opts.loadgens))
        elif scenario == "X":
            res = await scenario_memory(server, opts, opts.x_clients, opts.x_loadgens)
        elif scenario == "R":
            res = await scenario_resume(server, opts)
        else:
            raise ValueError(scenario)
        if server.proc.returncode is not None:
            res["server_exit"] = server.proc.returncode
        return res
    finally:
        # The clients are gone; let the server finish handling their disconnects first, so
        # that the shutdown below measures shutdown.
        quiet_s = await wait_idle(server, limit=60)
        t = time.monotonic()
        await terminate(server.proc, grace=20)
        shutdown = {
            "disconnects_handled_s": quiet_s,
            "shutdown_s": round(time.monotonic() - t, 2),
            "exit": server.proc.returncode,
        }
        log_lines = tail(server.log, 5000).splitlines()
        problems = [
            line
            for line in log_lines
            if any(w in line for w in ("Traceback", "Error", "ERROR", "WARNING", "Exception"))
        ]
        slow_gc = [line.split() for line in log_lines if line.startswith("gc gen")]
        if res is not None and opts.gc_log:
            gen2 = [float(w[2]) for w in slow_gc if w[1] == "gen2"]
            res["gc_slow"] = len(slow_gc)
            res["gc_gen2_count"] = len(gen2)
            res["gc_gen2_max_ms"] = max(gen2) if gen2 else 0.0
            res["gc_gen2_total_ms"] = round(sum(gen2), 1)
            window = res.get("measure_window_s")
            if window:
                # a collection logged at `at` ended then; it overlaps the window if it ran in it
                hits = [
                    float(w[2])
                    for w in slow_gc
                    if w[1] == "gen2"
                    and window[0] <= float(w[5]) + float(w[2]) / 1000
                    and float(w[5]) - float(w[2]) / 1000 <= window[1]
                ]
                res["gc_gen2_in_window_ms"] = hits
        if res is not None:
            res["server_shutdown"] = shutdown
            if problems:
                res["server_log_problems"] = problems[:20]
        if not opts.keep_tmp:
            shutil.rmtree(server.workdir, ignore_errors=True)


# --- reporting -------------------------------------------------------------------------------

COLUMNS = [
    ("clients", "clients", "{:,}"),
    ("joined", "joined", "{:,}"),
    ("events", "events", "{:,}"),
    ("delivered", "delivered", "{:,}"),
    ("deliveries_per_s", "deliv/s", "{:,.0f}"),
    ("p50_ms", "p50 ms", "{:,.1f}"),
    ("p99_ms", "p99 ms", "{:,.1f}"),
    ("connect_all_ms", "connect ms", "{:,.0f}"),
    ("rss_kb_per_conn", "KB/conn", "{:,.1f}"),
    ("rss_after_traffic_kb_per_conn", "KB/conn+tx", "{:,.1f}"),
    ("server_cpu_pct", "srv CPU%", "{:,.0f}"),
    ("client_cpu_pct", "cli CPU%", "{:,.0f}"),
    ("deflate_accepted", "deflate", "{}"),
]
EXTRA = {
    "A": [
        ("server_cpu_us_per_delivery", "srv µs/deliv", "{:,.1f}"),
        ("publish_per_s", "publish/s", "{:,.0f}"),
        ("publish_rtt_p50_ms", "POST p50", "{:,.1f}"),
    ],
    "P": [("p90_ms", "p90 ms", "{:,.1f}"), ("publish_lag_p99_ms", "pub lag p99", "{:,.1f}")],
    "M": [("connect_cpu_ms_per_client", "conn CPU ms", "{:,.2f}")],
    "X": [("connect_cpu_ms_per_client", "conn CPU ms", "{:,.2f}")],
    "R": [
        ("publish_per_s", "publish/s", "{:,.0f}"),
        ("join_ack_ms", "join ack ms", "{:,.0f}"),
        ("resume_all_ms", "all recv ms", "{:,.0f}"),
        ("out_of_order", "out of order", "{}"),
    ],
}
TITLES = {
    "A": "A throughput",
    "P": "P paced latency",
    "M": "M memory (idle connections)",
    "X": "X max connections",
    "R": "R resume with since=0",
}


def median_result(runs: list[dict[str, Any]]) -> dict[str, Any]:
    if len(runs) == 1:
        return runs[0]
    out = dict(runs[-1])
    for key in runs[-1]:
        vals = [r.get(key) for r in runs]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            out[key] = statistics.median_low(vals)  # type: ignore[type-var]
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in vals):
            out[key] = round(statistics.median(vals), 1)  # type: ignore[arg-type]
    out["runs"] = len(runs)
    return out


def fmt(value: Any, spec: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value != value:
        return "-"
    try:
        return spec.format(value)
    except (ValueError, TypeError):
        return str(value)


def print_tables(results: dict[str, dict[str, dict[str, Any]]], servers: list[str]) -> None:
    for scenario, by_server in results.items():
        cols = COLUMNS + EXTRA.get(scenario, [])
        if scenario == "R":
            cols = [
                c
                for c in cols
                if c[0]
                not in (
                    "p50_ms",
                    "p99_ms",
                    "rss_kb_per_conn",
                    "rss_after_traffic_kb_per_conn",
                    "server_cpu_pct",
                    "connect_all_ms",
                )
            ]
        head = ["server"] + [c[1] for c in cols]
        rows = []
        for kind in servers:
            res = by_server.get(kind)
            if res is None:
                continue
            if "skipped" in res or "error" in res:
                rows.append([kind, res.get("skipped") or f"ERROR {res.get('error')}"])
                continue
            rows.append([kind] + [fmt(res.get(k), spec) for k, _, spec in cols])
        widths = [
            max(len(str(r[i])) for r in [head, *rows] if i < len(r)) for i in range(len(head))
        ]
        print(f"\n== {TITLES[scenario]} ==")
        print("  ".join(h.rjust(w) for h, w in zip(head, widths, strict=False)))
        for row in rows:
            if len(row) == 2 and len(head) > 2:
                print(f"{row[0].rjust(widths[0])}  {row[1]}")
            else:
                print("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=False)))
        hub = by_server.get("hub")
        for base in ("bare", "bare-nodeflate"):
            b = by_server.get(base)
            if not hub or not b or "deliveries_per_s" not in hub or "deliveries_per_s" not in b:
                continue
            ratio = hub["deliveries_per_s"] / max(1e-9, b["deliveries_per_s"])
            line = f"  hub/{base} deliveries/s: {ratio:.2f}x"
            if hub.get("rss_kb_per_conn") and b.get("rss_kb_per_conn"):
                line += f"; KB/conn ratio {hub['rss_kb_per_conn'] / b['rss_kb_per_conn']:.2f}"
            if hub.get("p99_ms") and b.get("p99_ms") and scenario in ("P", "X"):
                line += f"; p99 {hub['p99_ms']:.0f} vs {b['p99_ms']:.0f} ms"
            print(line)
        for kind in servers:
            res = by_server.get(kind) or {}
            notes = []
            if res.get("join_failed"):
                notes.append(f"{res['join_failed']} joins failed {res.get('join_errors')}")
            if res.get("timed_out"):
                notes.append(f"timed out: {res.get('delivered')}/{res.get('expected')} delivered")
            if res.get("disconnects"):
                notes.append(f"{res['disconnects']} disconnects {res.get('disconnect_reasons')}")
            if res.get("out_of_order"):
                notes.append(f"{res['out_of_order']} out-of-order deliveries")
            if res.get("publish_errors"):
                notes.append(f"publish errors {res['publish_errors']}")
            if res.get("server_exit") is not None:
                notes.append(f"server exited {res['server_exit']} during the run")
            sd = res.get("server_shutdown") or {}
            if sd and (
                sd.get("exit") not in (0, -15)
                or sd.get("shutdown_s", 0) > 5
                or sd.get("disconnects_handled_s") is None
                or sd["disconnects_handled_s"] > 5
            ):
                notes.append(f"shutdown: {sd}")
            if res.get("server_log_problems"):
                notes.append(f"server log: {res['server_log_problems'][:3]}")
            if notes:
                print(f"  ! {kind}: " + "; ".join(notes))


def print_py_spy(summary: dict[str, Any]) -> None:
    print(f"\n== py-spy on the hub during A ({summary['samples']} event-loop samples) ==")
    print("self time (leaf frame), % of event-loop thread samples:")
    for frame, pct in summary["self"]:
        print(f"  {pct:5.1f}%  {frame}")
    print("inclusive (frame anywhere on the stack; frames on every stack left out):")
    for frame, pct in summary["inclusive"]:
        print(f"  {pct:5.1f}%  {frame}")
    print(f"thread-pool threads busy: {summary['worker_threads_busy_pct_of_main']}% of that, in:")
    for frame, pct in summary["worker_self"]:
        print(f"  {pct:5.1f}%  {frame}")


def machine_info() -> dict[str, Any]:
    def cmd(*args: str) -> str:
        try:
            return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"

    model = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    libs = {}
    for dist in (
        "python-socketio",
        "python-engineio",
        "hypercorn",
        "quart",
        "uvloop",
        "wsproto",
        "httpx",
    ):
        try:
            libs[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            libs[dist] = "-"
    for pkg in ("socket.io-client", "engine.io-client", "ws"):
        try:
            libs[pkg] = json.loads((BENCH / "node_modules" / pkg / "package.json").read_text())[
                "version"
            ]
        except (OSError, ValueError, KeyError):
            libs[pkg] = "-"
    rev = cmd("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD")
    dirty = cmd("git", "-C", str(ROOT), "status", "--porcelain", "--", "hub", "plugins")
    return {
        "hub_commit": rev + (" (hub/ has uncommitted changes)" if dirty else ""),
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": cmd("node", "--version"),
        "libs": libs,
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
    }


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Socket.IO fan-out benchmark: hub vs bare python-socketio",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    p.add_argument("--scenarios", default="A,P,M,R", help="comma list of A,P,M,X,R")
    p.add_argument("--servers", default="hub,bare,bare-nodeflate", help=f"comma list of {SERVERS}")
    p.add_argument("--quick", action="store_true", help="small smoke run (under a minute)")
    p.add_argument("--repeat", type=int, default=1, help="runs per pair, interleaved; medians")
    p.add_argument("--json", metavar="PATH", help="also write results as JSON ('-' = stdout)")
    p.add_argument(
        "--py-spy",
        type=float,
        default=0,
        metavar="S",
        help="after the runs, profile the hub for S seconds during an extra A run",
    )
    p.add_argument(
        "--no-client-deflate",
        dest="client_deflate",
        action="store_false",
        help="clients do not offer permessage-deflate",
    )
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument(
        "--bare-loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="event loop of the bare server (the hub's default is uvloop)",
    )
    p.add_argument("--loadgens", type=int, default=1, help="Node processes for A, P and M")
    p.add_argument(
        "--connect-concurrency",
        type=int,
        default=100,
        help="connection attempts in flight, over all load generators",
    )
    p.add_argument("--publish-concurrency", type=int, default=16, help="POSTs in flight in A and R")
    p.add_argument("--phase-timeout", type=float, default=180, help="seconds per wait")
    p.add_argument("--keep-tmp", action="store_true", help="keep server temp dirs and logs")
    p.add_argument(
        "--gc-log",
        action="store_true",
        help="run servers under bench/gclog.py; report collections slower than 20 ms",
    )
    g = p.add_argument_group("scenario sizes")
    g.add_argument("--a-clients", type=int, default=1000)
    g.add_argument("--a-rooms", type=int, default=10)
    g.add_argument("--a-events-per-room", type=int, default=200)
    g.add_argument("--p-clients", type=int, default=1000)
    g.add_argument("--p-rooms", type=int, default=10)
    g.add_argument("--p-rate", type=float, default=100, help="events/s over all rooms")
    g.add_argument("--p-duration", type=float, default=20)
    g.add_argument("--m-clients", type=int, default=2000)
    g.add_argument("--m-rooms", type=int, default=10)
    g.add_argument("--x-clients", type=int, default=10000)
    g.add_argument("--x-loadgens", type=int, default=4)
    g.add_argument("--r-events", type=int, default=10000)
    opts = p.parse_args(argv)
    if opts.quick:
        defaults = {
            "a_clients": 100,
            "a_rooms": 5,
            "a_events_per_room": 50,
            "p_clients": 100,
            "p_rooms": 5,
            "p_rate": 50,
            "p_duration": 4,
            "m_clients": 200,
            "x_clients": 1000,
            "x_loadgens": 2,
            "r_events": 1000,
            "phase_timeout": 60,
        }
        for key, value in defaults.items():
            if getattr(opts, key) == p.get_default(key):
                setattr(opts, key, value)
    opts.scenario_list = [s.strip().upper() for s in opts.scenarios.split(",") if s.strip()]
    opts.server_list = [s.strip() for s in opts.servers.split(",") if s.strip()]
    for s in opts.scenario_list:
        if s not in SCENARIOS:
            p.error(f"unknown scenario {s}")
    for s in opts.server_list:
        if s not in SERVERS:
            p.error(f"unknown server {s}")
    return opts


def preflight(opts: argparse.Namespace) -> None:
    if not (BENCH / "node_modules" / "socket.io-client").exists():
        sys.exit("bench/node_modules missing: run `npm ci --prefix bench` first")
    if shutil.which("taskset") is None:
        sys.exit("taskset not found (util-linux)")
    if any(s.startswith("hub") for s in opts.server_list) and not HUB_BIN.exists():
        sys.exit(f"{HUB_BIN} not found: run with the project's venv python")
    ncpu = os.cpu_count() or 1
    if max(opts.server_cpu, opts.client_cpu) >= ncpu:
        sys.exit(f"only {ncpu} CPUs: choose --server-cpu/--client-cpu below that")
    _raise_nofile()
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {opts.client_cpu})  # the driver and publisher share CPU 1


async def main_async(opts: argparse.Namespace) -> dict[str, Any]:
    tmp_root = Path(tempfile.mkdtemp(prefix="hub-fanout-"))
    results: dict[str, dict[str, dict[str, Any]]] = {}
    report: dict[str, Any] = {"machine": machine_info(), "options": {}, "results": results}
    report["options"] = {
        k: v for k, v in vars(opts).items() if isinstance(v, int | float | str | bool | list)
    }
    info = report["machine"]
    print(
        f"hub {info['hub_commit']}; machine: {info['nproc']} x {info['cpu']}, "
        f"{info['ram_gib']} GiB; Python {info['python']},"
        f" Node {info['node']}; " + ", ".join(f"{k} {v}" for k, v in info["libs"].items()),
        flush=True,
    )
    try:
        for scenario in opts.scenario_list:
            runs: dict[str, list[dict[str, Any]]] = {k: [] for k in opts.server_list}
            for rep in range(opts.repeat):
                for kind in opts.server_list:
                    label = f"[{scenario}] {kind}" + (f" run {rep + 1}" if opts.repeat > 1 else "")
                    print(f"{label} ...", end=" ", flush=True)
                    t = time.monotonic()
                    try:
                        res = await run_one(scenario, kind, opts, tmp_root)
                    except (TimeoutError, RuntimeError, OSError, httpx.HTTPError) as exc:
                        res = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
                    runs[kind].append(res)
                    brief = (
                        res.get("skipped")
                        or res.get("error")
                        or ", ".join(
                            f"{k}={res[k]}"
                            for k in (
                                "joined",
                                "deliveries_per_s",
                                "p50_ms",
                                "p99_ms",
                                "connect_all_ms",
                                "rss_kb_per_conn",
                                "resume_all_ms",
                                "gc_gen2_in_window_ms",
                            )
                            if k in res
                        )
                    )
                    print(f"{time.monotonic() - t:.0f}s: {brief}", flush=True)
            results[scenario] = {k: median_result(v) for k, v in runs.items() if v}
            if opts.repeat > 1:
                report.setdefault("runs", {})[scenario] = runs
        if opts.py_spy > 0:
            print(f"[A] hub with py-spy for {opts.py_spy:.0f}s ...", flush=True)
            try:
                res = await run_one("A", "hub", opts, tmp_root, profile=True)
                report["py_spy"] = res.get("py_spy") or res.get("py_spy_error")
                report["py_spy_run"] = {k: v for k, v in res.items() if k != "py_spy"}
            except (TimeoutError, RuntimeError, OSError, httpx.HTTPError) as exc:
                report["py_spy"] = f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True) if not opts.keep_tmp else None
    return report


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    preflight(opts)
    atexit.register(cleanup_children)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # Explicitly, even when started from a shell that ignores SIGINT in background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    try:
        report = asyncio.run(main_async(opts))
    except KeyboardInterrupt:
        print("\ninterrupted; stopping child processes", file=sys.stderr)
        cleanup_children()
        return 130
    finally:
        cleanup_children()
    print_tables(report["results"], opts.server_list)
    if isinstance(report.get("py_spy"), dict):
        print_py_spy(report["py_spy"])
    elif report.get("py_spy"):
        print(f"\npy-spy failed: {report['py_spy']}")
    if opts.json:
        text = json.dumps(report, indent=2, default=str)
        if opts.json == "-":
            print(text)
        else:
            Path(opts.json).write_text(text + "\n")
            print(f"\nJSON written to {opts.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
