"""The MLLP listener's connection handling in-process, against a stand-in hub: order,
pipelining, back-pressure, idle timeout, allowed sources, storage failure and stop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters.hl7 import listener as listener_module
from adapters.hl7.framing import FrameDecoder, frame
from adapters.hl7.listener import ListenerConfig, MllpListener
from adapters.hl7.message import parse
from hub.journal.base import StoredInput
from hub.metrics import Metrics
from hub.runtime import Accepted


def message(control_id: str) -> bytes:
    return (
        f"MSH|^~\\&|PAS|H1|HUB|H1|20260310160000||ADT^A01^ADT_A01|{control_id}|P|2.5.1\r"
        "EVN||20260310160000\rPID|||P1^^^H1^MR\rPV1||I|5B^12^3^H1\r"
    ).encode()


class Journal:
    async def pending_inputs(self, source: str) -> list[StoredInput]:
        return []

    async def store_input(self, *args: Any) -> None:
        return None


class StandInHub:
    """Answers AA after ``gate`` opens (always open unless a test closes it)."""

    def __init__(self) -> None:
        self.metrics = Metrics()
        self.journal = Journal()
        self.handled: list[str] = []
        self.active = 0
        self.most_active = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: set[str] = set()

    async def accept(self, inbound: Any, raw: bytes, key: str, answer: Any) -> Accepted:
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            await self.gate.wait()
            await asyncio.sleep(0)
            control_id = inbound.meta["control_id"]
            if control_id in self.fail:
                raise OSError("disk full")
            self.handled.append(control_id)
            stored = StoredInput(1, inbound.source, key, raw, "processed")
            return Accepted(stored, answer(None), [])
        finally:
            self.active -= 1


class Peer:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = FrameDecoder()
        self.frames: list[bytes] = []

    @classmethod
    async def connect(cls, port: int) -> Peer:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def acks(self, count: int) -> list[tuple[str | None, str | None]]:
        while len(self.frames) < count:
            data = await asyncio.wait_for(self.reader.read(65536), 5)
            assert data, "connection closed"
            self.frames += [f for f in self.decoder.feed(data) if isinstance(f, bytes)]
        taken, self.frames = self.frames[:count], self.frames[count:]
        return [(parse(f).value("MSA", 1), parse(f).value("MSA", 2)) for f in taken]

    async def closed(self) -> bool:
        try:
            return await asyncio.wait_for(self.reader.read(65536), 5) == b""
        except ConnectionError:
            return True


async def started(hub: StandInHub, **settings: Any) -> MllpListener:
    listener = MllpListener(ListenerConfig(port=0, **settings))
    await listener.start(hub)  # type: ignore[arg-type]
    return listener


async def test_pipelined_messages_are_handled_one_at_a_time_and_answered_in_order() -> None:
    hub = StandInHub()
    listener = await started(hub)
    assert listener.port is not None
    peer = await Peer.connect(listener.port)
    ids = [f"P{i}" for i in range(200)]
    # junk between frames, and frames split across writes, as real senders do
    data = b"\x00junk".join(frame(message(i)) for i in ids)
    for start in range(0, len(data), 777):
        peer.writer.write(data[start : start + 777])
    assert await peer.acks(len(ids)) == [("AA", i) for i in ids]
    assert hub.handled == ids
    assert hub.most_active == 1
    peer.writer.close()
    await listener.stop()


async def test_a_sender_that_does_not_wait_is_held_back() -> None:
    hub = StandInHub()
    hub.gate.clear()
    listener = await started(hub)
    assert listener.port is not None
    peer = await Peer.connect(listener.port)
    peer.writer.write(b"".join(frame(message(f"F{i}")) for i in range(5000)))
    await asyncio.sleep(0.3)
    (connection,) = listener._connections
    assert connection._reading_paused
    assert len(connection._queue) < listener_module.MAX_QUEUED_FRAMES + 1000
    hub.gate.set()
    acks = await peer.acks(5000)
    assert acks == [("AA", f"F{i}") for i in range(5000)]
    assert not connection._reading_paused
    peer.writer.close()
    await listener.stop()


async def test_storage_failure_is_ar_and_the_connection_stays_usable() -> None:
    hub = StandInHub()
    hub.fail.add("BAD")
    listener = await started(hub)
    assert listener.port is not None
    peer = await Peer.connect(listener.port)
    peer.writer.write(frame(message("OK1")) + frame(message("BAD")) + frame(message("OK2")))
    assert await peer.acks(3) == [("AA", "OK1"), ("AR", None), ("AA", "OK2")]
    peer.writer.write(frame(b"not hl7") + frame(message("OK3")))
    (ae, _), ok = await peer.acks(2)
    assert ae == "AE" and ok == ("AA", "OK3")
    peer.writer.close()
    await listener.stop()


async def test_idle_connections_are_closed_and_busy_ones_are_not() -> None:
    hub = StandInHub()
    listener = await started(hub, idle_timeout_s=0.3)
    assert listener.port is not None
    idle = await Peer.connect(listener.port)
    busy = await Peer.connect(listener.port)
    for i in range(8):
        busy.writer.write(frame(message(f"B{i}")))
        assert await busy.acks(1) == [("AA", f"B{i}")]
        await asyncio.sleep(0.1)
    assert await idle.closed()
    assert not busy.reader.at_eof()
    assert await busy.closed()  # once it too goes quiet
    await listener.stop()
    assert not listener._connections


async def test_a_slow_message_is_not_cut_off_by_the_idle_timeout() -> None:
    hub = StandInHub()
    hub.gate.clear()
    listener = await started(hub, idle_timeout_s=0.2)
    assert listener.port is not None
    peer = await Peer.connect(listener.port)
    peer.writer.write(frame(message("SLOW")))
    await asyncio.sleep(0.5)
    hub.gate.set()
    assert await peer.acks(1) == [("AA", "SLOW")]
    await listener.stop()


async def test_sources_outside_the_allowed_ranges_are_refused() -> None:
    hub = StandInHub()
    refused = await started(hub, allowed_sources=["10.0.0.0/8"])
    allowed = await started(hub, allowed_sources=["10.0.0.0/8", "127.0.0.1"])
    assert refused.port is not None and allowed.port is not None
    peer = await Peer.connect(refused.port)
    peer.writer.write(frame(message("NO")))
    assert await peer.closed()
    peer = await Peer.connect(allowed.port)
    peer.writer.write(frame(message("YES")))
    assert await peer.acks(1) == [("AA", "YES")]
    assert hub.handled == ["YES"]
    await refused.stop()
    await allowed.stop()


async def test_end_of_stream_still_gets_every_answer() -> None:
    hub = StandInHub()
    listener = await started(hub)
    assert listener.port is not None
    peer = await Peer.connect(listener.port)
    peer.writer.write(b"".join(frame(message(f"E{i}")) for i in range(20)))
    peer.writer.write_eof()
    assert await peer.acks(20) == [("AA", f"E{i}") for i in range(20)]
    assert await peer.closed()
    await listener.stop()


async def test_stop_answers_the_message_in_hand_then_closes() -> None:
    hub = StandInHub()
    hub.gate.clear()
    listener = await started(hub)
    assert listener.port is not None
    peer = await Peer.connect(listener.port)
    quiet = await Peer.connect(listener.port)
    peer.writer.write(frame(message("S1")) + frame(message("S2")))
    while hub.active == 0:
        await asyncio.sleep(0.01)
    stopping = asyncio.create_task(listener.stop())
    await asyncio.sleep(0.1)
    assert not stopping.done()  # waits for S1
    hub.gate.set()
    await asyncio.wait_for(stopping, 5)
    assert await peer.acks(1) == [("AA", "S1")]
    assert await peer.closed()
    assert await quiet.closed()
    assert hub.handled == ["S1"]  # S2 was never answered: its sender sends it again
    assert listener.health() == "not listening"


async def test_stop_gives_up_on_a_journal_that_does_not_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(listener_module, "STOP_GRACE_S", 0.2)
    hub = StandInHub()
    hub.gate.clear()
    listener = await started(hub)
    assert listener.port is not None
    peer = await Peer.connect(listener.port)
    peer.writer.write(frame(message("STUCK")))
    while hub.active == 0:
        await asyncio.sleep(0.01)
    await asyncio.wait_for(listener.stop(), 5)
    assert await peer.closed()
    assert hub.handled == []
