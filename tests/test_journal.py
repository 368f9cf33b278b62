"""The journal contract, once per backend: each test taking ``journal_factory`` runs as
``[sqlite]`` and ``[postgresql]`` (tests/journal_backends.py) — ordering, idempotency, room
index, census, inputs, audit, retention, restart. Then what only the SQLite journal has: the
migration of an older file.

PostgreSQL's own behaviour (the seq lock, schema migrations, several nodes, leases, pruning
under load, ``synchronous_commit``) is in tests/test_journal_postgres.py; the SQLite writer
thread's own (calls between batches, linger) in tests/test_journal_fast_paths.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from hub.events import Event, iso, utc_now
from hub.journal import AuditRecord, InputRecord, Journal, SQLiteJournal
from tests.journal_backends import JournalFactory


def make_event(n: int, rooms: tuple[str, ...] = ("hospital_H1",), **kw: object) -> Event:
    fields = {
        "id": f"e{n}",
        "seq": 0,
        "type": "hospital_alert",
        "timestamp": iso(utc_now()),
        "received_at": iso(utc_now()),
        "source": "test",
        "rooms": rooms,
        "data": {"hospital_id": "H1", "alert_type": "system", "alert_data": {"n": n}},
    }
    fields.update(kw)
    return Event.model_validate(fields)


def bed_event(event_id: str) -> Event:
    """A bed event in a hospital's and a patient's room that places the patient: an empty id
    is what an input's event has before ``accept_input`` names it."""
    return Event(
        id=event_id,
        seq=0,
        type="bed_status_changed",
        timestamp=iso(utc_now()),
        received_at=iso(utc_now()),
        source="mllp:a",
        rooms=("hospital_H1", "patient_P1"),
        data={"hospital_id": "H1", "bed_info": {"bed_id": "B1", "status": "occupied"}},
        patient_location=("P1", "H1"),
    )


def record(key: str | None, raw: bytes = b"raw", status: str = "processed") -> InputRecord:
    return InputRecord("mllp:a", key, raw, iso(utc_now()), status, b"ACK:" + raw)


# --- ordering and idempotency ---------------------------------------------------------------


async def test_concurrent_appends_get_consecutive_seqs_in_commit_order(
    journal_factory: JournalFactory,
) -> None:
    seen: list[int] = []
    journal = await journal_factory(
        on_commit=lambda items, n, s: seen.extend(a.event.seq for a in items)
    )
    results = await asyncio.gather(*(journal.append([make_event(i)]) for i in range(200)))
    seqs = sorted(r[0].event.seq for r in results)
    assert seqs == list(range(1, 201))
    assert seen == list(range(1, 201)), "commit callback must run in seq order"
    assert journal.last_seq == 200
    await journal.close()


async def test_group_commit_batches_what_queued_during_a_transaction(
    journal_factory: JournalFactory,
) -> None:
    batches: list[int] = []
    journal = await journal_factory(on_commit=lambda items, n, s: batches.append(n))
    await asyncio.gather(*(journal.append([make_event(i)]) for i in range(100)))
    assert sum(batches) == 100 and len(batches) < 100
    await journal.close()


async def test_duplicate_id_is_not_journaled_twice(journal_factory: JournalFactory) -> None:
    journal = await journal_factory()
    [first] = await journal.append([make_event(1)])
    [again] = await journal.append([make_event(1)])
    assert not first.duplicate and again.duplicate
    assert again.event.seq == first.event.seq and again.wire == first.wire
    assert journal.last_seq == 1
    await journal.close()


async def test_same_id_twice_in_one_batch_is_stored_once(journal_factory: JournalFactory) -> None:
    journal = await journal_factory()
    results = await asyncio.gather(*(journal.append([bed_event("x")]) for _ in range(5)))
    assert [r[0].duplicate for r in results] == [False, True, True, True, True]
    assert {r[0].event.seq for r in results} == {1}
    assert len({r[0].wire for r in results}) == 1
    assert journal.last_seq == 1
    await journal.close()


async def test_an_id_already_journaled_takes_no_seq_even_when_derived(
    journal_factory: JournalFactory,
) -> None:
    # A caller may pick the very id an input's event would get; it must dedupe, not fail.
    journal = await journal_factory()
    [first] = await journal.append([bed_event("mllp:a:1:adt:0")])
    stored, appended = await journal.accept_input(
        record("K1"), [("adt:0", bed_event("")), ("adt:1", bed_event(""))]
    )
    assert stored.id == 1 and not stored.duplicate
    assert [a.duplicate for a in appended] == [True, False]
    assert appended[0].event.seq == first.event.seq and appended[0].wire == first.wire
    assert appended[1].event.seq == 2 and appended[1].event.id == "mllp:a:1:adt:1"
    assert journal.last_seq == 2
    await journal.close()


