"""Graceful shutdown of a node on SIGTERM, over real sockets: MLLP stops accepting, the message
in hand is answered, queued unanswered ones are left for the sender to resend, Socket.IO clients
are told and sent to reconnect (elsewhere, or here once the node is back), and the process exits
within ``server.shutdown_timeout_s``."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import socketio

from adapters.hl7.message import parse
from tests.conftest import HubProcess, token, uid
from tests.hl7.test_mllp_durability import a20
from tests.test_socketio import Listener

START, END = b"\x0b", b"\x1c\r"


async def test_sigterm_answers_what_is_in_hand_refuses_the_rest_and_sends_clients_away(
    tmp_path: Path,
) -> None:
    hub = HubProcess(tmp_path, extra_env={"HUB_SERVER__SHUTDOWN_TIMEOUT_S": "5"})
    hub.start()
    hospital = uid("H")
    client = socketio.AsyncClient(reconnection=True, reconnection_delay=0.2)
    seen: list[tuple[str, Any]] = []
    connects = 0

    @client.on("*")
    async def _any(event: str, data: Any) -> None:
        seen.append((event, data))

    @client.event
    async def connect() -> None:
        nonlocal connects
        connects += 1

    await client.connect(
        hub.url, auth={"token": token(hospitals=[hospital])}, transports=["websocket"]
    )
    try:
        # 300 messages pipelined on one connection: some are answered before SIGTERM, one is
        # in hand when it arrives, the rest are still queued
        reader, writer = await asyncio.open_connection("127.0.0.1", hub.mllp_port)
        controls = [f"S{n}" for n in range(300)]
        writer.write(b"".join(START + a20(c, hospital, n) + END for n, c in enumerate(controls)))
        await writer.drain()
        first = await reader.readuntil(END)
        assert parse(first[1:-2]).value("MSA", 1) == "AA"
        started = time.monotonic()
        assert hub.proc is not None
        hub.proc.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(reader.read(), 10)  # to EOF: the hub closes the connection
        frames = [first, *(f + END for f in rest.split(END) if f)]
        acked = []
        for frame in frames:
            assert frame.startswith(START) and frame.endswith(END), "a partial answer was sent"
            ack = parse(frame[1:-2])
            assert ack.value("MSA", 1) == "AA"
            acked.append(ack.value("MSA", 2))
        assert acked == controls[: len(acked)], "answers out of order"
        assert 1 <= len(acked) < len(controls), "nothing was left queued: no drain was tested"
        writer.close()

        code = await asyncio.to_thread(hub.proc.wait, 10)
        elapsed = time.monotonic() - started
        assert code == 0, hub.log.read_text()[-2000:]
        assert elapsed < 5, f"shutdown took {elapsed:.1f} s"
        # the client was told before its connection closed
        assert ("hub_shutdown", {"reconnect": True, "reason": "node stopping"}) in seen
        try:
            await asyncio.open_connection("127.0.0.1", hub.mllp_port)
            raise AssertionError("MLLP still accepted connections after shutdown")
        except OSError:
            pass

        # the node comes back on the same journal: the client reconnects by itself (a
        # Socket.IO-level disconnect would have made socket.io clients give up) and finds
        # exactly the answered messages journaled, the unanswered ones for the sender to resend
        hub.start()
        deadline = time.monotonic() + 10
        while connects < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert connects == 2, "the client did not reconnect"
        replay = Listener()
        await replay.connect(hub, token(hospitals=[hospital]))
        assert (await replay.join(f"hospital_{hospital}", since=0))["ok"] is True
        await replay.wait_for(lambda: len(replay.of("bed_status_changed")) >= len(acked))
        await asyncio.sleep(0.3)
        beds = [e["bed_info"]["bed_id"] for e in replay.of("bed_status_changed")]
        assert beds == [f"W:R:{n}" for n in range(len(acked))]
        await replay.close()
    finally:
        await client.disconnect()
        hub.stop()
