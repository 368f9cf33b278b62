"""Targeted changes to python-engineio's per-connection costs, applied at startup.

Each keeps Engine.IO's behaviour and is covered by tests/test_engineio_tuning.py; the figures
they bought are in docs/benchmarks.md.

1. The writer's wait (below).
3. ``SlimQueue`` for each connection's outgoing queue (see its docstring).
2. The ASGI driver's ``translate_request`` defines a class inside the function for the request
   body reader, so every connection keeps its own class object (~2.5 KB) alive through the
   environ for as long as it stays connected. A WebSocket never reads that body, so the hub
   drops the reader from WebSocket environs (``lean_environs``); polling requests keep it.

The writer's wait:

``AsyncSocket.poll`` waits for the next outgoing packet with ``asyncio.wait_for(queue.get())``,
which on Python 3.11 wraps the wait in a new Task (and a timer) every time the writer wakes:
one Task per delivered message. ``asyncio.timeout()`` gives the same ping-timeout semantics with
a timer only. Behaviour is unchanged: QueueEmpty after ping_interval + ping_timeout of silence or
on cancellation, ``[]`` on the close sentinel, and every packet already queued is drained in one
call. Covered by tests/test_engineio_tuning.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

from engineio import exceptions
from engineio.async_socket import AsyncSocket

_original_poll = AsyncSocket.poll


async def _poll(self: Any) -> list[Any]:
    queue: asyncio.Queue[Any] = self.queue
    try:
        if queue.empty():
            async with asyncio.timeout(self.server.ping_interval + self.server.ping_timeout):
                first = await queue.get()
        else:
            first = queue.get_nowait()
        queue.task_done()
    except (TimeoutError, asyncio.CancelledError):
        raise exceptions.QueueEmpty() from None
    if first is None:
        return []
    packets = [first]
    while not queue.empty():
        pkt = queue.get_nowait()
        queue.task_done()
        if pkt is None:
            queue.put_nowait(None)
            break
        packets.append(pkt)
    return packets


def lean_environs(eio_server: Any) -> None:
    """Give one Engine.IO server a translate_request that does not pin a class per connection."""
    translate = eio_server._async["translate_request"]

    async def translate_request(scope: dict[str, Any], receive: Any, send: Any) -> Any:
        environ = await translate(scope, receive, send)
        if scope.get("type") == "websocket" and environ:
            environ["wsgi.input"] = None
        return environ

    eio_server._async = {**eio_server._async, "translate_request": translate_request}


def apply() -> None:
    AsyncSocket.poll = _poll


def revert() -> None:
    AsyncSocket.poll = _original_poll


class SlimQueue:
    """The subset of asyncio.Queue that Engine.IO uses, for one writer per connection.

    asyncio.Queue allocates three deques and an Event (four ~500-byte blocks) per instance;
    every connection has one, idle or not. Engine.IO has exactly one consumer per queue (the
    connection's writer), so a list and at most one waiting future suffice.
    """

    __slots__ = ("_items", "_join", "_unfinished", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None
        self._unfinished = 0
        self._join: asyncio.Future[None] | None = None

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        self._unfinished += 1
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def put(self, item: Any) -> None:
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.pop(0)

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)

    def task_done(self) -> None:
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if self._unfinished == 0 and self._join is not None and not self._join.done():
            self._join.set_result(None)

    async def join(self) -> None:
        if self._unfinished:
            if self._join is None or self._join.done():
                self._join = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._join)


def slim_queues(eio_server: Any) -> None:
    """Make one Engine.IO server create SlimQueues for its connections."""
    eio_server.create_queue = lambda *args, **kwargs: SlimQueue()