async def test_writes_queued_before_close_are_committed(journal_factory: JournalFactory) -> None:
    journal = await journal_factory()
    pending = [asyncio.ensure_future(journal.append([bed_event(f"e{i}")])) for i in range(50)]
    await asyncio.sleep(0)  # every append has reached the writer's queue
    await journal.close()
    assert all(p.done() and not p.exception() for p in pending)
    reopened = await journal_factory()
    assert reopened.last_seq == 50
    await reopened.close()


async def test_a_failed_batch_fails_its_callers_and_the_writer_goes_on(
    journal_factory: JournalFactory,
) -> None:
    journal = await journal_factory()
    bad = bed_event("bad").model_copy(update={"type": None})  # NOT NULL: the batch rolls back
    results = await asyncio.gather(
        journal.append([bed_event("ok")]), journal.append([bad]), return_exceptions=True
    )
    assert all(isinstance(r, journal_factory.integrity_error) for r in results)
    assert journal.last_seq == 0
    [after] = await journal.append([bed_event("ok")])
    assert after.event.seq == 1 and not after.duplicate
    assert journal.patient_hospitals("P1") == {"H1"}
    await journal.close()


# --- the room index -------------------------------------------------------------------------


async def test_room_index_and_reopen(journal_factory: JournalFactory) -> None:
    journal = await journal_factory()
    await journal.append(
        [make_event(i, rooms=("hospital_H1", f"patient_P{i % 2}")) for i in range(10)]
    )
    await journal.close()
    journal = await journal_factory()
    assert journal.last_seq == 10
    page = await journal.read_room("patient_P1", 0, 10, 100)
    assert [seq for seq, _ in page.items] == [2, 4, 6, 8, 10]
    page = await journal.read_room("hospital_H1", 7, 9, 100)
    assert [seq for seq, _ in page.items] == [8, 9]
    assert '"_rooms"' not in page.items[0][1] and '"seq":8' in page.items[0][1]
    page = await journal.read_room("hospital_H1", 0, 10, 3)
    assert [seq for seq, _ in page.items] == [1, 2, 3] and not page.truncated
    assert await journal.read_ids(["e3", "nope", "e9"]) == {"e3": 4, "e9": 10}
    [next_one] = await journal.append([make_event(99)])
    assert next_one.event.seq == 11
    await journal.close()


async def test_stored_body_and_rooms_match_the_event(journal_factory: JournalFactory) -> None:
    journal = await journal_factory()
    _, [a] = await journal.accept_input(record("K1"), [("adt:0", bed_event(""))])
    page = await journal.read_room("patient_P1", 0, 10, 10)
    await journal.close()
    assert page.items == [(1, a.wire)]
    assert orjson.loads(a.wire) == a.event.wire()
    [(body,)] = await journal_factory.rows("SELECT body FROM events")
    rooms = await journal_factory.rows("SELECT room, seq FROM event_rooms ORDER BY room")
    assert orjson.loads(body)["_rooms"] == ["hospital_H1", "patient_P1"]
    assert orjson.loads(body)["_loc"] == ["P1", "H1"]
    assert rooms == [("hospital_H1", 1), ("patient_P1", 1)]


# --- the census -----------------------------------------------------------------------------


async def test_census_learns_patient_location_and_triage_patient(
    journal_factory: JournalFactory,
) -> None:
    journal = await journal_factory()
    await journal.append([make_event(1, patient_location=("P1", "H1"))])
    await journal.append([make_event(2, patient_location=("P1", "H2"))])
    await journal.append(
        [
            make_event(
                3,
                type="triage_updated",
                data={"triage_id": "T1", "patient_id": "P1", "status": "pending"},
            )
        ]
    )
    assert journal.patient_hospitals("P1") == {"H2"}
    await journal.close()
    journal = await journal_factory()
    assert journal.patient_hospitals("P1") == {"H2"}, "census must survive a restart"
    assert journal.triage_patient("T1") == "P1"
    assert journal.patient_triage_cases("P1") == {
        "T1": {"patient_id": "P1", "status": "pending", "hospital_id": None, "priority": None}
    }
    assert journal.patient_hospitals("P9") == frozenset()
    # a later update of the case replaces it, and that survives a restart too
    await journal.append(
        [
            make_event(
                4,
                type="triage_updated",
                data={
                    "triage_id": "T1",
                    "patient_id": "P1",
                    "status": "accepted",
                    "hospital_id": "H2",
                    "priority": "high",
                },
            )
        ]
    )
    await journal.close()
    journal = await journal_factory()
    assert journal.patient_hospitals("P1") == {"H2"}
    assert journal.triage_patient("T1") == "P1"
    assert journal.patient_triage_cases("P1") == {
        "T1": {"patient_id": "P1", "status": "accepted", "hospital_id": "H2", "priority": "high"}
    }
    assert journal.triage_patient("T9") is None
    await journal.close()


