"""kill -9 during an MLLP stream: every ACKed message produces its events exactly once."""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.hl7.client import MllpClient
from adapters.hl7.framing import EB, SB
from adapters.hl7.message import parse
from tests.conftest import HubProcess, token, uid


def a20(control: str, hospital: str, bed: int) -> bytes:
    return (
        f"MSH|^~\\&|BB|{hospital}|HUB|H|20260310170000||ADT^A20^ADT_A20|{control}|P|2.5.1\r"
        f"EVN||20260310170000\rNPU|W^R^{bed}^{hospital}|O\r"
    ).encode()


async def test_acked_messages_survive_kill_9_exactly_once(fresh_hub: HubProcess) -> None:
    hub = fresh_hub.start()
    hospital = uid("H")
    acked: set[int] = set()
    sent: list[int] = []
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    bed = 0
    for _round in range(3):
        kill_after = rng.randint(20, 120)
        try:
            async with MllpClient("127.0.0.1", hub.mllp_port, timeout=5) as client:
                while True:
                    bed += 1
                    sent.append(bed)
                    if len(acked) >= kill_after and bed % 7 == 0:
                        # kill while this message is in flight: stored or not, ACKed or not
                        task = asyncio.create_task(client.send(a20(f"K{bed}", hospital, bed)))
                        await asyncio.sleep(rng.random() * 0.004)
                        await asyncio.to_thread(hub.kill9)
                        try:
                            reply = await task
                            if parse(reply).value("MSA", 1) == "AA":
                                acked.add(bed)
                        except (ConnectionError, TimeoutError, OSError):
                            pass
                        break
                    reply = await client.send(a20(f"K{bed}", hospital, bed))
                    assert parse(reply).value("MSA", 1) == "AA"
                    acked.add(bed)
        except (ConnectionError, OSError):
            pass
        hub.start()
        # the sender resends what it has no ACK for, as MLLP senders do
        async with MllpClient("127.0.0.1", hub.mllp_port) as client:
            for b in sent:
                if b not in acked:
                    reply = await client.send(a20(f"K{b}", hospital, b))
                    assert parse(reply).value("MSA", 1) == "AA"
                    acked.add(b)
    admin = {"Authorization": f"Bearer {token(role='admin')}"}
    counts: Counter[str] = Counter()
    since = 0
    async with httpx.AsyncClient(base_url=hub.url, headers=admin) as http:
        while True:
            page = (
                await http.get(
                    "/api/events",
                    params={"room": f"hospital_{hospital}", "since": since, "limit": 1000},
                )
            ).json()
            # other plugins (capacity alerts) may speak in the hospital's room too
            counts.update(
                e["bed_info"]["bed_id"] for e in page["events"] if e["type"] == "bed_status_changed"
            )
            if not page["more"]:
                break
            since = page["next_since"]
    expected = {f"W:R:{b}" for b in acked}
    assert set(counts) == expected, "an ACKed message lost its event"
    assert all(n == 1 for n in counts.values()), "an event was produced twice"


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.binary(min_size=1, max_size=400), min_size=1, max_size=8))
def test_random_frames_are_all_answered_and_the_connection_survives(
    hub_server: HubProcess, payloads: list[bytes]
) -> None:
    async def run() -> None:
        async with MllpClient("127.0.0.1", hub_server.mllp_port, timeout=10) as client:
            for payload in payloads:
                body = payload.replace(SB, b"").replace(EB, b"") or b"x"
                code = parse(await client.send(body)).value("MSA", 1)
                assert code in ("AA", "AE", "AR")
            ok = a20(uid("F"), "HOSP", 1)
            assert parse(await client.send(ok)).value("MSA", 1) == "AA"

    asyncio.run(run())
