"""The PostgreSQL journal's own behaviour against a real server: pruning that never takes the
seq lock, ``synchronous_commit``, schema migrations, and several nodes sharing one journal (one
global seq, leases of pending inputs, retention under load).

What both backends do alike (ordering, idempotency, room index, census, inputs, audit,
retention, restart) is tested once for each in tests/test_journal.py, through
``journal_factory``. The server, the throwaway database (``pg_database``, skipped when the
server cannot be reached) and the schema per test come from tests/journal_backends.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from hub.events import iso, utc_now
from hub.journal import InputRecord
from hub.journal.pg_schema import (
    LATEST_VERSION,
    MIGRATIONS,
    Migration,
    applied_versions,
    migrate,
)
from hub.journal.postgres import PostgresJournal, upgrade
from tests.journal_backends import (  # other modules import these from here
    SERVER_DSN,  # noqa: F401
    _run,  # noqa: F401
    fetch,
    schema_dsn,
    temporary_database,  # noqa: F401
)
from tests.test_journal import make_event


@pytest.fixture
async def dsn(pg_database: str) -> str:
    """A DSN whose tables live in a schema of this test's own."""
    return await schema_dsn(pg_database)


async def opened(dsn: str, **kw: Any) -> PostgresJournal:
    journal = PostgresJournal(dsn, **kw)
    await journal.open()
    return journal


# --- pruning and durability -----------------------------------------------------------------
# PostgreSQL only: its prune runs on a pooled connection beside the writer, raising the
# ``pruned_through`` mark in a transaction of its own before deleting window by window, and
# never takes the seq lock. SQLite's prune is one transaction of the writer thread (mark and
# deletes commit together, nothing else writes the file), so neither case below can happen there.


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


async def test_synchronous_commit_is_never_off_for_the_hub(dsn: str) -> None:
    # PostgreSQL only: a server setting a DSN (or the server's config) can turn off, which
    # would acknowledge commits before they are durable; the hub's connections force it on.
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
