"""FHIR ingest benchmark: notification Bundles of Observations into the hub over HTTP.

The hub runs as ``hub serve`` pinned to CPU 0 (``taskset -c 0``) with a fresh journal; this
script (the load generator) and the Socket.IO subscribers run on CPU 1. Each request is an R4
Backport ``history`` notification Bundle, ``full-resource``, carrying ``--per-bundle`` (10)
potassium Observations with a critical interpretation, so every Observation is validated
with fhir.resources, becomes a ``patient_alert``, is journaled (SQLite, fsync) and is
emitted; 3 subscribers in one patient room count what they receive.

Phases (after a warm-up):

1. throughput: ``-n`` Bundles (default 2,000; ``--quick`` 500) over ``-k`` (8) connections,
   each sending its next Bundle when the previous one was answered. Observations/s, and
   response time p50/p99; every answer checked (HTTP 200).
2. paced: ``--rate`` (200) Bundles/s for ``--duration`` (10; quick 5) s; response time from
   the scheduled send time (no coordinated omission).

    .venv/bin/python bench/fhir_ingest.py --quick
    .venv/bin/python bench/fhir_ingest.py --json bench/results/fhir-ingest.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import mllp_ingest as common  # noqa: E402  (spawn/terminate/cpu helpers shared with it)

PATIENTS = 10
WATCHED = "PB0"  # the subscribers' patient: one Bundle in PATIENTS is about them


def bundle(worker: int, number: int, per_bundle: int, patient: str) -> bytes:
    base = "https://fhir.bench.test/fhir"
    resources = []
    for j in range(per_bundle):
        oid = f"w{worker}-n{number}-{j}"
        resources.append(
            {
                "resourceType": "Observation",
                "id": oid,
                "meta": {"versionId": "1"},
                "status": "final",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                "code": "laboratory",
                            }
                        ]
                    }
                ],
                "code": {
                    "coding": [{"system": "http://loinc.org", "code": "2823-3"}],
                    "text": "Potassium",
                },
                "subject": {"reference": f"Patient/{patient}"},
                "effectiveDateTime": "2026-03-10T16:00:00Z",
                "valueQuantity": {
                    "value": 6.5 + j / 10,
                    "unit": "mmol/L",
                    "system": "http://unitsofmeasure.org",
                    "code": "mmol/L",
                },
                "interpretation": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                                "code": "HH",
                            }
                        ]
                    }
                ],
            }
        )
    sub = f"{base}/Subscription/bench-{worker}"
    status = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "subscription", "valueReference": {"reference": sub}},
            {"name": "topic", "valueCanonical": "http://bench.test/topic/labs"},
            {"name": "status", "valueCode": "active"},
            {"name": "type", "valueCode": "event-notification"},
            {"name": "events-since-subscription-start", "valueString": str(number)},
            {
                "name": "notification-event",
                "part": [
                    {"name": "event-number", "valueString": str(number)},
                    {
                        "name": "focus",
                        "valueReference": {"reference": f"{base}/Observation/{resources[0]['id']}"},
                    },
                ],
            },
        ],
    }
    entries = [{"resource": status, "request": {"method": "GET", "url": f"{sub}/$status"}}]
    entries += [
        {
            "fullUrl": f"{base}/Observation/{r['id']}",
            "resource": r,
            "request": {"method": "PUT", "url": f"Observation/{r['id']}"},
        }
        for r in resources
    ]
    return json.dumps({"resourceType": "Bundle", "type": "history", "entry": entries}).encode()


class Worker:
    """One sender on one kept-alive connection, numbering its subscription's events."""

    def __init__(self, index: int, url: str, token: str, per_bundle: int) -> None:
        self.index, self.url, self.per_bundle = index, url, per_bundle
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
        self.number = 0
        self.session: Any = None

    async def open(self) -> None:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=1, force_close=False)
        self.session = aiohttp.ClientSession(connector=connector)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    def next_body(self, sequence: int) -> bytes:
        self.number += 1
        return bundle(self.index, self.number, self.per_bundle, f"PB{sequence % PATIENTS}")

    async def post(self, body: bytes) -> int:
        async with self.session.post(self.url, data=body, headers=self.headers) as response:
            await response.read()
            return int(response.status)


