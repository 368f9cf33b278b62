"""Misbehaving Socket.IO clients get nothing and break nothing."""

from __future__ import annotations

from tests.conftest import HubProcess, token
from tests.rawws import StuckClient
from tests.test_socketio import Listener


async def test_join_before_authenticating_is_ignored(hub_server: HubProcess) -> None:
    raw = StuckClient(hub_server.port)
    assert raw.read_text().startswith("0{")  # Engine.IO open; no Socket.IO connect sent
    raw.send_text('421["join_room",{"room":"hospital_H1"}]')
    raw.sock.settimeout(1.0)
    replies = []
    try:
        while True:
            replies.append(raw.read_text())
    except TimeoutError:
        pass
    assert not any(r.startswith("43") for r in replies), replies  # never acknowledged
    # now authenticate properly on the same connection: it still works
    raw.sock.settimeout(5)
    raw.send_text(f'40{{"token":"{token(hospitals=["H1"])}"}}')
    while not raw.read_text().startswith("40{"):
        pass
    raw.send_text('422["join_room",{"room":"hospital_H1"}]')
    while True:
        text = raw.read_text()
        if text.startswith("432"):
            assert '"ok":true' in text
            break
    raw.close()


async def test_garbage_frames_do_not_affect_other_clients(hub_server: HubProcess) -> None:
    healthy = Listener()
    await healthy.connect(hub_server, token(hospitals=["H1"]))
    raw = StuckClient(hub_server.port)
    raw.read_text()
    for junk in ("", "9", "4", "42[", '42"x"', "40{bad json", "4" + "x" * 70_000):
        try:
            raw.send_text(junk)
        except OSError:
            break
    raw.close()
    assert (await healthy.join("hospital_H1"))["ok"] is True
    await healthy.close()
