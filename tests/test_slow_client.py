"""A client that stops reading is disconnected; others in the same room keep receiving on time."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import socket
import struct
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import HubProcess, token, uid
from tests.test_socketio import Listener


def _frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    header = bytes([0x81])
    n = len(payload)
    if n < 126:
        header += bytes([0x80 | n])
    else:
        header += bytes([0x80 | 126]) + struct.pack("!H", n)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class StuckClient:
    """A raw Engine.IO websocket client that joins a room and then never reads again."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        # a tiny receive window makes the server's socket buffers fill quickly
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(4096)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert b" 101 " in head.split(b"\r\n")[0], head

    def read_text(self) -> str:
        while True:
            if len(self.buf) >= 2:
                n = self.buf[1] & 0x7F
                offset = 2
                if n == 126:
                    n = struct.unpack("!H", self.buf[2:4])[0]
                    offset = 4
                elif n == 127:
                    n = struct.unpack("!Q", self.buf[2:10])[0]
                    offset = 10
                if len(self.buf) >= offset + n:
                    text = self.buf[offset : offset + n].decode()
                    self.buf = self.buf[offset + n :]
                    return text
            self.buf += self.sock.recv(65536)

    def handshake_and_join(self, tok: str, room: str) -> None:
        assert self.read_text().startswith("0{")  # Engine.IO open
        self.sock.sendall(_frame(f'40{{"token":"{tok}"}}'))
        while not self.read_text().startswith("40{"):
            pass
        self.sock.sendall(_frame(f'421["join_room",{{"room":"{room}"}}]'))
        while True:
            text = self.read_text()
            if text.startswith("431"):
                assert '"ok":true' in text, text
                return

    def close(self) -> None:
        self.sock.close()


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
    assert (await late.join(room, since=sent[-1] - 5))["replayed"] == 5
    await late.close()
    await healthy.close()
    stuck.close()