async def test_bed_board_follows_bed_events_and_survives_restart(
    journal_factory: JournalFactory,
) -> None:
    def bed(n: int, bed_id: str, status: str, patient: str | None = None) -> Event:
        info = {"bed_id": bed_id, "status": status}
        if patient:
            info["patient_id"] = patient
        return make_event(
            n, type="bed_status_changed", data={"hospital_id": "H1", "bed_info": info}
        )

    journal = await journal_factory()
    await journal.append([bed(1, "B1", "occupied", "P1"), bed(2, "B2", "available")])
    assert journal.patient_bed("P1")["bed_id"] == "B1"  # type: ignore[index]
    await journal.append([bed(3, "B1", "cleaning"), bed(4, "B2", "occupied", "P2")])
    assert journal.patient_bed("P1") is None and journal.patient_bed("P2")["bed_id"] == "B2"  # type: ignore[index]
    # the same bed twice in one transaction: the later event wins in the table too
    await journal.append([bed(5, "B3", "occupied", "P3"), bed(6, "B3", "available")])
    assert journal.bed("H1", "B3")["seq"] == 6  # type: ignore[index]
    await journal.close()
    journal = await journal_factory()
    board = {b["bed_id"]: (b["status"], b.get("patient_id")) for b in journal.bed_board("H1")}
    assert board == {
        "B1": ("cleaning", None),
        "B2": ("occupied", "P2"),
        "B3": ("available", None),
    }
    assert journal.patient_bed("P2")["bed_id"] == "B2"  # type: ignore[index]
    assert journal.patient_bed("P3") is None
    assert journal.bed_board("H2") == [] and journal.bed("H1", "B9") is None
    await journal.close()


async def test_staff_census_keeps_the_latest_availability_and_survives_restart(
    journal_factory: JournalFactory,
) -> None:
    def staff(n: int, sid: str, available: bool, hospital: str = "H1") -> Event:
        return make_event(
            n,
            type="staff_availability_changed",
            rooms=(f"hospital_{hospital}",),
            data={
                "hospital_id": hospital,
                "staff_id": sid,
                "staff_type": "nurse",
                "available": available,
            },
        )

    journal = await journal_factory()
    await journal.append([staff(1, "N1", True), staff(2, "N2", True), staff(3, "D9", True, "H2")])
    await journal.append([staff(4, "N1", False)])
    assert [(s["staff_id"], s["available"]) for s in journal.staff("H1")] == [
        ("N1", False),
        ("N2", True),
    ]
    await journal.close()
    journal = await journal_factory()
    assert [(s["staff_id"], s["available"]) for s in journal.staff("H1")] == [
        ("N1", False),
        ("N2", True),
    ]
    assert journal.staff("H2")[0]["staff_id"] == "D9" and journal.staff("H3") == []
    await journal.close()


# --- inbound messages -----------------------------------------------------------------------


async def test_accept_input_stores_message_events_and_reply_together(
    journal_factory: JournalFactory,
) -> None:
    journal = await journal_factory()
    rec = InputRecord("mllp:a", "APP|FAC|1", b"raw-1", iso(utc_now()), "processed", b"ACK-1")
    stored, appended = await journal.accept_input(
        rec, [("adt:0", make_event(1, id="")), ("adt:1", make_event(2, id=""))]
    )
    assert not stored.duplicate and stored.reply == b"ACK-1"
    # unnamed events get the ids reprocessing the stored input would give them
    assert [a.event.id for a in appended] == [
        f"mllp:a:{stored.id}:adt:0",
        f"mllp:a:{stored.id}:adt:1",
    ]
    assert [a.event.seq for a in appended] == [1, 2]
    again, none = await journal.accept_input(rec, [("adt:0", make_event(3, id=""))])
    assert again.duplicate and again.id == stored.id and again.reply == b"ACK-1" and none == []
    assert journal.last_seq == 2
    # a failed message's key is taken over by corrected content, not by the same bytes
    failed = InputRecord("mllp:a", "APP|FAC|2", b"bad", iso(utc_now()), "error", b"AE", "why")
    first, _ = await journal.accept_input(failed, [])
    same, _ = await journal.accept_input(failed, [])
    assert same.duplicate and same.id == first.id
    fixed = InputRecord("mllp:a", "APP|FAC|2", b"good", iso(utc_now()), "processed", b"AA")
    second, _ = await journal.accept_input(fixed, [])
    assert not second.duplicate and second.id != first.id
    earlier = await journal.get_input(first.id)
    assert earlier is not None and earlier.status == "error" and earlier.dedupe_key is None
    assert await journal.get_input(10_000) is None
    await journal.close()


