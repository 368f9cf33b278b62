"""The SQLite journal's write fast paths: conflict-driven idempotency, the writer thread, linger."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import orjson

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


async def test_an_id_already_journaled_takes_no_seq_even_when_derived(tmp_path: Path) -> None:
    # A caller may pick the very id an input's event would get; it must dedupe, not fail.
    journal = SQLiteJournal(tmp_path / "j.sqlite3")
    await journal.open()
    [first] = await journal.append([make_event("mllp:a:1:adt:0")])
    stored, appended = await journal.accept_input(
        record("K1"), [("adt:0", make_event("")), ("adt:1", make_event(""))]
    )
    assert stored.id == 1 and not stored.duplicate
    assert [a.duplicate for a in appended] == [True, False]
    assert appended[0].event.seq == first.event.seq and appended[0].wire == first.wire
    assert appended[1].event.seq == 2 and appended[1].event.id == "mllp:a:1:adt:1"
    assert journal.last_seq == 2
    await journal.close()


async def test_same_id_twice_in_one_batch_is_stored_once(tmp_path: Path) -> None:
    journal = SQLiteJournal(tmp_path / "j.sqlite3")
    await journal.open()
    results = await asyncio.gather(*(journal.append([make_event("x")]) for _ in range(5)))
    assert [r[0].duplicate for r in results] == [False, True, True, True, True]
    assert {r[0].event.seq for r in results} == {1}
    assert journal.last_seq == 1
    await journal.close()


async def test_stored_body_and_rooms_match_the_event(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = SQLiteJournal(path)
    await journal.open()
    _, [a] = await journal.accept_input(record("K1"), [("adt:0", make_event(""))])
    page = await journal.read_room("patient_P1", 0, 10, 10)
    await journal.close()
    assert page.items == [(1, a.wire)]
    assert orjson.loads(a.wire) == a.event.wire()
    with sqlite3.connect(path) as conn:
        body = orjson.loads(conn.execute("SELECT body FROM events").fetchone()[0])
        rooms = conn.execute("SELECT room, seq FROM event_rooms ORDER BY room").fetchall()
    assert body["_rooms"] == ["hospital_H1", "patient_P1"] and body["_loc"] == ["P1", "H1"]
    assert rooms == [("hospital_H1", 1), ("patient_P1", 1)]


async def test_dedupe_key_conflicts_return_the_earlier_input(tmp_path: Path) -> None:
    journal = SQLiteJournal(tmp_path / "j.sqlite3")
    await journal.open()
    first, _ = await journal.accept_input(record("K1", b"one"), [("adt:0", make_event(""))])
    again, none = await journal.accept_input(record("K1", b"other"), [("adt:0", make_event(""))])
    assert again.duplicate and again.id == first.id and again.reply == b"ACK:one" and none == []
    failed, _ = await journal.accept_input(record("K2", b"bad", "error"), [])
    fixed, [ev] = await journal.accept_input(record("K2", b"good"), [("adt:0", make_event(""))])
    assert not fixed.duplicate and fixed.id != failed.id and ev.event.seq == 2
    same, _ = await journal.accept_input(record("K2", b"good"), [])
    assert same.duplicate and same.id == fixed.id
    unkeyed = [await journal.accept_input(record(None), []) for _ in range(2)]
    assert not any(s.duplicate for s, _ in unkeyed)
    assert journal.last_seq == 2
    await journal.close()


async def test_writes_queued_before_close_are_committed(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = SQLiteJournal(path)
    await journal.open()
    pending = [asyncio.ensure_future(journal.append([make_event(f"e{i}")])) for i in range(50)]
    await asyncio.sleep(0)  # every append has reached the writer's queue
    await journal.close()
    assert all(p.done() and not p.exception() for p in pending)
    reopened = SQLiteJournal(path)
    await reopened.open()
    assert reopened.last_seq == 50
    await reopened.close()


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


async def test_a_failed_batch_fails_its_callers_and_the_writer_goes_on(tmp_path: Path) -> None:
    journal = SQLiteJournal(tmp_path / "j.sqlite3")
    await journal.open()
    bad = make_event("bad").model_copy(update={"type": None})  # NOT NULL: the batch rolls back
    results = await asyncio.gather(
        journal.append([make_event("ok")]), journal.append([bad]), return_exceptions=True
    )
    assert all(isinstance(r, sqlite3.IntegrityError) for r in results)
    assert journal.last_seq == 0
    [after] = await journal.append([make_event("ok")])
    assert after.event.seq == 1 and not after.duplicate
    await journal.close()


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