async def run_throughput(workers: list[Worker], count: int) -> dict[str, Any]:
    latencies: list[int] = []
    statuses: Counter[int] = Counter()
    counter = iter(range(count))
    bodies = {}

    async def loop(worker: Worker) -> None:
        for sequence in counter:
            body = bodies.pop(sequence, None) or worker.next_body(sequence)
            t0 = time.perf_counter_ns()
            status = await worker.post(body)
            latencies.append(time.perf_counter_ns() - t0)
            statuses[status] += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(loop(w) for w in workers))
    elapsed = time.perf_counter() - t0
    return {
        "bundles": count,
        "elapsed_s": round(elapsed, 3),
        "bundles_per_s": round(count / elapsed, 1),
        "statuses": dict(statuses),
        "ms": common.percentiles(latencies),
    }


async def run_paced(
    workers: list[Worker], rate: float, seconds: float, first: int
) -> dict[str, Any]:
    total = int(rate * seconds)
    latencies: list[int] = []
    statuses: Counter[int] = Counter()
    queues: list[asyncio.Queue[tuple[int, float] | None]] = [asyncio.Queue() for _ in workers]
    start = time.perf_counter() + 0.2

    async def loop(worker: Worker, queue: asyncio.Queue[tuple[int, float] | None]) -> None:
        while (item := await queue.get()) is not None:
            sequence, due = item
            body = worker.next_body(sequence)
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            status = await worker.post(body)
            latencies.append(int((time.perf_counter() - due) * 1e9))
            statuses[status] += 1

    tasks = [asyncio.create_task(loop(w, q)) for w, q in zip(workers, queues, strict=True)]
    for j in range(total):
        queues[j % len(workers)].put_nowait((first + j, start + j / rate))
    for queue in queues:
        queue.put_nowait(None)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    return {
        "bundles": total,
        "rate": rate,
        "achieved_per_s": round(total / elapsed, 1),
        "statuses": dict(statuses),
        "ms_from_schedule": common.percentiles(latencies),
    }


async def start_hub(opts: argparse.Namespace, tmp: Path) -> tuple[Any, int, str, Path]:
    settings = {"fhir": {"sources": [{"name": "default", "accept_hub_tokens": True}]}}
    return await common.start_hub_process(opts, tmp, "hub-fhir-", settings)


