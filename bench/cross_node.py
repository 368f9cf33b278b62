"""Cross-node delivery: events posted to hub node B, received by a client on node A.

Two ``hub serve`` processes share one PostgreSQL database (a fresh one per run, dropped after).
A Socket.IO client joins ``hospital_HX`` on node A; ``POST /api/events/hospital_alert`` goes to
node B at ``--rate`` events/s for ``--duration`` s, each stamped with its send time; the client
records when each arrives. Latency is receipt minus scheduled send time, on one clock (both
ends live in this process). The same load with publisher and client on one node is measured
first, as the baseline. Target (issue 6): cross-node p99 <= 50 ms at 1,000 events/s.

    .venv/bin/python bench/cross_node.py --rate 1000 --duration 10
    .venv/bin/python bench/cross_node.py --bus redis

The two nodes and this script share the machine's two cores (no pinning): the figures include
that contention. ``fresh_database``, ``journal_env`` and ``run_load`` are also used by
``bench/cluster.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import mllp_ingest as common  # noqa: E402  (spawn/terminate/percentiles shared with it)

SERVER_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
HOSPITAL = "HX"


async def admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(SERVER_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def fresh_database(
    prefix: str = "hub_bench", template: str | None = None
) -> AsyncIterator[str]:
    """A new PostgreSQL database for one configuration (empty, or a copy of ``template``): its
    DSN. Dropped on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    await admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield SERVER_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with contextlib.suppress(Exception):
            await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def journal_env(dsn: str, bus: str = "postgres", redis_url: str = REDIS_URL) -> dict[str, str]:
    """Environment for a node on the PostgreSQL journal ``dsn``, hearing of the other nodes'
    commits by ``bus`` ("postgres": LISTEN/NOTIFY, "redis": pub/sub carrying the events)."""
    env = {
        "HUB_JOURNAL__BACKEND": "postgresql",
        "HUB_JOURNAL__DSN": dsn,
        "HUB_CLUSTER__BUS": bus,
    }
    if bus == "redis":
        env["HUB_CLUSTER__REDIS_URL"] = redis_url
    return env


async def run_load(
    publish_url: str, listen_url: str, secret: str, rate: float, duration: float
) -> dict[str, Any]:
    import aiohttp
    import socketio

    from hub.auth import mint_token

    received: dict[str, float] = {}
    client = socketio.AsyncClient(reconnection=False)

    @client.on("hospital_alert")  # type: ignore[misc]
    async def on_alert(event: dict[str, Any]) -> None:
        received.setdefault(event["alert_data"]["k"], time.perf_counter())

    nurse = mint_token(secret, sub="bench", role="nurse", hospitals=[HOSPITAL], ttl_s=3600)
    await client.connect(listen_url, auth={"token": nurse}, transports=["websocket"])
    ack = await client.call("join_room", {"room": f"hospital_{HOSPITAL}"}, timeout=10)
    assert ack.get("ok"), ack
    service = mint_token(secret, sub="bench-pub", role="service", ttl_s=3600)
    headers = {"Authorization": f"Bearer {service}"}
    total = int(rate * duration)
    due: dict[str, float] = {}
    statuses: dict[int, int] = {}
    start = time.perf_counter() + 0.2
    connector = aiohttp.TCPConnector(limit=32)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(j: int) -> None:
            key = f"k{j}"
            at = start + j / rate
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            due[key] = at
            body = {"hospital_id": HOSPITAL, "alert_type": "system", "alert_data": {"k": key}}
            async with session.post(
                f"{publish_url}/api/events/hospital_alert", json=body, headers=headers
            ) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1

        await asyncio.gather(*(one(j) for j in range(total)))
    deadline = time.perf_counter() + 10
    while len(received) < total and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    await client.disconnect()
    latencies = [int((received[k] - due[k]) * 1e9) for k in due if k in received]
    return {
        "sent": total,
        "received": len(received),
        "statuses": statuses,
        "ms": common.percentiles(latencies),
    }


async def amain(opts: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="cross-node-"))
    nodes: list[Any] = []
    async with fresh_database() as dsn:
        env = journal_env(dsn, opts.bus)
        try:
            secret = "cross-node-bench-" + uuid.uuid4().hex
            for label in ("a", "b"):
                proc, port, _, _ = await common.start_hub_process(
                    opts, tmp, f"node-{label}-", {}, env, secret=secret
                )
                nodes.append((proc, f"http://127.0.0.1:{port}"))
            (_, url_a), (_, url_b) = nodes
            same = await run_load(url_a, url_a, secret, opts.rate, opts.duration)
            cross = await run_load(url_b, url_a, secret, opts.rate, opts.duration)
        finally:
            for proc, _ in nodes:
                await common.terminate(proc)
    for label, result in (("one node", same), ("B -> A", cross)):
        ms = result["ms"]
        print(
            f"{label:8s} {opts.rate:.0f} events/s for {opts.duration:g} s: received "
            f"{result['received']}/{result['sent']}, statuses {result['statuses']}, latency "
            f"p50 {ms.get('p50')} ms p99 {ms.get('p99')} ms max {ms.get('max')} ms"
        )
    p99 = cross["ms"].get("p99", float("inf"))
    met = p99 <= 50 and cross["received"] == cross["sent"]
    verdict = "met" if met else "NOT met"
    print(f"target cross-node p99 <= 50 ms at {opts.rate:.0f}/s: {p99} -> {verdict}")
    if opts.json:
        Path(opts.json).write_text(json.dumps({"one_node": same, "cross_node": cross}, indent=2))
    return 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--bus", choices=["postgres", "redis"], default="postgres")
    p.add_argument("--json", metavar="PATH")
    opts = p.parse_args()
    opts.pin = False  # two nodes and the load share both cores
    opts.server_cpu = opts.client_cpu = 0
    common._use_uvloop()
    sys.exit(asyncio.run(amain(opts)))


if __name__ == "__main__":
    main()
