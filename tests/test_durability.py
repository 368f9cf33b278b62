"""An event answered 202 survives kill -9 of the hub, and is replayable after restart."""

from __future__ import annotations

import asyncio
import threading

import httpx

from tests.conftest import HubProcess, token, uid


async def test_every_accepted_event_survives_kill_9(fresh_hub: HubProcess) -> None:
    hub = fresh_hub.start()
    hospital = uid("H")
    service = token(role="service", sub="svc")
    accepted: dict[str, int] = {}
    failures = 0
    killed = threading.Event()

    async def sender(worker: int) -> None:
        nonlocal failures
        async with httpx.AsyncClient(base_url=hub.url, timeout=5) as http:
            for i in range(10_000):
                if killed.is_set():
                    return
                try:
                    r = await http.post(
                        "/api/events/hospital_alert",
                        json={
                            "hospital_id": hospital,
                            "alert_type": "system",
                            "alert_data": {"worker": worker, "i": i},
                        },
                        headers={"Authorization": f"Bearer {service}"},
                    )
                except httpx.HTTPError:
                    failures += 1
                    return
                if r.status_code == 202:
                    accepted[r.json()["id"]] = r.json()["seq"]

    async def killer() -> None:
        while len(accepted) < 300:
            await asyncio.sleep(0.01)
        # kill while 16 requests are in flight: some are committed but not yet answered
        await asyncio.to_thread(hub.kill9)
        killed.set()

    await asyncio.wait_for(asyncio.gather(killer(), *(sender(w) for w in range(16))), 120)
    assert len(accepted) >= 300

    hub.start()
    admin = {"Authorization": f"Bearer {token(role='admin')}"}
    stored: dict[str, int] = {}
    since = 0
    async with httpx.AsyncClient(base_url=hub.url, headers=admin) as http:
        while True:
            r = await http.get(
                "/api/events",
                params={"room": f"hospital_{hospital}", "since": since, "limit": 1000},
            )
            page = r.json()
            stored.update({e["id"]: e["seq"] for e in page["events"]})
            if not page["more"]:
                break
            since = page["next_since"]
    missing = set(accepted) - set(stored)
    assert not missing, f"{len(missing)} events answered 202 were lost"
    assert all(stored[i] == s for i, s in accepted.items())
    seqs = sorted(stored.values())
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "journal has holes"
