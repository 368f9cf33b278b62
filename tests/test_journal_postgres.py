"""The PostgreSQL journal against a real server: the SQLite journal's behaviour, migrations, and
two nodes sharing one global seq.

The server is ``HUB_TEST_POSTGRES_DSN`` (default: trust auth on 127.0.0.1:5432, as CI starts it).
One database is created for the module and dropped at the end; each test gets its own schema in
it (through ``search_path`` in the DSN), so tests start from an empty journal without paying for
a CREATE DATABASE each.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson
import pytest

from hub.events import Event, iso, utc_now
from hub.journal import AuditRecord, InputRecord
from hub.journal.pg_schema import (
    LATEST_VERSION,
    MIGRATIONS,
    Migration,
    applied_versions,
    migrate,
)
from hub.journal.postgres import PostgresJournal, upgrade
from tests.test_journal import make_event

SERVER_DSN = os.environ.get(
    "HUB_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    # A loop of its own: module setup and teardown run outside the tests' loops, and
    # asyncio.run would reset the loop pytest-asyncio manages.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def _with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _with_search_path(dsn: str, schema: str) -> str:
    # asyncpg passes unknown DSN parameters to the server as settings
    return dsn + ("&" if "?" in dsn else "?") + f"search_path={schema}"


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    yield from temporary_database()


def temporary_database() -> Iterator[str]:
    """A database of its own on the test server, dropped afterwards (skips when the server
    cannot be reached; CI starts it, so there it always runs)."""
    name = f"hub_test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(SERVER_DSN, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        _run(admin(f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        pytest.skip(
            f"PostgreSQL not reachable at {SERVER_DSN} ({exc!r}); set HUB_TEST_POSTGRES_DSN"
        )
    yield _with_database(SERVER_DSN, name)
    _run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def dsn(database: str) -> str:
    """A DSN whose tables live in a schema of this test's own."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(database)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    return _with_search_path(database, schema)


