"""Several hub nodes on one PostgreSQL journal with Redis as the bus, against the real servers
(CI starts PostgreSQL and Redis; the Redis-restart test runs a redis-server of its own so it can
stop it without disturbing anything else). Synthetic data only."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.hl7.client import MllpClient
from adapters.hl7.message import parse
from hub.testing import free_port
from tests.conftest import HubProcess, token, uid
from tests.fhir.fhir_server import FhirServer
from tests.fhir.test_receiver import notification, observation, post
from tests.hl7.test_mllp_durability import a20
from tests.test_journal_postgres import temporary_database
from tests.test_socketio import Listener

SERVICE = {"Authorization": f"Bearer {token(role='service', sub='svc')}"}


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    yield from temporary_database()


def cluster_env(
    dsn: str, redis_url: str = "redis://127.0.0.1:6379/0", **extra: str
) -> dict[str, str]:
    return {
        "HUB_JOURNAL__BACKEND": "postgresql",
        "HUB_JOURNAL__DSN": dsn,
        "HUB_CLUSTER__BUS": "redis",
        "HUB_CLUSTER__REDIS_URL": redis_url,
        **extra,
    }


class RedisServer:
    """A redis-server of this test's own, on a free port, that can be stopped and restarted."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (CI installs it with the machine)"
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self.proc = subprocess.Popen(
            [binary, *args, "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_connect_timeout=0.2).ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # abrupt, as a crash or a failover would be
            self.proc.wait()


@contextlib.contextmanager
def two_nodes(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[HubProcess, HubProcess]]:
    """Two hub processes on one journal (and bus), stopped however the test ends."""
    node_a = HubProcess(tmp_path / "a", extra_env=dict(env))
    node_b = HubProcess(tmp_path / "b", extra_env=dict(env))
    try:
        node_a.start()
        node_b.start()
        yield node_a, node_b
    finally:
        node_a.stop()
        node_b.stop()


def post_event(node: HubProcess, event_type: str, body: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(f"{node.url}/api/events/{event_type}", json=body, headers=SERVICE, timeout=10)
    assert r.status_code == 202, r.text
    return r.json()


async def test_a_client_on_one_node_gets_every_rooms_events_from_the_other(
    pg_dsn: str, tmp_path: Path
) -> None:
    """HL7 on B, FHIR on B, and POST on A all reach a client on A, in all four room kinds."""
    with two_nodes(tmp_path, cluster_env(pg_dsn)) as (node_a, node_b):
        hospital, patient, triage = uid("H"), uid("P"), uid("T")
        client = Listener()
        await client.connect(node_a, token(hospitals=[hospital], patients=[patient]))
        for room in (f"hospital_{hospital}", f"patient_{patient}", "triage_queue"):
            assert (await client.join(room))["ok"] is True, room
        async with MllpClient("127.0.0.1", node_b.mllp_port, timeout=5) as mllp:
            assert parse(await mllp.send(a20(uid("c"), hospital, 7))).value("MSA", 1) == "AA"
        obs = observation(uid("o"), patient, 6.9, "HH")
        assert post(node_b, notification("R4", "event-notification", 1, [obs])).status_code == 200
        triage_event = {"triage_id": triage, "patient_id": patient, "status": "pending"}
        posted = post_event(node_a, "triage_updated", triage_event)

        def arrived() -> bool:
            return all(
                client.of(t) for t in ("bed_status_changed", "patient_alert", "triage_updated")
            )

        await client.wait_for(arrived, timeout=10)
        # the triage room of a case is joined on B with since: seq is global
        on_b = Listener()
        await on_b.connect(node_b, token(hospitals=[hospital], patients=[patient]))
        assert (await on_b.join(f"triage_{triage}", since=posted["seq"] - 1))["ok"] is True
        await on_b.wait_for(lambda: bool(on_b.of("triage_updated")))
        assert on_b.of("triage_updated")[0]["id"] == posted["id"]
        await asyncio.sleep(0.3)
        kinds = ("bed_status_changed", "patient_alert", "triage_updated")
        seqs = [d["seq"] for name, d in client.events if name in kinds]
        assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)) >= 3
        await client.close()
        await on_b.close()


async def test_redis_restarting_mid_stream_loses_and_repeats_nothing(
    pg_dsn: str, tmp_path: Path
) -> None:
    """python-socketio's Redis manager would drop what is published while Redis is away; the
    hub's bus carries seq-numbered journal events, so a node that missed some reads them back
    from the journal: late, in order, once."""
    redis_server = RedisServer(tmp_path / "redis")
    redis_server.start()
    # a long catch-up interval: events arriving fast therefore came over the bus
    env = cluster_env(pg_dsn, redis_server.url, HUB_CLUSTER__CATCH_UP_INTERVAL_S="2")
    try:
        with two_nodes(tmp_path, env) as (node_a, node_b):
            hospital = uid("H")
            clients = []
            for node in (node_a, node_b):
                listener = Listener()
                await listener.connect(node, token(hospitals=[hospital]))
                assert (await listener.join(f"hospital_{hospital}"))["ok"] is True
                clients.append(listener)
            on_a = clients[0]

            def numbers(listener: Listener) -> list[int]:
                return [e["alert_data"]["n"] for e in listener.of("hospital_alert")]

            def send(n: int, node: HubProcess) -> None:
                post_event(node, "hospital_alert", {
                    "hospital_id": hospital, "alert_type": "system", "alert_data": {"n": n}
                })  # fmt: skip

            # Redis up: an event posted on B is on A well within the catch-up interval
            started = time.monotonic()
            send(0, node_b)
            await on_a.wait_for(lambda: numbers(on_a) == [0], timeout=5)
            assert time.monotonic() - started < 1.0, "the bus did not carry the event"

            total = 150
            for n in range(1, total):
                if n == 50:
                    redis_server.stop()
                if n == 100:
                    redis_server.start()
                # both nodes write, so each has events the other must learn of
                await asyncio.to_thread(send, n, node_b if n % 3 else node_a)
                await asyncio.sleep(0.01)
            for listener in clients:
                await listener.wait_for(lambda lst=listener: len(numbers(lst)) >= total, timeout=20)
            await asyncio.sleep(0.5)
            for listener in clients:
                assert numbers(listener) == list(range(total)), "lost, repeated or out of order"
                seqs = [e["seq"] for e in listener.of("hospital_alert")]
                assert seqs == sorted(seqs)
            # and once Redis is back the bus carries events again
            started = time.monotonic()
            send(total, node_b)
            await on_a.wait_for(lambda: len(numbers(on_a)) > total, timeout=5)
            assert time.monotonic() - started < 1.0, "the bus did not come back"
            for listener in clients:
                await listener.close()
    finally:
        redis_server.stop()


async def test_a_dead_nodes_pending_fhir_reads_are_finished_by_another(
    pg_dsn: str, tmp_path: Path
) -> None:
    """An id-only notification is answered once stored; the node reading its resource dies
    (kill -9) before the read succeeds; the other node takes the lease over when it expires,
    reads the resource and emits the alert, once."""
    fhir_port = free_port()
    base = f"http://127.0.0.1:{fhir_port}/fhir"
    source = {
        "name": "default",
        "accept_hub_tokens": True,
        "base_url": base,
        "fetch_attempts": 10,
        "fetch_backoff_s": 0.5,
        "fetch_timeout_s": 1.0,
    }
    env = cluster_env(pg_dsn, HUB_CLUSTER__LEASE_S="2")
    nodes = []
    for name in ("a", "b"):
        node = HubProcess(tmp_path / name, extra_env=dict(env))
        settings = json.loads(node.env()["HUB_PLUGINS__SETTINGS"])
        settings["fhir"] = {"sources": [source]}
        node.extra_env["HUB_PLUGINS__SETTINGS"] = json.dumps(settings)
        nodes.append(node.start())
    node_a, node_b = nodes
    patient = uid("p")
    try:
        watcher = Listener()
        await watcher.connect(node_b, token(patients=[patient]))
        assert (await watcher.join(f"patient_{patient}"))["ok"] is True
        obs = observation(uid("o"), patient, 6.9, "HH")
        id_only = notification(
            "R4", "event-notification", 1, [obs], uid("sub"), base=base, content="id-only"
        )
        # the FHIR server is down: A keeps retrying the read, holding the lease
        assert post(node_a, id_only).status_code == 200
        await asyncio.sleep(3.0)  # longer than the lease: A renews it, B must not take it
        admin = {"Authorization": f"Bearer {token(role='admin', sub='ops')}"}
        pending = httpx.get(
            f"{node_b.url}/api/inbound?status=pending", headers=admin, timeout=5
        ).json()
        assert len(pending["entries"]) == 1
        node_a.kill9()
        server = FhirServer()
        server.add(obs)
        async with server.serve(fhir_port):
            await watcher.wait_for(lambda: bool(watcher.of("patient_alert")), timeout=15)
            await asyncio.sleep(1.0)
        alerts = watcher.of("patient_alert")
        assert len(alerts) == 1, "the alert was lost or produced twice"
        assert alerts[0]["alert_data"]["message"] == "Potassium 6.9 mmol/L (critical high)"
        done = httpx.get(f"{node_b.url}/api/inbound?status=pending", headers=admin, timeout=5)
        assert done.json()["entries"] == []
        await watcher.close()
    finally:
        for node in nodes:
            node.stop()


async def test_both_nodes_watch_alerts_and_an_escalation_is_sent_once(
    pg_dsn: str, tmp_path: Path
) -> None:
    """Every node runs the escalation watch; the step's event id is fixed per alert and step,
    so the charge nurse sees it once, and an acknowledgement on one node stops the other's."""
    env = cluster_env(
        pg_dsn,
        HUB_ALERTS__ESCALATION_AFTER_S="[1.0]",
        HUB_ALERTS__ESCALATION_TO='["charge_nurse"]',
        HUB_ALERTS__CHECK_INTERVAL_S="0.05",
    )
    with two_nodes(tmp_path, env) as (node_a, node_b):
        hospital, patient = uid("H"), uid("P")
        charge = Listener()
        await charge.connect(node_a, token(hospitals=[hospital], sub="charge"))
        assert (await charge.join(f"hospital_{hospital}"))["ok"] is True
        alert = {"patient_id": patient, "hospital_id": hospital, "alert_type": "critical"}
        ignored = post_event(node_b, "patient_alert", alert)["id"]
        answered = post_event(node_a, "patient_alert", alert)["id"]
        nurse = Listener()
        await nurse.connect(node_b, token(hospitals=[hospital], sub="nurse"))
        assert (await nurse.join(f"patient_{patient}"))["ok"] is True
        reply = await nurse.client.call("ack_alert", {"id": answered}, timeout=10)
        assert reply["ok"] is True
        await charge.wait_for(lambda: bool(charge.of("alert_escalated")), timeout=10)
        await asyncio.sleep(1.5)
        assert [e["alert_id"] for e in charge.of("alert_escalated")] == [ignored]
        await charge.close()
        await nurse.close()


async def test_clients_of_a_killed_node_resume_on_another_without_a_gap(
    pg_dsn: str, tmp_path: Path
) -> None:
    with two_nodes(tmp_path, cluster_env(pg_dsn)) as (node_a, node_b):
        hospital = uid("H")
        on_b = Listener()
        await on_b.connect(node_b, token(hospitals=[hospital]))
        assert (await on_b.join(f"hospital_{hospital}"))["ok"] is True
        total = 60

        async def stream() -> None:
            for n in range(total):
                await asyncio.to_thread(
                    post_event,
                    node_a,
                    "hospital_alert",
                    {"hospital_id": hospital, "alert_type": "system", "alert_data": {"n": n}},
                )
                await asyncio.sleep(0.01)

        publisher = asyncio.create_task(stream())
        await on_b.wait_for(lambda: len(on_b.of("hospital_alert")) >= 20)
        node_b.kill9()  # the client's node dies mid-stream
        seen = on_b.of("hospital_alert")
        last = seen[-1]["seq"]
        await publisher
        # it reconnects elsewhere and resumes from the last seq it processed
        again = Listener()
        await again.connect(node_a, token(hospitals=[hospital]))
        assert (await again.join(f"hospital_{hospital}", since=last))["ok"] is True
        await again.wait_for(lambda: len(again.of("hospital_alert")) >= total - len(seen))
        numbers = [e["alert_data"]["n"] for e in seen + again.of("hospital_alert")]
        assert numbers == list(range(total)), "a gap or a repeat across the node's death"
        await again.close()