async def test_accept_input_is_one_transaction(journal_factory: JournalFactory) -> None:
    # An event that cannot be stored takes its input row down with it: no message is ever
    # recorded as processed without its events.
    journal = await journal_factory()
    bad = make_event(1, id="").model_copy(update={"type": None})
    with pytest.raises(journal_factory.integrity_error):
        await journal.accept_input(record("K1"), [("adt:0", make_event(2, id="")), ("adt:1", bad)])
    assert await journal_factory.rows("SELECT id FROM inputs") == []
    assert await journal_factory.rows("SELECT seq FROM events") == []
    assert journal.last_seq == 0 and journal.patient_hospitals("P1") == frozenset()
    stored, [ok] = await journal.accept_input(record("K1"), [("adt:0", make_event(2, id=""))])
    assert not stored.duplicate and ok.event.seq == 1
    await journal.close()


async def test_dedupe_key_conflicts_return_the_earlier_input(
    journal_factory: JournalFactory,
) -> None:
    journal = await journal_factory()
    first, _ = await journal.accept_input(record("K1", b"one"), [("adt:0", bed_event(""))])
    again, none = await journal.accept_input(record("K1", b"other"), [("adt:0", bed_event(""))])
    assert again.duplicate and again.id == first.id and again.reply == b"ACK:one" and none == []
    failed, _ = await journal.accept_input(record("K2", b"bad", "error"), [])
    fixed, [ev] = await journal.accept_input(record("K2", b"good"), [("adt:0", bed_event(""))])
    assert not fixed.duplicate and fixed.id != failed.id and ev.event.seq == 2
    same, _ = await journal.accept_input(record("K2", b"good"), [])
    assert same.duplicate and same.id == fixed.id
    unkeyed = [await journal.accept_input(record(None), []) for _ in range(2)]
    assert not any(s.duplicate for s, _ in unkeyed)
    assert journal.last_seq == 2
    await journal.close()


async def test_concurrent_resends_in_one_batch_store_one_input(
    journal_factory: JournalFactory,
) -> None:
    journal = await journal_factory()
    results = await asyncio.gather(
        *(journal.accept_input(record("K1"), [("adt:0", bed_event(""))]) for _ in range(4))
    )
    assert [s.duplicate for s, _ in results] == [False, True, True, True]
    assert [len(a) for _, a in results] == [1, 0, 0, 0]
    assert journal.last_seq == 1
    await journal.close()


async def test_store_finish_and_list_inputs(journal_factory: JournalFactory) -> None:
    journal = await journal_factory()
    at = iso(utc_now())
    one = await journal.store_input("mllp:a", "K1", b"m1", at)
    two = await journal.store_input("mllp:b", None, b"m2", at)
    dup = await journal.store_input("mllp:a", "K1", b"m1-again", at)
    assert dup.duplicate and dup.id == one.id and dup.raw == b"m1"
    assert [i.id for i in await journal.pending_inputs("mllp:a")] == [one.id]
    await journal.finish_input(one.id, "processed", b"ACK", None)
    assert await journal.pending_inputs("mllp:a") == []
    done = await journal.get_input(one.id)
    assert done is not None and done.status == "processed" and done.reply == b"ACK"
    assert [i.id for i in await journal.list_inputs(None, None, 0, 10)] == [one.id, two.id]
    assert [i.id for i in await journal.list_inputs("pending", None, 0, 10)] == [two.id]
    assert [i.id for i in await journal.list_inputs(None, "mllp:b", 0, 10)] == [two.id]
    assert [i.id for i in await journal.list_inputs(None, None, one.id, 10)] == [two.id]
    await journal.close()


# --- audit and retention --------------------------------------------------------------------