async def fetch(dsn: str, sql: str, *args: Any) -> list[Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def bed_event(event_id: str) -> Event:
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


async def opened(dsn: str, **kw: Any) -> PostgresJournal:
    journal = PostgresJournal(dsn, **kw)
    await journal.open()
    return journal


# --- the SQLite journal's behaviour ---------------------------------------------------------


async def test_concurrent_appends_get_consecutive_seqs_in_commit_order(dsn: str) -> None:
    seen: list[int] = []
    journal = await opened(
        dsn, on_commit=lambda items, n, s: seen.extend(a.event.seq for a in items)
    )
    results = await asyncio.gather(*(journal.append([make_event(i)]) for i in range(200)))
    seqs = sorted(r[0].event.seq for r in results)
    assert seqs == list(range(1, 201))
    assert seen == list(range(1, 201)), "commit callback must run in seq order"
    assert journal.last_seq == 200
    await journal.close()


async def test_group_commit_batches_what_queued_during_a_transaction(dsn: str) -> None:
    batches: list[int] = []
    journal = await opened(dsn, on_commit=lambda items, n, s: batches.append(n))
    await asyncio.gather(*(journal.append([make_event(i)]) for i in range(100)))
    assert sum(batches) == 100 and len(batches) < 100
    await journal.close()


async def test_duplicate_id_is_not_journaled_twice(dsn: str) -> None:
    journal = await opened(dsn)
    [first] = await journal.append([make_event(1)])
    [again] = await journal.append([make_event(1)])
    assert not first.duplicate and again.duplicate
    assert again.event.seq == first.event.seq and again.wire == first.wire
    assert journal.last_seq == 1
    await journal.close()


async def test_room_index_and_reopen(dsn: str) -> None:
    journal = await opened(dsn)
    await journal.append(
        [make_event(i, rooms=("hospital_H1", f"patient_P{i % 2}")) for i in range(10)]
    )
    await journal.close()
    journal = await opened(dsn)
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


async def test_census_learns_patient_location_and_triage_patient(dsn: str) -> None:
    journal = await opened(dsn)
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
    journal = await opened(dsn)
    assert journal.patient_hospitals("P1") == {"H2"}, "census must survive a restart"
    assert journal.triage_patient("T1") == "P1"
    assert journal.patient_triage_cases("P1") == {
        "T1": {"patient_id": "P1", "status": "accepted", "hospital_id": "H2", "priority": "high"}
    }
    assert journal.patient_hospitals("P9") == frozenset()
    assert journal.triage_patient("T9") is None
    await journal.close()


async def test_accept_input_stores_message_events_and_reply_together(dsn: str) -> None:
    journal = await opened(dsn)
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


async def test_accept_input_is_one_transaction(dsn: str) -> None:
    # An event that cannot be stored takes its input row down with it: no message is ever
    # recorded as processed without its events.
    journal = await opened(dsn)
    bad = make_event(1, id="").model_copy(update={"type": None})
    with pytest.raises(asyncpg.NotNullViolationError):
        await journal.accept_input(record("K1"), [("adt:0", make_event(2, id="")), ("adt:1", bad)])
    assert await fetch(dsn, "SELECT id FROM inputs") == []
    assert await fetch(dsn, "SELECT seq FROM events") == []
    assert journal.last_seq == 0 and journal.patient_hospitals("P1") == frozenset()
    stored, [ok] = await journal.accept_input(record("K1"), [("adt:0", make_event(2, id=""))])
    assert not stored.duplicate and ok.event.seq == 1
    await journal.close()


async def test_prune_keeps_seq_monotonic_and_reports_truncation(dsn: str) -> None:
    journal = await opened(dsn, prune_batch=2)  # several small delete transactions
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
    assert await fetch(dsn, "SELECT seq FROM event_rooms WHERE seq <= 5") == []
    await journal.close()
    journal = await opened(dsn)
    [e] = await journal.append([make_event(11)])
    assert e.event.seq == 7, "seq must never be reused after pruning"
    assert (await journal.read_room("hospital_H1", 0, 100, 100)).truncated is True
    await journal.close()


async def test_prune_finishes_what_an_interrupted_prune_left(dsn: str) -> None:
    journal = await opened(dsn)
    old = "2020-01-01T00:00:00.000Z"
    await journal.append([make_event(i, received_at=old) for i in range(4)])
    # as if a prune had raised the mark and died before deleting
    conn = await asyncpg.connect(dsn)
    await conn.execute("UPDATE meta SET value = 4 WHERE key = 'pruned_through'")
    await conn.close()
    assert (await journal.read_room("hospital_H1", 0, 100, 100)).truncated is True
    assert await journal.prune("2000-01-01T00:00:00.000Z") == 4
    await journal.close()


async def test_prune_does_not_wait_for_a_writer(dsn: str) -> None:
    journal = await opened(dsn)
    old = "2020-01-01T00:00:00.000Z"
    await journal.append([make_event(i, received_at=old) for i in range(3)])
    # a writer of another node sitting inside its transaction, holding the seq lock
    conn = await asyncpg.connect(dsn)
    tx = conn.transaction()
    await tx.start()
    await conn.execute("SELECT pg_advisory_xact_lock($1)", 0x6875625F736571)
    try:
        assert await asyncio.wait_for(journal.prune("2021-01-01T00:00:00.000Z"), 5) == 3
    finally:
        await tx.rollback()
        await conn.close()
    await journal.close()


async def test_audit_trail_filters(dsn: str) -> None:
    journal = await opened(dsn)
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


async def test_bed_board_follows_bed_events_and_survives_restart(dsn: str) -> None:
    def bed(n: int, bed_id: str, status: str, patient: str | None = None) -> Event:
        info = {"bed_id": bed_id, "status": status}
        if patient:
            info["patient_id"] = patient
        return make_event(
            n, type="bed_status_changed", data={"hospital_id": "H1", "bed_info": info}
        )

    journal = await opened(dsn)
    await journal.append([bed(1, "B1", "occupied", "P1"), bed(2, "B2", "available")])
    assert journal.patient_bed("P1")["bed_id"] == "B1"  # type: ignore[index]
    await journal.append([bed(3, "B1", "cleaning"), bed(4, "B2", "occupied", "P2")])
    assert journal.patient_bed("P1") is None and journal.patient_bed("P2")["bed_id"] == "B2"  # type: ignore[index]
    # the same bed twice in one transaction: the later event wins in the table too
    await journal.append([bed(5, "B3", "occupied", "P3"), bed(6, "B3", "available")])
    assert journal.bed("H1", "B3")["seq"] == 6  # type: ignore[index]
    await journal.close()
    journal = await opened(dsn)
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


async def test_staff_census_keeps_the_latest_availability_and_survives_restart(dsn: str) -> None:
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

    journal = await opened(dsn)
    await journal.append([staff(1, "N1", True), staff(2, "N2", True), staff(3, "D9", True, "H2")])
    await journal.append([staff(4, "N1", False)])
    assert [(s["staff_id"], s["available"]) for s in journal.staff("H1")] == [
        ("N1", False),
        ("N2", True),
    ]
    await journal.close()
    journal = await opened(dsn)
    assert [(s["staff_id"], s["available"]) for s in journal.staff("H1")] == [
        ("N1", False),
        ("N2", True),
    ]
    assert journal.staff("H2")[0]["staff_id"] == "D9" and journal.staff("H3") == []
    await journal.close()


# --- the SQLite journal's write paths -------------------------------------------------------


async def test_an_id_already_journaled_takes_no_seq_even_when_derived(dsn: str) -> None:
    journal = await opened(dsn)
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


async def test_same_id_twice_in_one_batch_is_stored_once(dsn: str) -> None:
    journal = await opened(dsn)
    results = await asyncio.gather(*(journal.append([bed_event("x")]) for _ in range(5)))
    assert [r[0].duplicate for r in results] == [False, True, True, True, True]
    assert {r[0].event.seq for r in results} == {1}
    assert len({r[0].wire for r in results}) == 1
    assert journal.last_seq == 1
    await journal.close()


async def test_stored_body_and_rooms_match_the_event(dsn: str) -> None:
    journal = await opened(dsn)
    _, [a] = await journal.accept_input(record("K1"), [("adt:0", bed_event(""))])
    page = await journal.read_room("patient_P1", 0, 10, 10)
    await journal.close()
    assert page.items == [(1, a.wire)]
    assert orjson.loads(a.wire) == a.event.wire()
    [(body,)] = await fetch(dsn, "SELECT body FROM events")
    rooms = await fetch(dsn, "SELECT room, seq FROM event_rooms ORDER BY room")
    assert orjson.loads(body)["_rooms"] == ["hospital_H1", "patient_P1"]
    assert orjson.loads(body)["_loc"] == ["P1", "H1"]
    assert [tuple(r) for r in rooms] == [("hospital_H1", 1), ("patient_P1", 1)]


async def test_dedupe_key_conflicts_return_the_earlier_input(dsn: str) -> None:
    journal = await opened(dsn)
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


async def test_concurrent_resends_in_one_batch_store_one_input(dsn: str) -> None:
    journal = await opened(dsn)
    results = await asyncio.gather(
        *(journal.accept_input(record("K1"), [("adt:0", bed_event(""))]) for _ in range(4))
    )
    assert [s.duplicate for s, _ in results] == [False, True, True, True]
    assert [len(a) for _, a in results] == [1, 0, 0, 0]
    assert journal.last_seq == 1
    await journal.close()


async def test_store_finish_and_list_inputs(dsn: str) -> None:
    journal = await opened(dsn)
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


async def test_writes_queued_before_close_are_committed(dsn: str) -> None:
    journal = await opened(dsn)
    pending = [asyncio.ensure_future(journal.append([bed_event(f"e{i}")])) for i in range(50)]
    await asyncio.sleep(0)  # every append has reached the writer's queue
    await journal.close()
    assert all(p.done() and not p.exception() for p in pending)
    reopened = await opened(dsn)
    assert reopened.last_seq == 50
    await reopened.close()


async def test_a_failed_batch_fails_its_callers_and_the_writer_goes_on(dsn: str) -> None:
    journal = await opened(dsn)
    bad = bed_event("bad").model_copy(update={"type": None})  # NOT NULL: the batch rolls back
    results = await asyncio.gather(
        journal.append([bed_event("ok")]), journal.append([bad]), return_exceptions=True
    )
    assert all(isinstance(r, asyncpg.NotNullViolationError) for r in results)
    assert journal.last_seq == 0
    [after] = await journal.append([bed_event("ok")])
    assert after.event.seq == 1 and not after.duplicate
    assert journal.patient_hospitals("P1") == {"H1"}
    await journal.close()


async def test_synchronous_commit_is_never_off_for_the_hub(dsn: str) -> None:
    journal = await opened(dsn)
    assert journal._pool is not None
    async with journal._pool.acquire() as conn:
        assert await conn.fetchval("SHOW synchronous_commit") != "off"
    await journal.close()
    journal = await opened(dsn + "&synchronous_commit=off")
    async with journal._pool.acquire() as conn:
        assert await conn.fetchval("SHOW synchronous_commit") == "on"
    await journal.close()


# --- migrations -----------------------------------------------------------------------------


async def test_migrations_are_applied_once_and_idempotent(dsn: str) -> None:
    assert await upgrade(dsn) == [m.version for m in MIGRATIONS]
    assert await upgrade(dsn) == []
    rows = await fetch(dsn, "SELECT version FROM schema_migrations ORDER BY version")
    assert [r[0] for r in rows] == [m.version for m in MIGRATIONS]
    journal = await opened(dsn)  # opening runs them too, and finds nothing to do
    await journal.close()
    assert len(await fetch(dsn, "SELECT version FROM schema_migrations")) == len(MIGRATIONS)


async def test_a_new_step_is_applied_alone_and_a_failing_one_is_not_recorded(dsn: str) -> None:
    await upgrade(dsn)
    extra = Migration(LATEST_VERSION + 1, "test column", "ALTER TABLE staff ADD COLUMN note TEXT")
    broken = Migration(LATEST_VERSION + 2, "broken", "ALTER TABLE nope ADD COLUMN x INT")
    conn = await asyncpg.connect(dsn)
    try:
        with pytest.raises(asyncpg.UndefinedTableError):
            await migrate(conn, (*MIGRATIONS, extra, broken))
        assert await applied_versions(conn) == [*range(1, LATEST_VERSION + 2)]
        assert await migrate(conn, (*MIGRATIONS, extra)) == []
        # the lock was released despite the failure: another session can take it at once
        other = await asyncpg.connect(dsn)
        try:
            assert await other.fetchval("SELECT pg_try_advisory_lock($1)", 0x6875625F6D696772)
        finally:
            await other.close()
    finally:
        await conn.close()


async def test_concurrent_upgrades_both_succeed_at_the_latest_version(dsn: str) -> None:
    first, second = await asyncio.gather(upgrade(dsn), upgrade(dsn))
    assert sorted([first, second]) == [[], [m.version for m in MIGRATIONS]]
    conn = await asyncpg.connect(dsn)
    try:
        assert (await applied_versions(conn))[-1] == LATEST_VERSION
    finally:
        await conn.close()


async def test_several_nodes_opening_at_once_on_an_empty_database(dsn: str) -> None:
    journals = [PostgresJournal(dsn) for _ in range(3)]
    await asyncio.gather(*(j.open() for j in journals))
    await asyncio.gather(*(j.close() for j in journals))
    assert len(await fetch(dsn, "SELECT version FROM schema_migrations")) == len(MIGRATIONS)


async def test_open_without_migrating_refuses_an_old_schema(dsn: str) -> None:
    journal = PostgresJournal(dsn, migrate_on_open=False)
    with pytest.raises(RuntimeError, match="hub db upgrade"):
        await journal.open()
    await upgrade(dsn)
    await journal.open()
    await journal.close()


# --- several nodes --------------------------------------------------------------------------


async def test_two_nodes_share_one_gap_free_seq(dsn: str) -> None:
    commits: dict[str, list[int]] = {"a": [], "b": []}
    # as the hub's commit callback does, a duplicate (an id already journaled) is not new
    node_a = await opened(
        dsn,
        on_commit=lambda items, n, s: commits["a"].extend(
            x.event.seq for x in items if not x.duplicate
        ),
    )
    node_b = await opened(
        dsn,
        on_commit=lambda items, n, s: commits["b"].extend(
            x.event.seq for x in items if not x.duplicate
        ),
    )
    holes: list[tuple[int, int]] = []
    done = asyncio.Event()

    async def watch() -> None:
        # Readers must never see N+1 while N is still invisible: every snapshot is a prefix.
        conn = await asyncpg.connect(dsn)
        try:
            while not done.is_set():
                count, top = await conn.fetchrow(
                    "SELECT count(*), coalesce(max(seq), 0) FROM events"
                )
                if count != top:
                    holes.append((count, top))
                await asyncio.sleep(0)
        finally:
            await conn.close()

    async def write(node: PostgresJournal, name: str) -> list[int]:
        seqs: list[int] = []
        for round_ in range(10):
            results = await asyncio.gather(
                *(node.append([make_event(0, id=f"{name}-{round_}-{i}")]) for i in range(20))
            )
            seqs.extend(r[0].event.seq for r in results)
        return seqs

    watcher = asyncio.create_task(watch())
    # the same id sent to both nodes at once is journaled once
    shared = await asyncio.gather(
        node_a.append([make_event(0, id="both")]), node_b.append([make_event(0, id="both")])
    )
    seqs_a, seqs_b = await asyncio.gather(write(node_a, "a"), write(node_b, "b"))
    done.set()
    await watcher
    assert sorted(r[0].duplicate for r in shared) == [False, True]
    assert shared[0][0].event.seq == shared[1][0].event.seq
    everything = sorted([*seqs_a, *seqs_b, shared[0][0].event.seq])
    assert everything == list(range(1, 402)), "seq must be global, gap-free, never shared"
    assert commits["a"] == sorted(commits["a"]) and commits["b"] == sorted(commits["b"])
    # the nodes really took turns, so the lock was contended and not merely uncontested
    assert min(commits["b"]) < max(commits["a"]) and min(commits["a"]) < max(commits["b"])
    assert holes == [], "a reader saw a later seq before an earlier one"
    rows = await fetch(dsn, "SELECT seq FROM events ORDER BY seq")
    assert [r[0] for r in rows] == list(range(1, 402))
    page = await node_b.read_room("hospital_H1", 0, 1000, 1000)
    assert [s for s, _ in page.items] == list(range(1, 402))
    # a node picks up after the other's last seq, whatever it has seen itself
    [later] = await node_a.append([make_event(0, id="later")])
    assert later.event.seq == 402
    # each node hands on_commit the whole history, the other node's events included, in order
    for _ in range(100):
        if len(commits["a"]) >= 402 and len(commits["b"]) >= 402:
            break
        await asyncio.sleep(0.05)
    assert commits["a"] == list(range(1, 403)) and commits["b"] == list(range(1, 403))
    await node_a.close()
    await node_b.close()


async def test_a_node_learns_the_others_events_and_census_from_the_journal(dsn: str) -> None:
    seen_b: list[str] = []
    node_a = await opened(dsn)
    node_b = await opened(
        dsn, on_commit=lambda items, n, s: seen_b.extend(x.event.id for x in items)
    )
    bed = make_event(
        0,
        id="bed-1",
        type="bed_status_changed",
        rooms=("hospital_H1", "patient_P1"),
        data={
            "hospital_id": "H1",
            "bed_info": {"bed_id": "4E:1:A", "status": "occupied", "patient_id": "P1"},
        },
        patient_location=("P1", "H1"),
    )
    await node_a.append([bed])
    # node B wrote nothing: the notification (or, failing that, its tail) brings it up to date
    for _ in range(60):
        if "bed-1" in seen_b:
            break
        await asyncio.sleep(0.05)
    assert seen_b == ["bed-1"]
    assert node_b.last_seq == 1 and node_b.patient_hospitals("P1") == {"H1"}
    assert node_b.bed("H1", "4E:1:A")["patient_id"] == "P1"  # type: ignore[index]
    # and B's own next event is numbered after A's
    [own] = await node_b.append([make_event(0, id="b-1")])
    assert own.event.seq == 2 and seen_b == ["bed-1", "b-1"]
    await node_a.close()
    await node_b.close()


async def test_inputs_and_audit_are_pruned_by_their_own_retention(dsn: str) -> None:
    from tests.test_journal import check_record_retention

    journal = await opened(dsn)
    await check_record_retention(journal)
    await journal.close()


async def test_pending_inputs_are_leased_to_one_node_until_it_stops_renewing(dsn: str) -> None:
    """A node keeps what it accepted while it renews its lease; once it stops (killed), the
    lease runs out and exactly one other node takes each message over."""
    first = await opened(dsn, node_id="n1", lease_s=0.6)
    second = await opened(dsn, node_id="n2", lease_s=0.6)
    third = await opened(dsn, node_id="n3", lease_s=0.6)
    at = iso(utc_now())
    mine = await first.store_input("fhir:x", "K1", b"m1", at, "pending")
    accepted = await first.accept_input(
        InputRecord("fhir:x", "K2", b"m2", at, "pending", b"OK"), []
    )
    assert [i.id for i in await first.claim_pending("fhir:x")] == [mine.id, accepted[0].id]
    await asyncio.sleep(1.0)  # past the lease: n1 renews it
    assert await second.claim_pending("fhir:x") == []
    await first.close()  # stops renewing, as a dead node would
    await asyncio.sleep(0.8)
    taken = await asyncio.gather(second.claim_pending("fhir:x"), third.claim_pending("fhir:x"))
    ids = sorted(i.id for claimed in taken for i in claimed)
    assert ids == [mine.id, accepted[0].id], "each message is taken over by exactly one node"
    # what is finished is nobody's any more
    for claimed, journal in zip(taken, (second, third), strict=True):
        for item in claimed:
            await journal.finish_input(item.id, "processed", b"OK", None)
    await asyncio.sleep(0.8)
    assert await second.claim_pending("fhir:x") == [] == await third.claim_pending("fhir:x")
    await second.close()
    await third.close()


async def test_two_nodes_keep_writing_while_retention_prunes(dsn: str) -> None:
    """Retention under load: a prune of many old events runs in small transactions while two
    nodes append; every append succeeds, writers make progress during the prune, and what is
    left is exactly the new events, gap-free."""
    node_a = await opened(dsn, node_id="a", prune_batch=200)
    node_b = await opened(dsn, node_id="b", prune_batch=200)
    old = "2020-01-01T00:00:00.000Z"
    for start in range(0, 6000, 500):
        await node_a.append([make_event(i, received_at=old) for i in range(start, start + 500)])
    pruning = asyncio.Event()
    during: list[int] = []

    async def write(journal: PostgresJournal, prefix: str) -> list[int]:
        seqs = []
        n = 0
        while not pruning.is_set() or len(during) < 20 or n < 50:
            appended = await journal.append([make_event(f"{prefix}{n}")])  # type: ignore[arg-type]
            seqs.append(appended[0].event.seq)
            if pruning.is_set():
                during.append(seqs[-1])
            n += 1
            if n > 5000:
                break
        return seqs

    writers = [asyncio.create_task(write(j, p)) for j, p in ((node_a, "a"), (node_b, "b"))]
    await asyncio.sleep(0.1)
    pruning.set()
    deleted = await node_b.prune("2021-01-01T00:00:00.000Z")
    done_during_prune = len(during)
    new = sorted(s for w in await asyncio.gather(*writers) for s in w)
    assert deleted == 6000
    assert done_during_prune > 0, "writers were blocked for the whole prune"
    assert new == list(range(6001, 6001 + len(new))), "seq has a gap or a repeat"
    rows = await fetch(dsn, "SELECT min(seq), count(*) FROM events")
    assert (rows[0][0], rows[0][1]) == (6001, len(new))
    await node_a.close()
    await node_b.close()
