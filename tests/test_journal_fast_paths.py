"""The SQLite journal's write fast paths: conflict-driven idempotency, the writer thread, linger."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hub.events import Event, iso, utc_now
from hub.journal import InputRecord, SQLiteJournal


def make_event(event_id: str, rooms: tuple[str, ...] = ("hospital_H1", "patient_P1")) -> Event:
    return Event(
        id=event_id,
        seq=0,
        type="bed_status_changed",
        timestamp=iso(utc_now()),
        received_at=iso(utc_now()),
        source="mllp:a",
        rooms=rooms,
        data={"hospital_id": "H1", "bed_info": {"bed_id": "B1", "status": "occupied"}},
        patient_location=("P1", "H1"),
    )


def record(key: str | None, raw: bytes = b"raw", status: str = "processed") -> InputRecord:
    return InputRecord("mllp:a", key, raw, iso(utc_now()), status, b"ACK:" + raw)


async def test_calls_run_between_batches(tmp_path: Path) -> None:
    journal = SQLiteJournal(tmp_path / "j.sqlite3")
    await journal.open()
    writes = [journal.append([make_event(f"e{i}")]) for i in range(20)]
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
    await asyncio.gather(*(journal.append([make_event(f"b{i}")]) for i in range(8)))
    loop = asyncio.get_running_loop()
    started = loop.time()
    for i in range(20):
        await journal.append([make_event(f"s{i}")])
    # At most the first of these waits for the burst's size; the rest commit at once.
    assert loop.time() - started < 20 * 0.3e-3 + 0.5
    assert journal.last_seq == 28
    await journal.close()
