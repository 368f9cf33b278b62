"""An MLLP client: send messages, one at a time, and wait for each ACK (as senders do)."""

from __future__ import annotations

import asyncio
import re
import ssl as ssl_lib

from adapters.hl7.framing import FrameDecoder, Oversized, frame

_SEGMENT_END = re.compile(rb"\r\n|\n|\r")


def split_messages(data: bytes) -> list[bytes]:
    """Messages in a file: any of CR, LF or CRLF between segments, each message from an MSH."""
    segments = [s for s in _SEGMENT_END.split(data) if s.strip()]
    messages: list[list[bytes]] = []
    for seg in segments:
        if seg.lstrip(b"\xef\xbb\xbf").startswith(b"MSH") or not messages:
            messages.append([seg.lstrip(b"\xef\xbb\xbf")])
        else:
            messages[-1].append(seg)
    return [b"\r".join(m) + b"\r" for m in messages]


class MllpClient:
    def __init__(
        self, host: str, port: int, *, ssl: ssl_lib.SSLContext | None = None, timeout: float = 30.0
    ) -> None:
        self.host, self.port, self.ssl, self.timeout = host, port, ssl, timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._decoder = FrameDecoder(16 * 1_048_576)
        self._ready: list[bytes] = []

    async def __aenter__(self) -> MllpClient:
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, ssl=self.ssl), self.timeout
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._writer is not None:
            self._writer.close()

    async def send(self, message: bytes) -> bytes:
        assert self._reader is not None and self._writer is not None, "not connected"
        self._writer.write(frame(message))
        await self._writer.drain()
        while not self._ready:
            data = await asyncio.wait_for(self._reader.read(65536), self.timeout)
            if not data:
                raise ConnectionError("connection closed before the ACK arrived")
            self._ready += [f for f in self._decoder.feed(data) if not isinstance(f, Oversized)]
        return self._ready.pop(0)
