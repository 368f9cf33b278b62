"""A minimal raw Engine.IO-over-WebSocket client, for tests that must misbehave on the wire."""

from __future__ import annotations

import base64
import os
import socket
import struct


def _frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    header = bytes([0x81])
    n = len(payload)
    if n < 126:
        header += bytes([0x80 | n])
    elif n < 65536:
        header += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        header += bytes([0x80 | 127]) + struct.pack("!Q", n)
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

    def send_text(self, text: str) -> None:
        self.sock.sendall(_frame(text))
