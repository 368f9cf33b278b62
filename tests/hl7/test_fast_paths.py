"""The MLLP hot path's shortcuts give exactly what the plain code they replace gives: value
extraction, ACK escaping and stamps, and the Socket.IO writer's queue wait and write batching."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.hl7 import ack
from adapters.hl7.message import Message, Separators, parse
from hub.realtime.engineio_tuning import CoalescingWriter, SlimQueue, _poll

PIECES = st.text(alphabet="ab^~&\\|xE", max_size=12)


def reference_raw_value(
    msg: Message, seg: list[str] | None, field: int, component: int, sub: int, rep: int
) -> str | None:
    """The split-everything version the tokenizer used before."""
    text = "" if seg is None or field >= len(seg) else seg[field]
    if not text:
        return None
    if seg is not None and seg[0] == "MSH" and field <= 2:
        return text
    sep = msg.separators
    reps = text.split(sep.repetition)
    if rep > len(reps):
        return None
    comps = reps[rep - 1].split(sep.component)
    if component > len(comps):
        return None
    subs = comps[component - 1].split(sep.subcomponent)
    if sub > len(subs):
        return None
    return subs[sub - 1] or None


@settings(max_examples=300, deadline=None)
@given(
    fields=st.lists(PIECES.filter(lambda t: "|" not in t), min_size=1, max_size=6),
    positions=st.lists(
        st.tuples(st.integers(0, 7), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3)),
        min_size=1,
        max_size=10,
    ),
)
def test_raw_value_equals_splitting_everything(
    fields: list[str], positions: list[tuple[int, int, int, int]]
) -> None:
    raw = (
        "MSH|^~\\&|A|B|C|D|20260101||ADT^A01|X1|P|2.5.1\rZZZ|" + "|".join(fields) + "\r"
    ).encode()
    msg = parse(raw)
    seg = msg.segment("ZZZ")
    for field, component, sub, rep in positions:
        for target in (seg, msg.msh, None):
            assert msg.raw_value(target, field, component, sub, rep) == reference_raw_value(
                msg, target, field, component, sub, rep
            )


def test_header_values_are_read_once_and_match_the_segment() -> None:
    msg = parse(b"MSH|^~\\&|A\\T\\1|B|C|D|20260101||ADT^A08^ADT_A01|X\\F\\1|T^A|2.4^x|||AL|NE\r")
    assert (msg.sending_application, msg.control_id) == ("A&1", "X|1")
    assert (msg.message_code, msg.trigger, msg.structure) == ("ADT", "A08", "ADT_A01")
    assert (msg.processing_id, msg.version) == ("T", "2.4")
    assert (msg.accept_ack_type, msg.application_ack_type, msg.charset_field) == ("AL", "NE", None)
    assert msg.control_id == msg.value_of(msg.segment("MSH"), 10)
    assert msg.segment("MSH") is msg.segments[0]


@pytest.mark.parametrize("segment_id", ["PID", "ZX1", "Z99"])
def test_segment_ids_stay_validated_after_being_seen(segment_id: str) -> None:
    raw = b"MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5\r" + segment_id.encode() + b"|1\r"
    assert parse(raw).segment(segment_id) is not None
    with pytest.raises(Exception, match="invalid segment id"):
        parse(raw + segment_id.lower().encode() + b"|1\r")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab|^~&\\#$\r\n", max_size=20))
def test_escape_shortcut_is_exact(text: str) -> None:
    for sep in (Separators(), Separators("#", "$", "~", "\\", "&")):
        out = text.replace(sep.escape, f"{sep.escape}E{sep.escape}")
        for char, code in (
            (sep.field, "F"),
            (sep.component, "S"),
            (sep.subcomponent, "T"),
            (sep.repetition, "R"),
        ):
            out = out.replace(char, f"{sep.escape}{code}{sep.escape}")
        out = out.replace("\r", " ").replace("\n", f"{sep.escape}.br{sep.escape}")
        assert ack.escape(text, sep) == out


def test_ack_stamp_and_control_ids_follow_the_clock() -> None:
    msg = parse(b"MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|2.5\r")
    for now in (0.0, 0.999, 1.0, 1_780_000_000.5, 1_780_000_001.0, 1_780_000_000.2):
        expected = time.strftime("%Y%m%d%H%M%S", time.gmtime(now)) + "+0000"
        assert ack.build_ack(msg, "AA", now=now).split("|")[6] == expected
    ids = [ack.new_control_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 17 and i.startswith("H") for i in ids)
    assert ids == sorted(ids) or ids[-1] > ids[0]


async def test_slim_queue_wait_times_out_only_after_silence() -> None:
    queue = SlimQueue()
    loop = asyncio.get_running_loop()

    async def later(item: Any, delay: float) -> None:
        await asyncio.sleep(delay)
        queue.put_nowait(item)

    for i in range(5):  # items keep coming: the one timer is re-armed, never fires on a waiter
        task = loop.create_task(later(i, 0.06))
        assert await queue.get_within(0.1) == i
        await task
    started = loop.time()
    with pytest.raises(TimeoutError):
        await queue.get_within(0.1)
    assert 0.09 <= loop.time() - started < 1.0
    queue.put_nowait("x")  # a timeout leaves the queue usable
    assert await queue.get_within(0.1) == "x"


async def test_poll_on_a_slim_queue_drains_and_ends_like_engineio() -> None:
    class Server:
        ping_interval = 0.05
        ping_timeout = 0.05

    class Sock:
        server = Server()
        queue = SlimQueue()

    sock = Sock()
    for item in ("a", "b", None, "c"):
        sock.queue.put_nowait(item)
    assert await _poll(sock) == ["a", "b"]
    assert await _poll(sock) == ["c"]  # as engineio's poll: the sentinel goes back last
    assert await _poll(sock) == []
    from engineio import exceptions

    sock.queue = SlimQueue()
    with pytest.raises(exceptions.QueueEmpty):
        await _poll(sock)


async def test_coalescing_writer_sends_one_pass_in_one_write() -> None:
    received = bytearray()
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            received.extend(data)
        done.set()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, raw_writer = await asyncio.open_connection("127.0.0.1", port)
    writes: list[bytes] = []
    original = raw_writer.write

    def counting(data: bytes) -> None:
        writes.append(data)
        original(data)

    raw_writer.write = counting  # type: ignore[method-assign]
    writer = CoalescingWriter(raw_writer)
    for part in (b"one", b"two", b"three"):
        writer.write(part)
        await writer.drain()
    # the first frame of a pass leaves at once (latency), the rest together at its end
    assert writes == [b"one"]
    await asyncio.sleep(0)
    assert writes == [b"one", b"twothree"]
    writer.write(b"last")
    assert writes[-1] == b"last"
    writer.write(b"eof")
    writer.write_eof()  # flushes first
    assert writes[-1] == b"eof"
    await asyncio.wait_for(done.wait(), 5)
    assert bytes(received) == b"onetwothreelasteof"
    writer.close()
    server.close()
