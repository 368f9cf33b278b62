"""MLLP framing (integration-engines §9.1): splits, coalescing, junk, oversize, any bytes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.hl7.framing import CR, EB, SB, FrameDecoder, Oversized, frame

# message bodies never contain the MLLP control bytes
bodies = st.binary(min_size=1, max_size=300).map(
    lambda b: b.replace(SB, b"v").replace(EB, b"f") or b"x"
)
junk = st.binary(max_size=20).map(lambda b: b.replace(SB, b""))


def feed_in_chunks(decoder: FrameDecoder, data: bytes, cuts: list[int]) -> list[object]:
    out: list[object] = []
    last = 0
    for cut in sorted({c % (len(data) + 1) for c in cuts}):
        out += decoder.feed(data[last:cut])
        last = cut
    out += decoder.feed(data[last:])
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(junk, bodies), min_size=1, max_size=8), st.lists(st.integers(0, 5000)))
def test_any_split_of_any_stream_yields_exactly_the_frames(
    items: list[tuple[bytes, bytes]], cuts: list[int]
) -> None:
    stream = b"".join(j + frame(body) for j, body in items)
    decoder = FrameDecoder()
    assert feed_in_chunks(decoder, stream, cuts) == [body for _, body in items]
    assert decoder.pending == 0


def test_several_frames_in_one_read_and_one_frame_over_many() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(frame(b"A") + frame(b"B") + SB + b"C1") == [b"A", b"B"]
    assert decoder.feed(b"C2") == []
    assert decoder.feed(EB) == [b"C1C2"]
    assert decoder.feed(CR + b"\x00\x00" + frame(b"D")) == [b"D"]
    assert decoder.junk_bytes == 2


def test_missing_cr_after_fs_is_tolerated() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(SB + b"A" + EB + SB + b"B" + EB) == [b"A", b"B"]


def test_restart_inside_a_frame_drops_the_abandoned_part() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(SB + b"half a mess" + SB + b"whole" + EB + CR) == [b"whole"]


def test_oversized_frames_are_reported_and_skipped_then_the_stream_goes_on() -> None:
    decoder = FrameDecoder(max_size=100)
    big = b"MSH|" + b"x" * 500
    out = decoder.feed(SB + big[:50])
    out += decoder.feed(big[50:300])
    out += decoder.feed(big[300:] + EB + CR + frame(b"next"))
    assert len(out) == 2
    assert isinstance(out[0], Oversized) and out[0].size == len(big)
    assert out[0].prefix.startswith(b"MSH|")
    assert out[1] == b"next"
    assert decoder.pending == 0
    # an oversized frame complete in one read is reported the same way
    assert isinstance(FrameDecoder(max_size=10).feed(frame(b"y" * 11))[0], Oversized)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.lists(st.integers(0, 2000)))
def test_random_bytes_never_crash_and_memory_stays_bounded(data: bytes, cuts: list[int]) -> None:
    decoder = FrameDecoder(max_size=256)
    for item in feed_in_chunks(decoder, data, cuts):
        assert isinstance(item, bytes | Oversized)
    assert decoder.pending <= 256 + 1
