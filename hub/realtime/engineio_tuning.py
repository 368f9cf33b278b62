"""Targeted changes to python-engineio's per-connection costs, applied at startup.

Each keeps Engine.IO's behaviour and is covered by tests/test_engineio_tuning.py; the figures
they bought are in docs/benchmarks.md.

1. The writer's wait (below).
3. ``SlimQueue`` for each connection's outgoing queue (see its docstring).
2. The ASGI driver's ``translate_request`` defines a class inside the function for the request
   body reader, so every connection keeps its own class object (~2.5 KB) alive through the
   environ for as long as it stays connected. A WebSocket never reads that body, so the hub
   drops the reader from WebSocket environs (``lean_environs``); polling requests keep it.
4. Under hypercorn, a WebSocket's frames written in one pass of the event loop leave in one
   system call (``CoalescingWriter``, installed by ``lean_environs``).

The writer's wait:

``AsyncSocket.poll`` waits for the next outgoing packet with ``asyncio.wait_for(queue.get())``,
which on Python 3.11 wraps the wait in a new Task (and a timer) every time the writer wakes:
one Task per delivered message. ``SlimQueue.get_within`` gives the same ping-timeout semantics
with one lazily re-armed timer per connection (other queues use ``asyncio.timeout()``).
Behaviour is unchanged: QueueEmpty after ping_interval + ping_timeout of silence or on
cancellation, ``[]`` on the close sentinel, and every packet already queued is drained in one
call. Covered by tests/test_engineio_tuning.py and tests/hl7/test_fast_paths.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from engineio import exceptions
from engineio.async_socket import AsyncSocket

_original_poll = AsyncSocket.poll


async def _poll(self: Any) -> list[Any]:
    queue: asyncio.Queue[Any] | SlimQueue = self.queue
    try:
        if queue.empty():
            timeout = self.server.ping_interval + self.server.ping_timeout
            if isinstance(queue, SlimQueue):
                first = await queue.get_within(timeout)
            else:
                async with asyncio.timeout(timeout):
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
    """Give one Engine.IO server a translate_request that does not pin a class per connection
    (and, under hypercorn, WebSocket connections whose frames leave in batches)."""
    translate = eio_server._async["translate_request"]

    async def translate_request(scope: dict[str, Any], receive: Any, send: Any) -> Any:
        environ = await translate(scope, receive, send)
        if scope.get("type") == "websocket" and environ:
            environ["wsgi.input"] = None
            coalesce_writes(send)
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

    __slots__ = ("_deadline", "_items", "_join", "_loop", "_timer", "_unfinished", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None
        self._unfinished = 0
        self._join: asyncio.Future[None] | None = None
        # On Python 3.11 every get_running_loop() is a getpid() system call; the writer
        # waits once per delivered batch, so the loop is looked up once and kept.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop

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
            self._waiter = self._running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)

    async def get_within(self, seconds: float) -> Any:
        """get(), but TimeoutError when nothing arrives for ``seconds``.

        The same as get() under asyncio.timeout(), without a timer made and cancelled per
        wait: one timer per queue is re-armed to the latest deadline when it fires, so a
        busy connection costs one timer per timeout period instead of one per batch.
        """
        items = self._items
        if items:
            return items.pop(0)
        loop = self._running_loop()
        self._deadline = loop.time() + seconds
        if self._timer is None:
            self._timer = loop.call_at(self._deadline, self._expire)
        while not items:
            self._waiter = loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return items.pop(0)

    def _expire(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # nobody waits: the next wait arms a timer of its own
        loop = self._running_loop()
        # Timers may fire up to a clock tick early; a millisecond is far below ping timeouts.
        if loop.time() + 0.001 < self._deadline:
            self._timer = loop.call_at(self._deadline, self._expire)
            return
        waiter.set_exception(TimeoutError())

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


class CoalescingWriter:
    """hypercorn's StreamWriter for one WebSocket connection: the first frame of a pass of the
    event loop goes out at once, later frames of the same pass leave together at its end.

    The fan-out queues an event for every subscriber at once, and each subscriber's writer
    sends every queued packet as a WebSocket frame of its own: a send() per frame, the largest
    single cost of delivery. Joining the frames a connection writes in one pass makes a burst
    of k events cost it two system calls instead of k. The first frame is not held back: when
    every write waited for the end of the pass, a lone event reached the first of 1,000
    subscribers only after all 1,000 writers had run (paced p50 4 -> 5.5 ms). drain() still
    waits while the transport is paused, so a client that stops reading holds its writer back
    as before; at most one pass's frames wait here.
    """

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._pending: list[bytes] | None = None  # None: nothing written yet in this pass
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        pending = self._pending
        if pending is None:
            self._pending = []
            self._loop.call_soon(self.flush)
            self._send(data)
        else:
            pending.append(data)

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending:
            self._send(pending[0] if len(pending) == 1 else b"".join(pending))

    def _send(self, data: bytes) -> None:
        # A closed transport is seen by hypercorn's reader, which closes the stream.
        with contextlib.suppress(ConnectionError, RuntimeError):
            self._writer.write(data)

    async def drain(self) -> None:
        await self._writer.drain()

    def write_eof(self) -> None:
        self.flush()
        self._writer.write_eof()

    def close(self) -> None:
        self.flush()
        self._writer.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)


def coalesce_writes(send: Any) -> None:
    """Give the hypercorn connection behind an ASGI WebSocket ``send`` a CoalescingWriter.

    ``send`` is hypercorn's WSStream.app_send; its stream's send is the HTTP/1 protocol's,
    whose send is the TCPServer's, which owns the StreamWriter. Under another server, or a
    hypercorn laid out differently, nothing changes.
    """
    try:
        server = send.__self__.send.__self__.send.__self__
        writer = server.writer
    except AttributeError:
        return
    if isinstance(writer, asyncio.StreamWriter) and hasattr(server, "protocol_send"):
        server.writer = CoalescingWriter(writer)
