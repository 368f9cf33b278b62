"""MLLP (Release 1) framing: ``<VT> message <FS><CR>``, robust to what real senders do.

The decoder is sans-I/O: feed it whatever a read returned and it yields complete frames. It
copes with several frames in one read, a frame split over many reads, junk or NUL bytes between
frames (skipped and counted), a missing trailing CR after FS, and frames larger than the limit
(reported once, then skipped up to the next start block, so the connection stays usable).
"""

from __future__ import annotations

from dataclasses import dataclass

SB = b"\x0b"
EB = b"\x1c"
CR = b"\x0d"


def frame(message: bytes) -> bytes:
    return SB + message + EB + CR


@dataclass(frozen=True, slots=True)
class Oversized:
    """A frame longer than the limit was dropped; ``prefix`` holds its first bytes (for a NAK)."""

    prefix: bytes
    size: int


class FrameDecoder:
    def __init__(self, max_size: int = 1_048_576) -> None:
        self.max_size = max_size
        self._buf = bytearray()
        self._in_frame = False
        self._skipping = False  # inside an oversized frame, waiting for its end
        self._skipped_size = 0
        self._oversized_prefix = b""
        self._expect_cr = False  # the CR after FS may arrive in the next read
        self.junk_bytes = 0

    def feed(self, data: bytes) -> list[bytes | Oversized]:
        out: list[bytes | Oversized] = []
        buf = self._buf
        buf += data
        pos = 0
        while pos < len(buf):
            if self._skipping:
                end = buf.find(EB, pos)
                if end == -1:
                    self._skipped_size += len(buf) - pos
                    pos = len(buf)
                    break
                self._skipped_size += end - pos
                out.append(Oversized(self._oversized_prefix, self._skipped_size))
                self._skipping = False
                self._expect_cr = True
                pos = end + 1
                continue
            if not self._in_frame:
                if self._expect_cr:
                    self._expect_cr = False
                    if buf[pos] == CR[0]:
                        pos += 1
                        continue
                start = buf.find(SB, pos)
                if start == -1:
                    self.junk_bytes += len(buf) - pos
                    pos = len(buf)
                    break
                self.junk_bytes += start - pos
                self._in_frame = True
                pos = start + 1
                continue
            end = buf.find(EB, pos)
            if end == -1:
                if len(buf) - pos > self.max_size:
                    self._start_skipping(bytes(buf[pos:]))
                    pos = len(buf)
                break
            # A start block inside a frame means the sender gave up on the previous one.
            restart = buf.find(SB, pos, end)
            if restart != -1:
                self.junk_bytes += restart - pos
                pos = restart + 1
                continue
            if end - pos > self.max_size:
                out.append(Oversized(bytes(buf[pos : pos + 4096]), end - pos))
            else:
                out.append(bytes(buf[pos:end]))
            self._in_frame = False
            self._expect_cr = True
            pos = end + 1
        del buf[:pos]
        return out

    def _start_skipping(self, prefix: bytes) -> None:
        self._in_frame = False
        self._skipping = True
        self._skipped_size = len(prefix)
        self._oversized_prefix = prefix[:4096]

    @property
    def pending(self) -> int:
        """Bytes buffered for an incomplete frame."""
        return len(self._buf)


def frame_all(messages: list[bytes]) -> bytes:
    """Several framed messages as one buffer, so they leave in a single write."""
    if len(messages) == 1:
        return SB + messages[0] + EB + CR
    return b"".join(SB + message + EB + CR for message in messages)
