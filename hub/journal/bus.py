"""Redis pub/sub as the bus on which nodes sharing a PostgreSQL journal tell each other of commits.

Why not python-socketio's ``AsyncRedisManager``: it publishes each emit once and a node that is
not subscribed at that moment (Redis restarting, a reconnect) never sees it, so a client on
that node misses the event for good. Here the bus carries journaled events, each with its global
``seq``, and a node applies them only in seq order: a message that does not start right after
what the node has applied (something was lost) makes the node read the missing range back from
the journal instead. A reconnect to Redis does the same, and the journal is also read at a fixed
interval in case the very last message was lost. Redis thus makes delivery fast and spares the
database N reads per commit, while losing it only makes delivery late, never incomplete or out
of order.

Wire form of one message: ``"<first seq> <last seq>\\n"`` then one stored event body (compact
JSON, which never contains a raw newline) per line, for seqs first..last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

log = logging.getLogger("hub.cluster")

CHANNEL = "hub:journal"

# (first seq, last seq, stored bodies of first..last)
Received = Callable[[int, int, list[str]], None]


def encode(first: int, last: int, bodies: list[str]) -> bytes:
    return "\n".join([f"{first} {last}", *bodies]).encode()


def decode(data: bytes) -> tuple[int, int, list[str]]:
    head, *bodies = data.decode().split("\n")
    first_s, last_s = head.split(" ")
    first, last = int(first_s), int(last_s)
    if last - first + 1 != len(bodies):
        raise ValueError(f"message for seq {first}..{last} carries {len(bodies)} events")
    return first, last, bodies


class RedisBus:
    """Publishes this node's commits and hands other nodes' to ``on_received``.

    ``on_connected`` is called each time the subscription is (re)established: whatever was
    published while this node was not listening must then be read from the journal.
    """

    def __init__(
        self,
        url: str,
        prefix: str = CHANNEL,
        publish_queue: int = 10_000,
        retry_max_s: float = 2.0,
    ) -> None:
        self._url = url
        self._channel = prefix
        self._prefix = prefix
        self._retry_max_s = retry_max_s
        # Bounded: while Redis is away, old messages are dropped rather than piling up;
        # the other nodes read those commits from the journal anyway.
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue(publish_queue)
        self._tasks: list[asyncio.Task[None]] = []
        self.connected = False
        self.published = 0
        self.dropped = 0
        self.received = 0

    async def start(
        self, scope: str, on_received: Received, on_connected: Callable[[], None]
    ) -> None:
        """Listen on this journal's channel: ``scope`` names the journal, so two hubs that share
        a Redis never take each other's events."""
        self._channel = f"{self._prefix}:{scope}"
        # Imported here so the single-process default never needs the redis package.
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(
            self._url, socket_connect_timeout=2.0, health_check_interval=5
        )
        self._tasks = [
            asyncio.create_task(self._subscribe(on_received, on_connected), name="bus-subscribe"),
            asyncio.create_task(self._publish(), name="bus-publish"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        with contextlib.suppress(Exception):
            await self._redis.aclose()

    def publish(self, first: int, last: int, bodies: list[str]) -> None:
        """Queue this node's committed events ``first..last``; never blocks the writer."""
        if last < first:
            return
        data = encode(first, last, bodies)
        try:
            self._outbox.put_nowait(data)
        except asyncio.QueueFull:
            self._outbox.get_nowait()
            self._outbox.put_nowait(data)
            self.dropped += 1

    async def _publish(self) -> None:
        delay = 0.05
        while True:
            data = await self._outbox.get()
            try:
                await self._redis.publish(self._channel, data)
                self.published += 1
                delay = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Dropped, not retried: by the time Redis is back the other nodes will have
                # read these events from the journal.
                self.dropped += 1
                log.warning("bus publish failed", extra={"error": type(exc).__name__})
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max_s)

    async def _subscribe(self, on_received: Received, on_connected: Callable[[], None]) -> None:
        delay = 0.05
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                if not self.connected:
                    log.info("bus connected", extra={"channel": self._channel})
                self.connected = True
                delay = 0.05
                on_connected()
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        first, last, bodies = decode(message["data"])
                    except (ValueError, UnicodeDecodeError):
                        log.warning("bus message malformed; ignored")
                        continue
                    self.received += 1
                    on_received(first, last, bodies)
                # listen() ends only when the connection is gone
                raise ConnectionError("subscription ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.connected:
                    log.warning(
                        "bus disconnected; reading other nodes' commits from the journal",
                        extra={"error": type(exc).__name__},
                    )
                self.connected = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max_s)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
