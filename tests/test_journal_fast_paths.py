"""The SQLite journal's writer thread: calls between batches, and linger after a burst."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hub.journal import SQLiteJournal
from tests.test_journal import bed_event


async def test_calls_run_between_batches(tmp_path: Path) -> None:
    journal = SQLiteJournal(tmp_path / "j.sqlite3")
    await journal.open()
    writes = [journal.append([bed_event(f"e{i}")]) for i in range(20)]
    checks = [journal.check_writable() for _ in range(3)]
    pruned = journal.prune("0000")
    results = await asyncio.gather(*writes, *checks, pruned)
    assert results[20:] == [None, None, None, 0]
    assert journal.last_seq == 20
    await journal.close()
    assert await journal.check_writable() == "journal not open"


async def test_a_lone_writer_after_a_burst_is_not_held_back(tmp_path: Path) -> None:
    journal = SQLiteJournal(tmp_path / "j.sqlite3")
    await journal.open()
    await asyncio.gather(*(journal.append([bed_event(f"b{i}")]) for i in range(8)))
    loop = asyncio.get_running_loop()
    started = loop.time()
    for i in range(20):
        await journal.append([bed_event(f"s{i}")])
    # At most the first of these waits for the burst's size; the rest commit at once.
    assert loop.time() - started < 20 * 0.3e-3 + 0.5
    assert journal.last_seq == 28
    await journal.close()
