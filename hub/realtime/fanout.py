"""Room membership and fan-out: the hub's own emit path.

python-socketio's ``AsyncManager.emit`` creates one asyncio Task per recipient and awaits them
all; at a thousand recipients that bookkeeping costs more than the delivery (see
docs/benchmarks.md). The hub instead encodes each event once into one Engine.IO packet and puts
that same packet straight onto each recipient's Engine.IO queue, synchronously, in ``seq``
order, right after the journal commit. Each queue is bounded: a client that stops reading is
disconnected instead of growing the hub's memory.

Resume is gap-free without a lock: a joining client is first registered as *buffering* for the
room, the journal is replayed up to the last dispatched ``seq`` observed at registration, then
the buffer (everything dispatched meanwhile) is flushed and the client goes live, all without a
yield between flush and going live.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engineio import packet as eio_packet
from engineio.packet import Packet

from hub.auth import Principal
from hub.journal.base import Appended, ReplayPage
from hub.metrics import Metrics

log = logging.getLogger("hub.realtime")


def event_packet(event_type: str, wire_json: str) -> Packet:
    """One Engine.IO MESSAGE carrying a Socket.IO EVENT on '/', encoded once for all recipients."""
    pkt: Packet = Packet(eio_packet.MESSAGE, data=f'2["{event_type}",{wire_json}]')
    pkt.encode()  # fills encode_cache; every writer reuses the cached text
    return pkt


@dataclass(eq=False)
class Client:
    sid: str
    eio_sid: str
    principal: Principal
    address: str
    rooms: set[str] = field(default_factory=set)
    # While a join replays, live events for the joining room wait here. Joins of one client are
    # serialised by join_lock, so there is at most one buffer per client.
    buffer: list[Packet] | None = None
    join_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closing: bool = False
    tokens: float = 0.0
    tokens_at: float = 0.0
    expiry: asyncio.TimerHandle | None = None


class Fanout:
    def __init__(
        self,
        sockets: dict[str, Any],
        metrics: Metrics,
        max_queue: int,
        on_overflow: Callable[[Client], None],
    ) -> None:
        self._sockets = sockets  # engineio server's eio_sid -> socket map
        self._metrics = metrics
        self._max_queue = max_queue
        self._on_overflow = on_overflow
        self.clients: dict[str, Client] = {}
        self._live: dict[str, dict[str, Client]] = {}
        self._buffering: dict[str, dict[str, Client]] = {}
        self.dispatched_seq = 0

    # --- membership ---------------------------------------------------------------------------

    def add_client(self, client: Client) -> None:
        self.clients[client.sid] = client

    def remove_client(self, sid: str) -> Client | None:
        client = self.clients.pop(sid, None)
        if client is None:
            return None
        client.closing = True
        for room in client.rooms:
            members = self._live.get(room)
            if members is not None:
                members.pop(sid, None)
                if not members:
                    del self._live[room]
            buffering = self._buffering.get(room)
            if buffering is not None:
                buffering.pop(sid, None)
                if not buffering:
                    del self._buffering[room]
        client.rooms.clear()
        client.buffer = None
        if client.expiry is not None:
            client.expiry.cancel()
        return client

    def leave(self, client: Client, room: str) -> bool:
        if room not in client.rooms:
            return False
        client.rooms.discard(room)
        for index in (self._live, self._buffering):
            members = index.get(room)
            if members is not None:
                members.pop(client.sid, None)
                if not members:
                    del index[room]
        return True

    async def join(
        self,
        client: Client,
        room: str,
        since: int | None,
        read_page: Callable[[int, int, int], Any],
        batch: int,
        limit: int,
    ) -> tuple[int, int, bool]:
        """Join ``room``, replaying what the client missed after ``since``.

        Returns (position, replayed, truncated): the client has every event of the room up to
        ``position`` and will receive every later one live, each once and in order.
        """
        if since is None or since >= self.dispatched_seq:
            self._go_live(client, room)
            return self.dispatched_seq, 0, False
        client.rooms.add(room)
        client.buffer = []
        self._buffering.setdefault(room, {})[client.sid] = client
        upto = self.dispatched_seq
        position, replayed, truncated = since, 0, False
        try:
            while position < upto and not client.closing:
                page: ReplayPage = await read_page(position, upto, batch)
                truncated = truncated or page.truncated
                if not page.items:
                    break
                for seq, wire in page.items:
                    event_type = wire[wire.index('"type":"') + 8 :]
                    event_type = event_type[: event_type.index('"')]
                    self._send(client, event_packet(event_type, wire), replay=True)
                    position = seq
                replayed += len(page.items)
                if replayed >= limit:
                    raise ReplayTooLarge(limit)
                await self._wait_for_room(client)
        except BaseException:
            self._buffering.get(room, {}).pop(client.sid, None)
            client.rooms.discard(room)
            client.buffer = None
            raise
        if client.closing:
            return upto, replayed, truncated
        # No await from here on: the buffer flush and going live are atomic to the fan-out.
        # Everything buffered was dispatched after registration, so it is newer than ``upto``.
        buffering = self._buffering[room]
        buffering.pop(client.sid, None)
        if not buffering:
            del self._buffering[room]
        buffered, client.buffer = client.buffer or [], None
        for pkt in buffered:
            self._send(client, pkt)
        self._go_live(client, room)
        return self.dispatched_seq, replayed, truncated

    def _go_live(self, client: Client, room: str) -> None:
        client.rooms.add(room)
        self._live.setdefault(room, {})[client.sid] = client

    async def _wait_for_room(self, client: Client) -> None:
        """Replay at the pace the client reads: never more than half its queue in flight."""
        sock = self._sockets.get(client.eio_sid)
        waited = 0.0
        while sock is not None and not client.closing and sock.queue.qsize() > self._max_queue // 2:
            await asyncio.sleep(0.005)
            waited += 0.005
            if waited > 30:
                self._overflow(client)
                return

    # --- delivery -----------------------------------------------------------------------------

    def dispatch(self, appended: Appended) -> None:
        """Deliver one journaled event to every client in any of its rooms, once each."""
        event = appended.event
        pkt = event_packet(event.type, appended.wire)
        seq = event.seq
        targets: dict[str, Client] = {}
        for room in event.rooms:
            members = self._live.get(room)
            if members:
                targets.update(members)
        for room in event.rooms:
            buffering = self._buffering.get(room)
            if buffering:
                for sid, client in buffering.items():
                    # A client live in another of the event's rooms already gets it.
                    buf = client.buffer
                    if sid in targets or buf is None or (buf and buf[-1] is pkt):
                        continue
                    buf.append(pkt)
                    if len(buf) > self._max_queue:
                        self._overflow(client)
        for client in targets.values():
            self._send(client, pkt)
        self.dispatched_seq = seq
        self._metrics.deliveries.labels("live").inc(len(targets))

    def _send(self, client: Client, pkt: Packet, replay: bool = False) -> None:
        if client.closing:
            return
        sock = self._sockets.get(client.eio_sid)
        if sock is None or sock.closed:
            return
        queue = sock.queue
        if queue.qsize() >= self._max_queue:
            self._overflow(client)
            return
        queue.put_nowait(pkt)
        if replay:
            self._metrics.replayed.inc()

    def _overflow(self, client: Client) -> None:
        if client.closing:
            return
        client.closing = True
        self._metrics.slow_disconnects.inc()
        log.warning("client too slow, disconnecting", extra={"sid": client.sid})
        sock = self._sockets.get(client.eio_sid)
        if sock is not None:
            # Free what it would never read; the writer is unblocked by the close below.
            queue = sock.queue
            while not queue.empty():
                queue.get_nowait()
                queue.task_done()
        self._on_overflow(client)


class ReplayTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} events to replay")
        self.limit = limit
