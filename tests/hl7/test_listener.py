"""The MLLP listener of a real hub over real TCP: store-then-ACK, duplicates, NAKs, framing."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from adapters.hl7.framing import CR, EB, SB, FrameDecoder, frame
from adapters.hl7.message import parse
from tests.conftest import HubProcess

FIXTURES = Path(__file__).parent / "fixtures"


class MllpClient:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.decoder = FrameDecoder()
        self.pending: list[bytes] = []

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self) -> bytes:
        while not self.pending:
            data = self.sock.recv(65536)
            assert data, "connection closed"
            self.pending += [f for f in self.decoder.feed(data) if isinstance(f, bytes)]
        return self.pending.pop(0)

    def call(self, message: bytes) -> bytes:
        self.send_raw(frame(message))
        return self.receive()

    def close(self) -> None:
        self.sock.close()


def msa(ack: bytes) -> tuple[str | None, str | None]:
    parsed = parse(ack)
    return parsed.value("MSA", 1), parsed.value("MSA", 2)


def unique(fixture: str, control_id: str) -> bytes:
    raw = (FIXTURES / fixture).read_bytes()
    original = parse(raw).control_id
    assert original
    return raw.replace(original.encode(), control_id.encode(), 1)


def test_accepts_acks_and_replays_the_ack_for_duplicates(hub_server: HubProcess) -> None:
    client = MllpClient(hub_server.mllp_port)
    message = unique("adt_a02_v251.hl7", "T-DUP-1")
    first = client.call(message)
    assert msa(first) == ("AA", "T-DUP-1")
    assert client.call(message) == first  # the original ACK, byte for byte
    metrics = httpx.get(hub_server.url + "/metrics").text
    assert 'hub_inputs_total{adapter="mllp:default",outcome="duplicate"}' in metrics
    client.close()


def test_every_version_fixture_is_acknowledged(hub_server: HubProcess) -> None:
    client = MllpClient(hub_server.mllp_port)
    for i, name in enumerate(
        (
            "adt_a01_v23.hl7",
            "adt_a02_v251.hl7",
            "adt_a04_v27.hl7",
            "adt_a20_v28.hl7",
            "pmu_b05_v251.hl7",
            "adt_a08_latin1.hl7",
        )
    ):
        ack = client.call(unique(name, f"T-VER-{i}"))
        # the 2.8 fixture asks for enhanced mode with MSH-15 AL, MSH-16 NE: a commit ACK only
        expected = "CA" if name == "adt_a20_v28.hl7" else "AA"
        assert msa(ack) == (expected, f"T-VER-{i}"), name
    client.close()


def test_naks_say_why_and_the_connection_stays_usable(hub_server: HubProcess) -> None:
    client = MllpClient(hub_server.mllp_port)
    nak = parse(client.call(b"PID|||nothing before me\r"))
    assert nak.value("MSA", 1) == "AE" and nak.value_of(nak.segment("ERR"), 3, 1) == "100"
    orm = b"MSH|^~\\&|LIS|H|HUB|H|2026||ORM^O01^ORM_O01|T-AR-1|P|2.5.1\r"
    ar = parse(client.call(orm))
    assert (ar.value("MSA", 1), ar.value("MSA", 2)) == ("AR", "T-AR-1")
    assert ar.value_of(ar.segment("ERR"), 3, 1) == "200"
    old = b"MSH|^~\\&|X|H|HUB|H|2026||ADT^A01|T-AR-2|P|2.2\r"
    v22 = parse(client.call(old))
    assert v22.value("MSA", 1) == "AR"
    missing = b"MSH|^~\\&|X|H|HUB|H|2026||ADT^A01||P|2.5.1\r"
    ae = parse(client.call(missing))
    assert ae.value("MSA", 1) == "AE" and ae.raw_field(ae.segment("ERR"), 2) == "MSH^1^10"
    # junk between frames, two frames in one write, one frame over several writes
    two = (
        frame(unique("adt_a02_v251.hl7", "T-F-1"))
        + b"\x00\x00junk"
        + frame(unique("adt_a02_v251.hl7", "T-F-2"))
    )
    client.send_raw(two)
    assert msa(client.receive()) == ("AA", "T-F-1")
    assert msa(client.receive()) == ("AA", "T-F-2")
    split = frame(unique("adt_a02_v251.hl7", "T-F-3"))
    for i in range(0, len(split), 7):
        client.send_raw(split[i : i + 7])
    assert msa(client.receive()) == ("AA", "T-F-3")
    client.close()


def test_oversized_frames_get_an_ae_and_the_stream_continues(hub_server: HubProcess) -> None:
    client = MllpClient(hub_server.mllp_port)
    huge = b"MSH|^~\\&|X|H|HUB|H|2026||ADT^A01|T-BIG|P|2.5.1\rNTE|||" + b"x" * 1_100_000
    client.send_raw(SB + huge + EB + CR)
    nak = parse(client.receive())
    assert nak.value("MSA", 1) == "AE" and nak.value_of(nak.segment("ERR"), 3, 1) == "104"
    assert msa(client.call(unique("adt_a02_v251.hl7", "T-AFTER-BIG"))) == ("AA", "T-AFTER-BIG")
    client.close()


def test_ready_reports_the_listener(hub_server: HubProcess) -> None:
    assert httpx.get(hub_server.url + "/ready").status_code == 200


def test_hub_send_prints_each_ack(hub_server: HubProcess, tmp_path: Path) -> None:
    import subprocess
    import sys

    batch = (
        b"\n".join(
            unique("adt_a02_v251.hl7", f"T-SEND-{i}").replace(b"\r", b"\r\n") for i in range(3)
        )
        + b"\nMSH|^~\\&|X|H|HUB|H|2026||ORM^O01|T-SEND-X|P|2.5.1\n"
    )
    path = tmp_path / "batch.hl7"
    path.write_bytes(batch)
    out = subprocess.run(
        [sys.executable, "-m", "hub", "send", str(path), "--port", str(hub_server.mllp_port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = out.stdout.splitlines()
    assert lines[:3] == [f"{path}: T-SEND-{i} AA" for i in range(3)]
    assert lines[3].startswith(f"{path}: T-SEND-X AR [200]")
    assert out.returncode == 1


def test_python_hl7_mllp_client_is_answered(hub_server: HubProcess) -> None:
    """An independent real client: python-hl7's MLLP implementation."""
    import asyncio

    import hl7.mllp

    async def run() -> bytes:
        reader, writer = await hl7.mllp.open_hl7_connection("127.0.0.1", hub_server.mllp_port)
        writer.writemessage(hl7.parse(unique("adt_a02_v251.hl7", "T-PYHL7").decode()))
        await writer.drain()
        ack = await asyncio.wait_for(reader.readmessage(), 10)
        writer.close()
        return str(ack).encode()

    assert msa(asyncio.run(run())) == ("AA", "T-PYHL7")