async def subscribers(port: int, secret: str, opts: argparse.Namespace, workdir: Path) -> Any:
    from hub.auth import mint_token

    token = mint_token(secret, sub="bench", role="admin", ttl_s=3600)
    pin = ["taskset", "-c", str(opts.client_cpu)] if opts.pin else []
    env = {**os.environ, common.PINNED_ENV: "1"}
    spec = {
        "url": f"http://127.0.0.1:{port}",
        "token": token,
        "count": opts.subscribers,
        "room": f"patient_{WATCHED}",
        "seconds": 1800,
    }
    proc = await common.spawn(
        "subscribers",
        *pin,
        sys.executable,
        str(BENCH / "mllp_ingest.py"),
        "--_subscriber",
        json.dumps(spec),
        stdout=asyncio.subprocess.PIPE,
        stderr=(workdir / "subscribers.log").open("ab"),
        env=env,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    if not line:
        raise RuntimeError("subscribers exited; see subscribers.log")
    state: dict[str, Any] = {"counts": []}

    async def read() -> None:
        assert proc.stdout is not None
        while raw := await proc.stdout.readline():
            with contextlib.suppress(ValueError):
                state["counts"] = json.loads(raw).get("counts", state["counts"])

    state["task"] = asyncio.create_task(read())
    return proc, state


async def wait_alerts(state: dict[str, Any], expected: int, timeout: float) -> list[int]:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        got = [c.get("patient_alert", 0) for c in state["counts"]]
        if got and min(got) >= expected:
            return got
        await asyncio.sleep(0.1)
    return [c.get("patient_alert", 0) for c in state["counts"]]


def commit_histogram(port: int) -> dict[str, float]:
    """Cumulative counts of journal commits by duration bucket, from the hub's /metrics."""
    text = common._get_text(f"http://127.0.0.1:{port}/metrics")
    out = {}
    for line in text.splitlines():
        if line.startswith("hub_journal_write_seconds_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[le] = float(line.rsplit(" ", 1)[1])
    return out


async def amain(opts: argparse.Namespace) -> int:
    from hub.auth import mint_token

    tmp = Path(tempfile.mkdtemp(prefix="fhir-bench-"))
    proc, port, secret, workdir = await start_hub(opts, tmp)
    sub_proc, state = await subscribers(port, secret, opts, workdir)
    token = mint_token(secret, sub="bench-sender", role="service", ttl_s=3600)
    url = f"http://127.0.0.1:{port}/fhir/default"
    workers = [Worker(i, url, token, opts.per_bundle) for i in range(opts.connections)]
    for w in workers:
        await w.open()
    results: dict[str, Any] = {"machine": common.machine_info(), "options": vars(opts)}
    try:
        await run_throughput(workers, opts.warmup)
        cpu0 = common.cpu_seconds(proc.pid)
        tp = await run_throughput(workers, opts.n)
        tp["server_cpu_pct"] = round(
            100 * (common.cpu_seconds(proc.pid) - cpu0) / tp["elapsed_s"], 1
        )
        tp["observations_per_s"] = round(tp["bundles_per_s"] * opts.per_bundle, 1)
        results["throughput"] = tp
        sent = opts.warmup + opts.n
        expected = sent // PATIENTS * opts.per_bundle
        results["throughput_subscribers"] = await wait_alerts(state, expected, 30)
        cpu0 = common.cpu_seconds(proc.pid)
        paced = await run_paced(workers, opts.rate, opts.duration, sent)
        paced["server_cpu_pct"] = round(
            100 * (common.cpu_seconds(proc.pid) - cpu0) / opts.duration, 1
        )
        results["paced"] = paced
        sent += paced["bundles"]
        results["paced_subscribers"] = await wait_alerts(
            state, sent // PATIENTS * opts.per_bundle, 30
        )
        results["expected_per_subscriber"] = sent // PATIENTS * opts.per_bundle
        results["journal_commit_seconds"] = await asyncio.to_thread(commit_histogram, port)
    finally:
        for w in workers:
            await w.close()
        await common.terminate(sub_proc)
        await common.terminate(proc)
    tp, paced = results["throughput"], results["paced"]
    print(
        f"throughput: {tp['bundles']} bundles x {opts.per_bundle} observations over "
        f"{opts.connections} connections"
    )
    print(
        f"  {tp['observations_per_s']:.0f} observations/s ({tp['bundles_per_s']:.0f} bundles/s), "
        f"response p50 {tp['ms']['p50']} ms p99 {tp['ms']['p99']} ms, statuses {tp['statuses']}, "
        f"hub CPU {tp['server_cpu_pct']}%"
    )
    print(f"  subscribers got {results['throughput_subscribers']} patient_alert")
    print(
        f"paced: {paced['rate']:.0f} bundles/s for {opts.duration} s: response from schedule "
        f"p50 {paced['ms_from_schedule']['p50']} ms p99 {paced['ms_from_schedule']['p99']} ms, "
        f"statuses {paced['statuses']}, hub CPU {paced['server_cpu_pct']}%"
    )
    print(
        f"  subscribers got {results['paced_subscribers']} of "
        f"{results['expected_per_subscriber']} patient_alert"
    )
    ok_tp = tp["observations_per_s"] >= 2000
    ok_p99 = paced["ms_from_schedule"]["p99"] <= 50
    print(
        f"target >= 2,000 observations/s: {tp['observations_per_s']:.0f} -> "
        f"{'met' if ok_tp else 'NOT met'}"
    )
    print(
        f"target p99 <= 50 ms at {opts.rate:.0f} bundles/s: {paced['ms_from_schedule']['p99']} -> "
        f"{'met' if ok_p99 else 'NOT met'}"
    )
    if opts.json:
        Path(opts.json).parent.mkdir(parents=True, exist_ok=True)
        Path(opts.json).write_text(json.dumps(results, indent=2))
    return 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="500 bundles, 5 s paced")
    p.add_argument("-n", type=int, default=None, help="throughput bundles (default 2,000)")
    p.add_argument("-k", "--connections", type=int, default=8)
    p.add_argument("--per-bundle", type=int, default=10)
    p.add_argument("--rate", type=float, default=200.0, help="paced bundles/s")
    p.add_argument("--duration", type=float, default=None, help="paced seconds (default 10)")
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--subscribers", type=int, default=3)
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--no-pin", dest="pin", action="store_false")
    p.add_argument("--json", metavar="PATH")
    opts = p.parse_args()
    opts.n = opts.n or (500 if opts.quick else 2000)
    opts.duration = opts.duration or (5.0 if opts.quick else 10.0)
    common.run_pinned(opts, amain)


if __name__ == "__main__":
    main()
