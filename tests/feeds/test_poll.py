"""Polled feeds against a small HTTP server, and the system alerts about failing and silent
feed inputs (docs/feeds.md, docs/operations.md). Synthetic data only."""

from __future__ import annotations

import asyncio
import json

import httpx

from tests.conftest import HubProcess, token
from tests.feeds.conftest import BOARD, POLLED, QUIET, ROSTER, send
from tests.feeds.feed_server import FeedServer
from tests.test_socketio import Listener


async def watch(hub: HubProcess, hospital: str, since: int | None = None) -> Listener:
    listener = Listener()
    await listener.connect(hub, token(hospitals=[hospital]))
    assert (await listener.join(f"hospital_{hospital}", since=since))["ok"] is True
    return listener


def alerts(listener: Listener, problem: str) -> list[dict[str, object]]:
    return [
        a["alert_data"]
        for a in listener.of("hospital_alert")
        if a["alert_type"] == "system" and a["alert_data"].get("problem") == problem
    ]


async def test_polls_honour_etags_and_emit_only_changes(
    feed_hub: HubProcess, feed_server: FeedServer
) -> None:
    watcher = await watch(feed_hub, POLLED)
    beds = [{"bed_id": f"P-{i}", "unit": "PW", "status": "U"} for i in range(3)]
    etag = feed_server.set(BOARD, json.dumps(beds).encode(), "application/json")
    roster = b"staff_id,staff_type,available\r\nPD1,MD,yes\r\nPN1,RN,no\r\n"
    feed_server.set(ROSTER, roster, "text/csv")
    await watcher.wait_for(
        lambda: (
            len(watcher.of("bed_status_changed")) >= 3
            and len(watcher.of("staff_availability_changed")) >= 2
        )
    )
    # later polls send the ETag back and get 304: nothing more is stored or emitted
    await watcher.wait_for(lambda: (etag, 304) in feed_server.of(BOARD))
    beds[1]["status"] = "O"
    beds[1]["patient_id"] = "PP1"
    feed_server.set(BOARD, json.dumps(beds).encode(), "application/json")
    await watcher.wait_for(lambda: len(watcher.of("bed_status_changed")) >= 4)
    await asyncio.sleep(0.6)  # a few more polls: still nothing new
    await watcher.close()
    got = [
        (e["bed_info"]["bed_id"], e["bed_info"]["status"]) for e in watcher.of("bed_status_changed")
    ]
    assert got == [
        ("P-0", "available"),
        ("P-1", "available"),
        ("P-2", "available"),
        ("P-1", "occupied"),
    ]
    assert {e["source"] for e in watcher.of("bed_status_changed")} == {"feed:beds:board"}
    staff = [(e["staff_id"], e["available"]) for e in watcher.of("staff_availability_changed")]
    assert staff == [("PD1", True), ("PN1", False)]
    counts = httpx.get(
        f"{feed_hub.url}/api/hospitals/{POLLED}/staff",
        headers={"Authorization": f"Bearer {token(hospitals=[POLLED])}"},
    ).json()
    assert counts["on_duty"]["doctor"] == 1 and counts["on_duty_total"] == 1


async def test_a_failing_poll_raises_one_alert_and_recovery_clears_it(
    feed_hub: HubProcess, feed_server: FeedServer
) -> None:
    watcher = await watch(feed_hub, POLLED)
    before = len(feed_server.of(BOARD))
    feed_server.fail_status = 401
    try:
        await watcher.wait_for(lambda: bool(alerts(watcher, "failing")))
        await asyncio.sleep(1.5)  # more failed attempts, with backoff: no more alerts
        failed = [s for _, s in feed_server.of(BOARD)[before:] if s == 401]
        assert len(failed) >= 4
        assert len(alerts(watcher, "failing")) == 1
    finally:
        feed_server.fail_status = None
    await watcher.wait_for(lambda: len(alerts(watcher, "failing")) >= 2)
    await asyncio.sleep(0.5)
    await watcher.close()
    raised, cleared = alerts(watcher, "failing")
    assert raised["state"] == "raised" and raised["input"] == "feed:beds:board"
    assert "HTTP 401" in str(raised["message"]) and raised["attempts"] == 2
    assert cleared["state"] == "cleared" and cleared["input"] == "feed:beds:board"
    assert httpx.get(f"{feed_hub.url}/ready").status_code == 200


async def test_a_silent_source_raises_an_alert_cleared_by_its_next_update(
    feed_hub: HubProcess,
) -> None:
    # the 'quiet' source expects something every second; nothing has come since the hub started
    watcher = await watch(feed_hub, QUIET, since=0)
    await watcher.wait_for(lambda: bool(alerts(watcher, "silent")))
    assert alerts(watcher, "silent")[0]["input"] == "feed:quiet"
    reply = send(
        feed_hub, "POST", "/feeds/beds/quiet", {"bed_id": "Q1", "status": "U"}, hospital=QUIET
    )
    assert reply.status_code == 200, reply.text
    await watcher.wait_for(
        lambda: any(a["state"] == "cleared" for a in alerts(watcher, "silent")), timeout=5
    )
    await watcher.close()
