"""The tuned Engine.IO poll keeps python-engineio's semantics."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from engineio import exceptions
from engineio.async_socket import AsyncSocket

from hub.realtime import engineio_tuning


@pytest.fixture(autouse=True)
def tuned() -> Iterator[None]:
    engineio_tuning.apply()
    yield
    engineio_tuning.revert()


def socket(ping_interval: float = 0.05, ping_timeout: float = 0.05) -> AsyncSocket:
    sock = AsyncSocket.__new__(AsyncSocket)
    sock.queue = asyncio.Queue()
    sock.server = SimpleNamespace(ping_interval=ping_interval, ping_timeout=ping_timeout)
    return sock


async def test_drains_everything_queued_in_one_call() -> None:
    sock = socket()
    for i in range(3):
        sock.queue.put_nowait(i)
    assert await sock.poll() == [0, 1, 2]
    assert sock.queue.empty()


async def test_waits_for_the_next_packet() -> None:
    sock = socket(1, 1)
    asyncio.get_running_loop().call_later(0.02, sock.queue.put_nowait, "p")
    assert await sock.poll() == ["p"]


async def test_times_out_with_queue_empty() -> None:
    sock = socket()
    with pytest.raises(exceptions.QueueEmpty):
        await sock.poll()


async def test_close_sentinel_stops_and_stays_for_the_next_poll() -> None:
    sock = socket()
    sock.queue.put_nowait("a")
    sock.queue.put_nowait(None)
    assert await sock.poll() == ["a"]
    assert await sock.poll() == []


async def test_cancellation_becomes_queue_empty() -> None:
    sock = socket(10, 10)
    task = asyncio.create_task(sock.poll())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(exceptions.QueueEmpty):
        await task


async def test_poll_works_on_slim_queues_too() -> None:
    sock = socket(1, 1)
    sock.queue = engineio_tuning.SlimQueue()
    asyncio.get_running_loop().call_later(0.02, sock.queue.put_nowait, "p")
    assert await sock.poll() == ["p"]
    sock.queue.put_nowait("a")
    sock.queue.put_nowait(None)
    assert await sock.poll() == ["a"]
    assert await sock.poll() == []


async def test_slim_queue_fifo_join_and_errors() -> None:
    q = engineio_tuning.SlimQueue()
    assert q.empty() and q.qsize() == 0
    with pytest.raises(asyncio.QueueEmpty):
        q.get_nowait()
    for i in range(3):
        await q.put(i)
    assert q.qsize() == 3
    assert [q.get_nowait(), await q.get(), q.get_nowait()] == [0, 1, 2]
    joined = asyncio.create_task(q.join())
    await asyncio.sleep(0.01)
    assert not joined.done()
    q.task_done()
    q.task_done()
    await asyncio.sleep(0.01)
    assert not joined.done()
    q.task_done()
    await asyncio.wait_for(joined, 1)
    with pytest.raises(ValueError):
        q.task_done()
    await q.join()  # nothing unfinished: returns at once
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    q.put_nowait("after-cancel")
    assert await asyncio.wait_for(q.get(), 1) == "after-cancel"
