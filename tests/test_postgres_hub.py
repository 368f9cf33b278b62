"""A hub on the PostgreSQL journal: `hub db upgrade`, publishing, delivery and resume after a
restart, all against the real PostgreSQL (CI starts it)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import HubProcess, token
from tests.test_journal_postgres import temporary_database
from tests.test_socketio import Listener


@pytest.fixture(scope="module")
def pg_dsn() -> Iterator[str]:
    yield from temporary_database()


def test_hub_db_upgrade_applies_once(pg_dsn: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    run = [sys.executable, "-m", "hub", "db", "upgrade", "--dsn", pg_dsn]
    first = subprocess.run(run, capture_output=True, text=True, timeout=60, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("applied migrations: 1")
    again = subprocess.run(run, capture_output=True, text=True, timeout=60, env=env)
    assert (again.returncode, again.stdout.strip()) == (0, "schema is up to date")
    bad = subprocess.run(
        [*run[:-1], "postgresql://nobody@127.0.0.1:1/none"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert bad.returncode == 1 and bad.stderr.startswith("hub db upgrade: ")


async def test_events_are_journaled_in_postgresql_and_survive_a_restart(
    pg_dsn: str,
    tmp_path: Path,
) -> None:
    hub = HubProcess(
        tmp_path, extra_env={"HUB_JOURNAL__BACKEND": "postgresql", "HUB_JOURNAL__DSN": pg_dsn}
    )
    hub.start()
    service = {"Authorization": f"Bearer {token(role='service', sub='svc')}"}
    try:
        watcher = Listener()
        await watcher.connect(hub, token(hospitals=["HPG"]))
        assert (await watcher.join("hospital_HPG"))["ok"] is True
        for n in range(3):
            body = {"hospital_id": "HPG", "alert_type": "system", "alert_data": {"n": n}}
            r = httpx.post(f"{hub.url}/api/events/hospital_alert", json=body, headers=service)
            assert r.status_code == 202, r.text
        await watcher.wait_for(lambda: len(watcher.of("hospital_alert")) >= 3)
        seqs = [e["seq"] for e in watcher.of("hospital_alert")]
        await watcher.close()
    finally:
        hub.stop()
    hub.start()  # same database: the journal, and seq, carry on
    try:
        body = {"hospital_id": "HPG", "alert_type": "system", "alert_data": {"n": 3}}
        r = httpx.post(f"{hub.url}/api/events/hospital_alert", json=body, headers=service)
        assert r.status_code == 202 and r.json()["seq"] == seqs[-1] + 1
        replay = Listener()
        await replay.connect(hub, token(hospitals=["HPG"]))
        assert (await replay.join("hospital_HPG", since=0))["ok"] is True
        await replay.wait_for(lambda: len(replay.of("hospital_alert")) >= 4)
        assert [e["alert_data"]["n"] for e in replay.of("hospital_alert")] == [0, 1, 2, 3]
        await replay.close()
    finally:
        hub.stop()


def test_postgresql_without_a_dsn_is_refused_at_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_JOURNAL__BACKEND"] = "postgresql"
    out = subprocess.run(
        [sys.executable, "-m", "hub", "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == 2 and "journal" in out.stderr and "HUB_JOURNAL__DSN" in out.stderr


async def test_two_nodes_on_one_database_behave_as_one_hub(pg_dsn: str, tmp_path: Path) -> None:
    env = {"HUB_JOURNAL__BACKEND": "postgresql", "HUB_JOURNAL__DSN": pg_dsn}
    node_a = HubProcess(tmp_path / "a", extra_env=dict(env))
    node_b = HubProcess(tmp_path / "b", extra_env=dict(env))
    service = {"Authorization": f"Bearer {token(role='service', sub='svc')}"}
    node_a.start()
    node_b.start()
    try:
        on_a = Listener()
        await on_a.connect(node_a, token(hospitals=["H2N"]))
        assert (await on_a.join("hospital_H2N"))["ok"] is True
        seqs = []
        for n, node in enumerate((node_b, node_a, node_b)):
            body = {"hospital_id": "H2N", "alert_type": "system", "alert_data": {"n": n}}
            r = httpx.post(f"{node.url}/api/events/hospital_alert", json=body, headers=service)
            assert r.status_code == 202, r.text
            seqs.append(r.json()["seq"])
        assert seqs == sorted(seqs) and len(set(seqs)) == 3  # one global seq
        # a client on A receives what arrived on B, in order, once
        await on_a.wait_for(lambda: len(on_a.of("hospital_alert")) >= 3)
        await asyncio.sleep(0.3)
        assert [e["alert_data"]["n"] for e in on_a.of("hospital_alert")] == [0, 1, 2]
        await on_a.close()
        # and resumes on B from where it was
        on_b = Listener()
        await on_b.connect(node_b, token(hospitals=["H2N"]))
        assert (await on_b.join("hospital_H2N", since=seqs[0]))["ok"] is True
        await on_b.wait_for(lambda: len(on_b.of("hospital_alert")) >= 2)
        assert [e["alert_data"]["n"] for e in on_b.of("hospital_alert")] == [1, 2]
        await on_b.close()
    finally:
        node_a.stop()
        node_b.stop()


async def test_a_node_killed_mid_stream_loses_no_acked_message(pg_dsn: str, tmp_path: Path) -> None:
    """kill -9 on the node receiving MLLP: every message it ACKed reaches a client on the other
    node exactly once (stored, journaled and ACKed in one commit, emitted from the journal)."""
    import random

    from adapters.hl7.client import MllpClient
    from adapters.hl7.message import parse
    from tests.hl7.test_mllp_durability import a20

    env = {"HUB_JOURNAL__BACKEND": "postgresql", "HUB_JOURNAL__DSN": pg_dsn}
    node_a = HubProcess(tmp_path / "a", extra_env=dict(env))
    node_b = HubProcess(tmp_path / "b", extra_env=dict(env))
    node_a.start()
    node_b.start()
    hospital = "HKILL"
    acked: set[int] = set()
    try:
        watcher = Listener()
        await watcher.connect(node_a, token(hospitals=[hospital]))
        assert (await watcher.join(f"hospital_{hospital}"))["ok"] is True
        kill_after = random.randint(20, 60)
        try:
            async with MllpClient("127.0.0.1", node_b.mllp_port, timeout=5) as client:
                for bed in range(1, 1000):
                    if len(acked) >= kill_after:
                        task = asyncio.create_task(client.send(a20(f"X{bed}", hospital, bed)))
                        await asyncio.sleep(random.random() * 0.004)
                        await asyncio.to_thread(node_b.kill9)
                        try:
                            if parse(await task).value("MSA", 1) == "AA":
                                acked.add(bed)
                        except (ConnectionError, TimeoutError, OSError):
                            pass
                        break
                    reply = await client.send(a20(f"X{bed}", hospital, bed))
                    assert parse(reply).value("MSA", 1) == "AA"
                    acked.add(bed)
        except (ConnectionError, OSError):
            pass
        expected = {f"W:R:{b}" for b in acked}

        def beds() -> list[str]:
            return [
                e["bed_info"]["bed_id"]
                for e in watcher.of("bed_status_changed")
                if e["hospital_id"] == hospital
            ]

        await watcher.wait_for(lambda: expected <= set(beds()), timeout=15)
        await asyncio.sleep(0.5)
        got = beds()
        assert expected <= set(got), "an ACKed message never reached the other node's client"
        assert len(got) == len(set(got)), "an event was delivered twice"
        await watcher.close()
    finally:
        node_a.stop()
        node_b.stop()
