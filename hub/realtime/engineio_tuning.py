"""One targeted change to python-engineio's per-connection writer, applied at startup.

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


def apply() -> None:
    AsyncSocket.poll = _poll


def revert() -> None:
    AsyncSocket.poll = _original_poll