def test_enhanced_mode_commit_then_application_ack(hub_server: HubProcess) -> None:
    client = MllpClient(hub_server.mllp_port)
    base = unique("adt_a02_v251.hl7", "T-ENH-1")
    # MSH-15 = AL, MSH-16 = AL: CA after storage, then AA
    enhanced = base.replace(b"|P|2.5.1\r", b"|P|2.5.1|||AL|AL\r", 1)
    client.send_raw(frame(enhanced))
    assert msa(client.receive()) == ("CA", "T-ENH-1")
    assert msa(client.receive()) == ("AA", "T-ENH-1")
    # MSH-16 = ER and it succeeds: only the commit ACK
    quiet = unique("adt_a02_v251.hl7", "T-ENH-2").replace(b"|P|2.5.1\r", b"|P|2.5.1|||AL|ER\r", 1)
    client.send_raw(frame(quiet))
    assert msa(client.receive()) == ("CA", "T-ENH-2")
    # an unsupported type in enhanced mode is a commit reject
    orm = b"MSH|^~\\&|LIS|H|HUB|H|2026||ORM^O01^ORM_O01|T-ENH-3|P|2.5.1|||AL|AL\r"
    assert msa(client.call(orm)) == ("CR", "T-ENH-3")
    # the connection carries on in original mode
    assert msa(client.call(unique("adt_a02_v251.hl7", "T-ENH-4"))) == ("AA", "T-ENH-4")
    client.close()