async def test_audit_trail_filters(journal_factory: JournalFactory) -> None:
    journal = await journal_factory()
    for i, room in enumerate(("patient_P1", "patient_P2", "patient_P1")):
        await journal.audit(
            AuditRecord(
                iso(utc_now()), f"u{i}", "nurse", "join", room, "allowed", "", "127.0.0.1:1"
            )
        )
    rows = await journal.read_audit(0, 10, "patient_P1", None)
    assert [r.subject for _, r in rows] == ["u0", "u2"]
    rows = await journal.read_audit(rows[0][0], 10, None, None)
    assert [r.subject for _, r in rows] == ["u1", "u2"]
    rows = await journal.read_audit(0, 10, None, "u1")
    assert [(r.subject, r.room) for _, r in rows] == [("u1", "patient_P2")]
    assert await journal.check_writable() is None
    await journal.close()
    assert await journal.check_writable() == "journal not open"


async def test_prune_keeps_seq_monotonic_and_reports_truncation(
    journal_factory: JournalFactory,
) -> None:
    # PostgreSQL deletes a window of seqs per transaction: several small ones here. SQLite's
    # prune is one transaction of its writer thread and has no such setting.
    journal = await journal_factory(postgresql={"prune_batch": 2})
    old = "2020-01-01T00:00:00.000Z"
    await journal.append([make_event(i, received_at=old) for i in range(5)])
    await journal.append([make_event(10)])
    removed = await journal.prune("2021-01-01T00:00:00.000Z")
    assert removed == 5
    assert await journal.prune("2021-01-01T00:00:00.000Z") == 0
    page = await journal.read_room("hospital_H1", 0, 100, 100)
    assert [s for s, _ in page.items] == [6] and page.truncated is True
    page = await journal.read_room("hospital_H1", 5, 100, 100)
    assert page.truncated is False
    assert await journal_factory.rows("SELECT seq FROM event_rooms WHERE seq <= 5") == []
    await journal.close()
    journal = await journal_factory()
    [e] = await journal.append([make_event(11)])
    assert e.event.seq == 7, "seq must never be reused after pruning"
    assert (await journal.read_room("hospital_H1", 0, 100, 100)).truncated is True
    await journal.close()


async def check_record_retention(journal: Journal) -> None:
    """Old inputs (never pending ones) and old audit rows go, in steps, and what is recent
    stays."""
    old, new = "2020-01-01T00:00:00.000Z", iso(utc_now())
    kept_pending = await journal.store_input("mllp:a", "k-pending", b"p", old, "pending")
    await journal.store_input("mllp:a", "k-old", b"o", old, "processed")
    await journal.store_input("mllp:a", None, b"r", old, "rejected", "bad")
    recent = await journal.store_input("mllp:a", "k-new", b"n", new, "processed")
    for i in range(1_100):  # more than one pruning step
        await journal.audit(
            AuditRecord(old, f"u{i}", "nurse", "join", "patient_P1", "allowed", "", "127.0.0.1:1")
        )
    await journal.audit(
        AuditRecord(new, "u-new", "nurse", "join", "patient_P1", "allowed", "", "127.0.0.1:1")
    )
    cutoff = "2024-01-01T00:00:00.000Z"
    assert await journal.prune_records(cutoff, cutoff) == (2, 1_100)
    left = await journal.list_inputs(None, None, 0, 100)
    assert sorted(i.id for i in left) == sorted([kept_pending.id, recent.id])
    assert [r.subject for _, r in await journal.read_audit(0, 10, None, None)] == ["u-new"]
    assert await journal.prune_records(cutoff, cutoff) == (0, 0)


async def test_inputs_and_audit_are_pruned_by_their_own_retention(
    journal_factory: JournalFactory,
) -> None:
    journal = await journal_factory()
    await check_record_retention(journal)
    await journal.close()


# --- the SQLite journal's own ---------------------------------------------------------------


async def test_triage_cases_of_an_older_journal_are_migrated(tmp_path: Path) -> None:
    # SQLite only: a file written by an older hub is upgraded in place at open. PostgreSQL's
    # schema has versioned migrations of its own (tests/test_journal_postgres.py).
    import sqlite3

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE triage_cases (triage_id TEXT PRIMARY KEY, patient_id TEXT NOT NULL,"
        " seq INTEGER NOT NULL)"
    )
    conn.execute("INSERT INTO triage_cases VALUES ('T1', 'P1', 1)")
    conn.commit()
    conn.close()
    journal = SQLiteJournal(path)
    await journal.open()
    assert journal.triage_patient("T1") == "P1"
    assert journal.patient_triage_cases("P1") == {"T1": {"patient_id": "P1"}}
    await journal.close()
