"""The SQLite journal: ordering, idempotency, room index, census, audit, retention, reopen."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hub.events import Event, iso, utc_now
from hub.journal import AuditRecord, SQLiteJournal


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


async def test_concurrent_appends_get_consecutive_seqs_in_commit_order(tmp_path: Path) -> None:
    seen: list[int] = []
    journal = SQLiteJournal(
        tmp_path / "j.sqlite3",
        on_commit=lambda items, n, s: seen.extend(a.event.seq for a in items),
    )
    await journal.open()
    results = await asyncio.gather(*(journal.append([make_event(i)]) for i in range(200)))
    seqs = sorted(r[0].event.seq for r in results)
    assert seqs == list(range(1, 201))
    assert seen == list(range(1, 201)), "commit callback must run in seq order"
    await journal.close()


async def test_duplicate_id_is_not_journaled_twice(tmp_path: Path) -> None:
    journal = SQLiteJournal(tmp_path / "j.sqlite3")
    await journal.open()
    [first] = await journal.append([make_event(1)])
    [again] = await journal.append([make_event(1)])
    assert not first.duplicate and again.duplicate
    assert again.event.seq == first.event.seq and again.wire == first.wire
    assert journal.last_seq == 1
    await journal.close()


async def test_room_index_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = SQLiteJournal(path)
    await journal.open()
    await journal.append(
        [make_event(i, rooms=("hospital_H1", f"patient_P{i % 2}")) for i in range(10)]
    )
    await journal.close()
    journal = SQLiteJournal(path)
    await journal.open()
    assert journal.last_seq == 10
    page = await journal.read_room("patient_P1", 0, 10, 100)
    assert [seq for seq, _ in page.items] == [2, 4, 6, 8, 10]
    page = await journal.read_room("hospital_H1", 7, 9, 100)
    assert [seq for seq, _ in page.items] == [8, 9]
    assert '"_rooms"' not in page.items[0][1] and '"seq":8' in page.items[0][1]
    [next_one] = await journal.append([make_event(99)])
    assert next_one.event.seq == 11
    await journal.close()


async def test_census_learns_patient_location_and_triage_patient(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = SQLiteJournal(path)
    await journal.open()
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
    journal = SQLiteJournal(path)
    await journal.open()
    assert journal.patient_hospitals("P1") == {"H2"}, "census must survive a restart"
    assert journal.triage_patient("T1") == "P1"
    assert journal.patient_triage_cases("P1") == {
        "T1": {"patient_id": "P1", "status": "pending", "hospital_id": None, "priority": None}
    }
    assert journal.patient_hospitals("P9") == frozenset()
    await journal.close()


async def test_triage_cases_of_an_older_journal_are_migrated(tmp_path: Path) -> None:
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


async def test_accept_input_stores_message_events_and_reply_together(tmp_path: Path) -> None:
    from hub.journal import InputRecord

    journal = SQLiteJournal(tmp_path / "j.sqlite3")
    await journal.open()
    record = InputRecord("mllp:a", "APP|FAC|1", b"raw-1", iso(utc_now()), "processed", b"ACK-1")
    stored, appended = await journal.accept_input(
        record, [("adt:0", make_event(1, id="")), ("adt:1", make_event(2, id=""))]
    )
    assert not stored.duplicate and stored.reply == b"ACK-1"
    # unnamed events get the ids reprocessing the stored input would give them
    assert [a.event.id for a in appended] == [
        f"mllp:a:{stored.id}:adt:0",
        f"mllp:a:{stored.id}:adt:1",
    ]
    assert [a.event.seq for a in appended] == [1, 2]
    again, none = await journal.accept_input(record, [("adt:0", make_event(3, id=""))])
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
    assert (await journal.get_input(first.id)).status == "error"  # type: ignore[union-attr]
    await journal.close()


async def test_prune_keeps_seq_monotonic_and_reports_truncation(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = SQLiteJournal(path)
    await journal.open()
    old = "2020-01-01T00:00:00.000Z"
    await journal.append([make_event(i, received_at=old) for i in range(5)])
    await journal.append([make_event(10)])
    removed = await journal.prune("2021-01-01T00:00:00.000Z")
    assert removed == 5
    page = await journal.read_room("hospital_H1", 0, 100, 100)
    assert [s for s, _ in page.items] == [6] and page.truncated is True
    page = await journal.read_room("hospital_H1", 5, 100, 100)
    assert page.truncated is False
    await journal.close()
    journal = SQLiteJournal(path)
    await journal.open()
    [e] = await journal.append([make_event(11)])
    assert e.event.seq == 7, "seq must never be reused after pruning"
    await journal.close()


async def test_audit_trail_filters(tmp_path: Path) -> None:
    journal = SQLiteJournal(tmp_path / "j.sqlite3")
    await journal.open()
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
    assert await journal.check_writable() is None
    await journal.close()


async def test_bed_board_follows_bed_events_and_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"

    def bed(n: int, bed_id: str, status: str, patient: str | None = None) -> Event:
        info = {"bed_id": bed_id, "status": status}
        if patient:
            info["patient_id"] = patient
        return make_event(
            n, type="bed_status_changed", data={"hospital_id": "H1", "bed_info": info}
        )

    journal = SQLiteJournal(path)
    await journal.open()
    await journal.append([bed(1, "B1", "occupied", "P1"), bed(2, "B2", "available")])
    assert journal.patient_bed("P1")["bed_id"] == "B1"  # type: ignore[index]
    await journal.append([bed(3, "B1", "cleaning"), bed(4, "B2", "occupied", "P2")])
    assert journal.patient_bed("P1") is None and journal.patient_bed("P2")["bed_id"] == "B2"  # type: ignore[index]
    await journal.close()
    journal = SQLiteJournal(path)
    await journal.open()
    board = {b["bed_id"]: (b["status"], b.get("patient_id")) for b in journal.bed_board("H1")}
    assert board == {"B1": ("cleaning", None), "B2": ("occupied", "P2")}
    assert journal.patient_bed("P2")["bed_id"] == "B2"  # type: ignore[index]
    assert journal.bed_board("H2") == []
    await journal.close()


async def test_staff_census_keeps_the_latest_availability_and_survives_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite3"
    journal = SQLiteJournal(path)
    await journal.open()

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

    await journal.append([staff(1, "N1", True), staff(2, "N2", True), staff(3, "D9", True, "H2")])
    await journal.append([staff(4, "N1", False)])
    assert [(s["staff_id"], s["available"]) for s in journal.staff("H1")] == [
        ("N1", False),
        ("N2", True),
    ]
    await journal.close()
    journal = SQLiteJournal(path)
    await journal.open()
    assert [s["staff_id"] for s in journal.staff("H1")] == ["N1", "N2"]
    assert journal.staff("H2")[0]["staff_id"] == "D9" and journal.staff("H3") == []
    await journal.close()


async def check_record_retention(journal: Any) -> None:
    """Shared by both backends: old inputs (never pending ones) and old audit rows go, in
    steps, and what is recent stays."""
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


async def test_inputs_and_audit_are_pruned_by_their_own_retention(tmp_path: Path) -> None:
    journal = SQLiteJournal(tmp_path / "j.sqlite3")
    await journal.open()
    await check_record_retention(journal)
    await journal.close()
