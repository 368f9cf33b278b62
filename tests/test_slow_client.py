"""A client that stops reading is disconnected; others in the same room keep receiving on time."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import HubProcess, token, uid
from tests.rawws import StuckClient
from tests.test_socketio import Listener


@pytest.fixture
def small_queue_hub(tmp_path: Path) -> Any:
    hub = HubProcess(tmp_path, {"HUB_REALTIME__MAX_QUEUE_PER_CLIENT": "50"})
    yield hub.start()
    hub.stop()


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def test_stuck_client_is_cut_and_others_stay_on_time(small_queue_hub: HubProcess) -> None:
    hub = small_queue_hub
    hospital = uid("H")
    room = f"hospital_{hospital}"
    stuck = StuckClient(hub.port)
    await asyncio.to_thread(stuck.handshake_and_join, token(hospitals=[hospital]), room)
    healthy = Listener()
    await healthy.connect(hub, token(hospitals=[hospital]))
    assert (await healthy.join(room))["ok"]

    service = token(role="service")
    padding = "x" * 16_000  # large events fill the stuck client's buffers fast
    sent: list[int] = []
    lateness: list[float] = []

    @healthy.client.on("hospital_alert")
    async def _on_alert(data: dict[str, Any]) -> None:
        lateness.append(time.time() - data["alert_data"]["sent"])

    async def producer(worker: int) -> None:
        async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
            for i in range(100):
                r = await http.post(
                    "/api/events/hospital_alert",
                    json={
                        "hospital_id": hospital,
                        "alert_type": "system",
                        "alert_data": {"sent": time.time(), "pad": padding, "i": i},
                    },
                    headers={"Authorization": f"Bearer {service}"},
                )
                assert r.status_code == 202
                sent.append(r.json()["seq"])

    await asyncio.gather(*(producer(w) for w in range(4)))
    await healthy.wait_for(lambda: len(lateness) >= len(sent), timeout=30)
    metrics = httpx.get(hub.url + "/metrics").text
    assert _metric(metrics, "hub_slow_client_disconnects_total") == 1.0
    assert _metric(metrics, "hub_connected_clients") == 1.0, "the stuck client is still counted"
    assert healthy.client.connected
    lateness.sort()
    p99 = lateness[int(len(lateness) * 0.99) - 1]
    assert p99 < 1.0, f"healthy client fell behind: p99 {p99:.3f}s"
    # the hub still serves new clients normally
    late = Listener()
    await late.connect(hub, token(hospitals=[hospital]))
    assert (await late.join(room, since=max(sent) - 5))["replayed"] == 5
    await late.close()
    await healthy.close()
    stuck.close()
