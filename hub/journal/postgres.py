"""PostgreSQL journal: the production backend, shared by every node of a hub.

It keeps the contract and behaviour of the SQLite journal (``hub.journal.sqlite``): the same
stored event body, idempotency by event id and by an input's dedupe key, the corrected resend of
a failed message, the census kept in memory and changed only after a commit.

Group commit. One writer task per node takes every write queued while the previous transaction
ran and writes it in one transaction, so one commit (one WAL flush) acknowledges the whole batch
and batches grow with load. Each caller's future resolves only after the commit, and the commit
callback sees batches in seq order. Reads go straight to the pool and never wait for the writer.

Why seq is allocated under ``pg_advisory_xact_lock``. ``seq`` is global to every node and is
what clients resume from (``since=seq``), so it must be gap-free and become visible in order:
a client that has seen N+1 must never later be handed an N it skipped. A PostgreSQL SEQUENCE
gives neither: rolled back transactions leave holes, and two transactions holding N and N+1 may
commit in either order, so a reader can see N+1 first, resume after it and lose N for good. So
a transaction that journals events first takes one transaction-level advisory lock, then reads
the last seq from ``meta``, numbers its events, and writes the new last seq; the lock is released
only at commit (or rollback). Event-writing transactions, from every process, are thereby
serialized, numbers are handed out in commit order, and a rolled back batch hands its numbers
to the next one. PostgreSQL makes a commit visible before it releases the transaction's locks,
so the next writer (and its seq) always comes after the previous one is readable. The lock is
taken as late as the batch allows and held only for a handful of statements plus the commit,
which group commit amortizes over every event of the batch.

Idempotency. Under that lock nobody else can be inserting events, so looking up the batch's ids
first is exact, and it is what keeps seq gap-free: an id already journaled takes no number.
The insert still says ``ON CONFLICT (id) DO NOTHING`` and checks the count, so an event written
by anything not taking the lock aborts the batch instead of silently leaving a hole. Inputs are
deduplicated by ``INSERT ... ON CONFLICT (dedupe_key) DO NOTHING``, which also settles two nodes
accepting the same resend at once: the second waits for the first to commit and then sees it.

Durability: ``append`` returns after COMMIT, which with ``synchronous_commit`` on (forced on for
the hub's sessions if the server has it off) means the WAL is flushed (and, when synchronous
replication is configured, acknowledged by the standby).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from hub.events import Event
from hub.journal.base import Appended, AuditRecord, InputRecord, ReplayPage, StoredInput
from hub.journal.bus import RedisBus
from hub.journal.census import CensusChanges, CensusReads, MemoryCensus
from hub.journal.codec import batch_weight, stored_event, stored_form, wire_only
from hub.journal.pg_schema import LATEST_VERSION, applied_versions, migrate, upgrade
from hub.journal.queued import QueuedWrites

__all__ = ["SEQ_LOCK", "PostgresJournal", "upgrade"]

log = logging.getLogger("hub.journal")

# Every node must use the same key: it is what serializes seq allocation across processes.
SEQ_LOCK = 0x6875625F736571  # "hub_seq"

# (kind, payload, future), as in the SQLite journal's queue.
_Item = tuple[str, Any, "asyncio.Future[Any]"]
NOTIFY_CHANNEL = "hub_journal"
_ALLOCATES_IDS = frozenset(("accept", "input", "audit"))

_INPUT_COLUMNS = "id, source, dedupe_key, raw, status, reply, error, received_at"
_INSERT_INPUT = (
    "INSERT INTO inputs (source, dedupe_key, received_at, raw, status, reply, error)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7)"
)


class PostgresJournal(CensusReads, QueuedWrites):
    """The ``Journal`` protocol on PostgreSQL through an asyncpg pool, shared by every node.

    The census (patient locations, triage cases, beds, staff) and ``last_seq`` are loaded at
    ``open`` and then follow every node's commits in seq order: this node's own, and other
    nodes' events read back from the journal (``_catch_up``, told by NOTIFY or, with a bus,
    carried by it), always before this node's next batch is numbered, so a bed change is
    reasoned about from the state every node agrees on.
    """

    def __init__(
        self,
        dsn: str,
        group_commit_max: int = 512,
        on_commit: Callable[[list[Appended], int, float], None] | None = None,
        pool_min_size: int = 2,
        pool_max_size: int = 10,
        prune_batch: int = 1000,
        migrate_on_open: bool = True,
        tail_interval_s: float = 1.0,
        bus: RedisBus | None = None,
        node_id: str = "node",
        lease_s: float = 30.0,
        durable: bool = True,
    ) -> None:
        self._dsn = dsn
        self._group_commit_max = group_commit_max
        self._on_commit = on_commit
        self._pool_min_size = pool_min_size
        self._pool_max_size = pool_max_size
        self._prune_batch = prune_batch
        self._migrate_on_open = migrate_on_open
        self._pool: Any = None
        # None asks the writer to stop once everything queued before it is written.
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._last_seq = 0
        self._memory = MemoryCensus()
        self._listener: Any = None  # a connection of its own, LISTENing for other nodes' commits
        self._tailer: asyncio.Task[None] | None = None
        self._catchup_queued = False
        # the seq this node's transaction in flight writes up to: its own NOTIFY, which can
        # arrive before the commit is applied here, is then not mistaken for another node's
        self._own_seq = 0
        self._tail_interval_s = tail_interval_s
        # With a bus, commits are announced on it (carrying the events) instead of by NOTIFY,
        # whose commit-time lock serializes every committing transaction in the database.
        self._bus = bus
        # durable=False (synchronous_commit off) exists only to measure what durability costs
        # (bench/journal_durability.py); the hub always runs durable, its ACKs depend on it.
        self._durable = durable
        self._node_id = node_id
        self._lease = datetime.timedelta(seconds=lease_s)
        self._renewer: asyncio.Task[None] | None = None
        self._cluster_id = 0

    @property
    def last_seq(self) -> int:
        return self._last_seq

    async def open(self) -> None:
        conn = await asyncpg.connect(self._dsn)
        try:
            if self._migrate_on_open:
                await migrate(conn)
            else:
                versions = await applied_versions(conn)
                if not versions or versions[-1] < LATEST_VERSION:
                    raise RuntimeError(
                        f"journal schema at version {versions[-1] if versions else 0},"
                        f" this hub needs {LATEST_VERSION}: run `hub db upgrade`"
                    )
            synchronous = await conn.fetchval("SHOW synchronous_commit")
        finally:
            await conn.close()
        # The contract promises durability when append returns; synchronous_commit=off on the
        # server or role (common on benchmark boxes) would silently break it, so the hub's
        # sessions turn it back on. A stronger setting (remote_apply, ...) is left as the DBA
        # chose. It goes in the startup packet because the pool's RESET ALL on release would
        # undo a SET.
        settings: dict[str, str] = {}  # the DSN's own settings (application_name, ...) stay
        if not self._durable:
            settings["synchronous_commit"] = "off"
        elif synchronous == "off":
            log.warning("synchronous_commit is off on the server; the hub's sessions turn it on")
            settings["synchronous_commit"] = "on"
        pool = await asyncpg.create_pool(
            self._dsn,
            min_size=self._pool_min_size,
            max_size=self._pool_max_size,
            server_settings=settings or None,
        )
        try:
            async with pool.acquire() as conn:
                await self._load(conn)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool
        self._writer = asyncio.create_task(self._run_writer(), name="journal-write")
        if self._bus is not None:
            await self._bus.start(str(self._cluster_id), self._bus_received, self._queue_catch_up)
        else:
            self._listener = await asyncpg.connect(self._dsn)
            await self._listener.add_listener(NOTIFY_CHANNEL, self._notified)
        self._tailer = asyncio.create_task(self._tail(), name="journal-tail")
        self._renewer = asyncio.create_task(self._renew_leases(), name="journal-leases")

    async def _load(self, conn: Any) -> None:
        # One snapshot, so the census and last_seq loaded describe the same commit.
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            self._last_seq = int(
                await conn.fetchval("SELECT value FROM meta WHERE key = 'last_seq'")
            )
            self._cluster_id = int(
                await conn.fetchval("SELECT value FROM meta WHERE key = 'cluster_id'")
            )
            memory = self._memory
            memory.locations = {
                r[0]: r[1]
                for r in await conn.fetch("SELECT patient_id, hospital_id FROM patient_locations")
            }
            memory.triage = {
                r[0]: orjson.loads(r[1])
                for r in await conn.fetch("SELECT triage_id, info FROM triage_cases")
            }
            for hid, bid, info in await conn.fetch(
                "SELECT hospital_id, bed_id, info FROM beds ORDER BY seq"
            ):
                memory.load_bed(hid, bid, orjson.loads(info))
            for hid, sid, info in await conn.fetch("SELECT hospital_id, staff_id, info FROM staff"):
                memory.load_staff(hid, sid, orjson.loads(info))

    async def close(self) -> None:
        for task in (self._tailer, self._renewer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._tailer = self._renewer = None
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()
        if self._bus is not None:
            await self._bus.stop()
        writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put_nowait(None)  # after every write already queued
            await writer
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    # --- writes -----------------------------------------------------------------------------

    def _submit(self, kind: str, payload: Any) -> asyncio.Future[Any]:
        assert self._writer is not None, "journal not open"
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((kind, payload, fut))
        return fut

    async def _run_writer(self) -> None:
        """The writer task: one transaction at a time, each taking everything queued."""
        q = self._queue
        stopping = False
        while not stopping:
            first = await q.get()
            if first is None:
                return
            items = [first]
            count = batch_weight(first[0], first[1])
            while count < self._group_commit_max and not q.empty():
                nxt = q.get_nowait()
                if nxt is None:
                    stopping = True  # write what came before it, then stop
                    break
                items.append(nxt)
                count += batch_weight(nxt[0], nxt[1])
            if any(kind == "foreign" for kind, _, _ in items):
                items = self._take_foreign(items)
                if not items:
                    continue
            if any(kind == "catchup" for kind, _, _ in items):
                self._catchup_queued = False
            started = time.perf_counter()
            try:
                results, batch = await self._write(items)
            except Exception as exc:
                self._own_seq = self._last_seq  # nothing of it was committed
                log.exception("journal write failed", extra={"batch": len(items)})
                for _, _, fut in items:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            except BaseException as exc:  # cancelled: nobody will hear back otherwise
                for _, _, fut in items:
                    if not fut.done():
                        fut.set_exception(exc)
                raise
            self._apply(batch)
            self._committed(items, results, batch.foreign, count, time.perf_counter() - started)
            if self._bus is not None and batch.own:
                self._bus.publish(batch.own_first, batch.seq, batch.own)

    def _take_foreign(self, items: list[_Item]) -> list[_Item]:
        """Apply events other nodes announced on the bus, if they continue exactly from this
        node's last seq; a message that skips ahead means one was lost, and the missing range
        is read from the journal instead. Returns the items still to write."""
        batch = _Batch(self._last_seq, self._memory.changes())
        rest: list[_Item] = []
        gap = False
        for item in items:
            kind, payload, fut = item
            if kind != "foreign":
                rest.append(item)
                continue
            fut.set_result(None)
            first, last, bodies = payload
            if last <= batch.seq:
                continue  # already read back from the journal
            if first > batch.seq + 1:
                gap = True
                continue
            for body in bodies[batch.seq + 1 - first :]:
                batch.adopt(body)
            batch.seq = last
        if batch.foreign:
            self._apply(batch)
            self._committed([], [], batch.foreign, 0, 0.0)
        if gap and not any(kind == "catchup" for kind, _, _ in rest):
            rest.append(("catchup", None, asyncio.get_running_loop().create_future()))
        return rest

    def _committed(
        self,
        items: list[_Item],
        results: list[Any],
        foreign: list[Appended],
        count: int,
        seconds: float,
    ) -> None:
        """Once per commit and in commit order: the callback first, then the callers."""
        if self._on_commit is not None:
            appended = foreign + [
                a
                for kind, r in zip(items, results, strict=True)
                if kind[0] in ("events", "accept")
                for a in (r if kind[0] == "events" else r[1])
            ]
            try:
                self._on_commit(appended, count, seconds)
            except Exception:
                log.exception("journal commit callback failed")
        for (_, _, fut), result in zip(items, results, strict=True):
            if not fut.done():
                fut.set_result(result)

    def _apply(self, batch: _Batch) -> None:
        """Committed changes into memory; never before the commit, so nothing is shown that a
        rollback could take back."""
        self._last_seq = max(self._last_seq, batch.seq)
        self._memory.commit(batch.census)

    async def _write(self, items: list[_Item]) -> tuple[list[Any], _Batch]:
        batch = _Batch(self._last_seq, self._memory.changes())
        results: list[Any] = [None] * len(items)
        # Item index and its (id, event) pairs, appended together once every item is in.
        to_append: list[tuple[int, list[tuple[str, Event]]]] = []
        audits: list[AuditRecord] = []
        async with self._pool.acquire() as conn, conn.transaction():
            if any(kind in _ALLOCATES_IDS for kind, _, _ in items):
                # Inputs and audit rows take identity ids, which two nodes' transactions could
                # commit out of order, and a reader paging by since_id would then skip the late
                # one for good. Under the seq lock (which event batches take anyway) ids commit
                # in the order they are handed out.
                await conn.execute("SELECT pg_advisory_xact_lock($1)", SEQ_LOCK)
                batch.locked = True
            await self._catch_up(conn, batch)
            inserted = await self._insert_accepted(conn, items)
            for i, (kind, payload, _) in enumerate(items):
                if kind == "events":
                    to_append.append((i, [(ev.id, ev) for ev in payload]))
                elif kind == "accept":
                    input_id = inserted.get(i)
                    if input_id is not None:
                        stored, named = payload[0].kept(input_id, payload[1])
                    else:
                        stored, named = await self._accept(conn, payload)
                    results[i] = stored
                    if not stored.duplicate:
                        to_append.append((i, named))
                    else:
                        results[i] = (stored, [])
                elif kind == "input":
                    results[i] = await self._write_input(conn, payload)
                elif kind == "input_done":
                    input_id, status, reply, error = payload
                    await conn.execute(
                        "UPDATE inputs SET status = $1, reply = $2, error = $3 WHERE id = $4",
                        status,
                        reply,
                        error,
                        input_id,
                    )
                elif kind == "audit":
                    audits.append(payload)
                elif kind == "catchup":
                    pass  # _catch_up above did it
                else:
                    raise ValueError(f"unknown journal write {kind!r}")
            if to_append:
                groups = await self._append(conn, [named for _, named in to_append], batch)
                for (i, _), appended in zip(to_append, groups, strict=True):
                    results[i] = appended if items[i][0] == "events" else (results[i], appended)
            if audits:
                await conn.execute(
                    "INSERT INTO audit (at, subject, role, action, room, outcome, reason, client)"
                    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
                    " $5::text[], $6::text[], $7::text[], $8::text[])",
                    *_columns([_audit_row(a) for a in audits], 8),
                )
        return results, batch

    async def _catch_up(self, conn: Any, batch: _Batch) -> None:
        """Read back what other nodes committed after ``batch.seq`` (the journal is the one
        history: a node learns of others' events from it, not from a broker that can drop
        messages), into the census and the list handed to on_commit before this node's own."""
        last = int(await conn.fetchval("SELECT value FROM meta WHERE key = 'last_seq'"))
        if last <= batch.seq:
            return
        for (body,) in await conn.fetch(
            "SELECT body FROM events WHERE seq > $1 AND seq <= $2 ORDER BY seq",
            batch.seq,
            last,
        ):
            batch.adopt(body)
        batch.seq = last

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        """Another node (or this one) committed up to ``payload``: catch up, in the writer."""
        try:
            seq = int(payload)
        except ValueError:
            return
        if seq > max(self._last_seq, self._own_seq):
            self._queue_catch_up()

    def _queue_catch_up(self) -> None:
        if not self._catchup_queued and self._writer is not None:
            self._catchup_queued = True
            self._queue.put_nowait(("catchup", None, asyncio.get_running_loop().create_future()))

    def _bus_received(self, first: int, last: int, bodies: list[str]) -> None:
        """Events another node committed, in the writer's order with this node's own writes."""
        if last > self._last_seq and self._writer is not None:
            fut = asyncio.get_running_loop().create_future()
            self._queue.put_nowait(("foreign", (first, last, bodies), fut))

    async def _tail(self) -> None:
        """A notification can be lost with its connection: look for missed commits anyway."""
        while True:
            await asyncio.sleep(self._tail_interval_s)
            self._queue_catch_up()

    async def _write_input(self, conn: Any, payload: Any) -> StoredInput:
        source, key, raw, received_at, status, error = payload
        input_id = await conn.fetchval(
            _INSERT_INPUT + " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
            source,
            key,
            received_at,
            raw,
            status,
            None,
            error,
        )
        if input_id is None:
            row = await conn.fetchrow(
                f"SELECT {_INPUT_COLUMNS} FROM inputs WHERE dedupe_key = $1", key
            )
            return _input_row(row, duplicate=True)
        if status == "pending":
            await self._lease_new(conn, input_id)
        return StoredInput(input_id, source, key, raw, status, False, None, error, received_at)

    async def _insert_accepted(self, conn: Any, items: list[_Item]) -> dict[int, int]:
        """Insert the batch's accepted messages in one statement: item index -> input id.

        One round trip instead of one per message: the transaction holds the seq lock, so each
        statement it waits for holds up every node's writers. Only messages with a dedupe key
        not seen earlier in the batch go here, and only those that do not conflict come back;
        the rest (a resend, a corrected resend of a failed message, no key) take ``_accept``.
        """
        index: dict[str, int] = {}
        for i, (kind, payload, _) in enumerate(items):
            if kind == "accept":
                key = payload[0].dedupe_key
                if key is not None and key not in index:
                    index[key] = i
        if not index:
            return {}
        records = [items[i][1][0] for i in index.values()]
        rows = await conn.fetch(
            "INSERT INTO inputs (source, dedupe_key, received_at, raw, status, reply, error,"
            " lease_owner, lease_until)"
            " SELECT s, k, r, w, st, rp, e,"
            " CASE WHEN st = 'pending' THEN $8 END,"
            " CASE WHEN st = 'pending' THEN now() + $9::interval END"
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[],"
            " $6::bytea[], $7::text[]) AS u(s, k, r, w, st, rp, e)"
            " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key",
            *_columns(
                [
                    (r.source, r.dedupe_key, r.received_at, r.raw, r.status, r.reply, r.error)
                    for r in records
                ],
                7,
            ),
            self._node_id,
            self._lease,
        )
        return {index[key]: int(input_id) for input_id, key in rows}

    async def _accept(
        self, conn: Any, payload: tuple[InputRecord, list[tuple[str, Event]]]
    ) -> tuple[StoredInput, list[tuple[str, Event]]]:
        """The input row of ``accept_input``, and its events under the ids they are stored by."""
        record, events = payload
        row = (
            record.source,
            record.dedupe_key,
            record.received_at,
            record.raw,
            record.status,
            record.reply,
            record.error,
        )
        input_id = await conn.fetchval(
            _INSERT_INPUT + " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id", *row
        )
        if input_id is None:
            found = await conn.fetchrow(
                f"SELECT {_INPUT_COLUMNS} FROM inputs WHERE dedupe_key = $1", record.dedupe_key
            )
            earlier = _input_row(found, duplicate=True)
            if earlier.status != "error" or earlier.raw == record.raw:
                return earlier, []
            # A corrected resend under the control id of a message that failed: it is
            # new content, so it is processed; the failed one stays listed as an error.
            await conn.execute("UPDATE inputs SET dedupe_key = NULL WHERE id = $1", earlier.id)
            input_id = await conn.fetchval(_INSERT_INPUT + " RETURNING id", *row)
        if record.status == "pending":
            await self._lease_new(conn, input_id)
        stored, named = record.kept(input_id, events)
        return stored, named

    async def _lease_new(self, conn: Any, input_id: int) -> None:
        """A message accepted but still being worked on belongs to this node, for now."""
        await conn.execute(
            "UPDATE inputs SET lease_owner = $1, lease_until = now() + $2 WHERE id = $3",
            self._node_id,
            self._lease,
            input_id,
        )

    async def claim_pending(self, source: str) -> list[StoredInput]:
        """Pending messages of ``source`` nobody is working on: this node's own (a restart
        under the same node id) and those whose owner let its lease run out (it died). They
        are leased to this node before they are returned, so two nodes never both take one."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "UPDATE inputs SET lease_owner = $2, lease_until = now() + $3"
                " WHERE id IN (SELECT id FROM inputs WHERE status = 'pending' AND source = $1"
                " AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $2)"
                " ORDER BY id FOR UPDATE SKIP LOCKED)"
                f" RETURNING {_INPUT_COLUMNS}",
                source,
                self._node_id,
                self._lease,
            )
        return sorted((_input_row(r) for r in rows), key=lambda i: i.id)

    async def _renew_leases(self) -> None:
        """Keep this node's claims alive while it works on them; a node that stops renewing
        (killed, partitioned) loses them within one lease period."""
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            try:
                async with self._pool.acquire() as conn:
                    await conn.execute(
                        "UPDATE inputs SET lease_until = now() + $2"
                        " WHERE lease_owner = $1 AND status = 'pending'",
                        self._node_id,
                        self._lease,
                    )
            except (OSError, asyncpg.PostgresError):
                log.warning("lease renewal failed; retrying")

    async def _append(
        self, conn: Any, groups: list[list[tuple[str, Event]]], batch: _Batch
    ) -> list[list[Appended]]:
        """Journal every group's ``(id, event)`` pairs in order; one result list per group."""
        ids = list(dict.fromkeys(event_id for group in groups for event_id, _ in group))
        if not ids:
            return [[] for _ in groups]
        # See the module docstring: from here to COMMIT no other writer, on any node, numbers
        # events, so the last seq read is the one to continue from. (A batch with inputs or
        # audit rows took the lock, and caught up, at its start.)
        if not batch.locked:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", SEQ_LOCK)
            batch.locked = True
            await self._catch_up(conn, batch)
        last = batch.seq
        known: dict[str, str] = {
            r[0]: r[1]
            for r in await conn.fetch("SELECT id, body FROM events WHERE id = ANY($1::text[])", ids)
        }
        seq = last
        rows: list[tuple[int, str, str, str, str]] = []
        rooms: list[tuple[str, int]] = []
        changes = batch.census
        out: list[list[Appended]] = []
        for group in groups:
            appended: list[Appended] = []
            for event_id, ev in group:
                stored_body = known.get(event_id)
                if stored_body is not None:
                    stored = stored_event(stored_body)
                    appended.append(Appended(stored, wire_only(stored_body), duplicate=True))
                    continue
                seq += 1
                # One copy sets both: a model_copy is the costliest Python step of an append.
                update: dict[str, Any] = (
                    {"seq": seq} if ev.id == event_id else {"seq": seq, "id": event_id}
                )
                event = ev.model_copy(update=update)
                body = orjson.dumps(stored_form(event)).decode()
                known[event_id] = body  # a second copy later in the batch is a duplicate
                rows.append((seq, event_id, event.type, event.received_at, body))
                rooms.extend((room, seq) for room in event.rooms)
                changes.observe(event)
                appended.append(Appended(event, wire_only(body), duplicate=False))
            out.append(appended)
        if not rows:
            return out
        # events and their room index in one statement (one round trip under the lock)
        written = await conn.fetchval(
            "WITH e AS (INSERT INTO events (seq, id, type, received_at, body)"
            " SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])"
            " ON CONFLICT (id) DO NOTHING RETURNING 1),"
            " r AS (INSERT INTO event_rooms (room, seq)"
            " SELECT * FROM unnest($6::text[], $7::bigint[]))"
            " SELECT count(*) FROM e",
            *_columns(rows, 5),
            *_columns(rooms, 2),
        )
        if written != len(rows):
            # Only a writer that skips the seq lock can get here; storing the rest would leave
            # a hole in seq, so the whole batch is refused.
            raise RuntimeError("events journaled concurrently outside the seq lock")
        # Upserts take each key once (the batch's latest): one statement cannot update a row
        # twice.
        if changes.locations:
            await conn.execute(
                "INSERT INTO patient_locations (patient_id, hospital_id, seq)"
                " SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])"
                " ON CONFLICT (patient_id) DO UPDATE SET hospital_id = excluded.hospital_id,"
                " seq = excluded.seq",
                *_columns([(pid, hid, s) for pid, (hid, s) in changes.locations.items()], 3),
            )
        if changes.triage:
            await conn.execute(
                "INSERT INTO triage_cases (triage_id, patient_id, seq, info)"
                " SELECT t, p, s, i::jsonb"
                " FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS u(t, p, s, i)"
                " ON CONFLICT (triage_id) DO UPDATE SET patient_id = excluded.patient_id,"
                " seq = excluded.seq, info = excluded.info",
                *_columns(
                    [
                        (tid, case["patient_id"], s, orjson.dumps(case).decode())
                        for tid, (case, s) in changes.triage.items()
                    ],
                    4,
                ),
            )
        if changes.beds:
            await conn.execute(
                "INSERT INTO beds (hospital_id, bed_id, patient_id, info, seq)"
                " SELECT h, b, p, i::jsonb, s FROM unnest($1::text[], $2::text[], $3::text[],"
                " $4::text[], $5::bigint[]) AS u(h, b, p, i, s)"
                " ON CONFLICT (hospital_id, bed_id) DO UPDATE SET"
                " patient_id = excluded.patient_id, info = excluded.info, seq = excluded.seq",
                *_columns(
                    [
                        (hid, bid, info.get("patient_id"), orjson.dumps(info).decode(), info["seq"])
                        for (hid, bid), info in changes.beds.items()
                    ],
                    5,
                ),
            )
        if changes.staff:
            await conn.execute(
                "INSERT INTO staff (hospital_id, staff_id, info, seq)"
                " SELECT h, s, i::jsonb, q"
                " FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(h, s, i, q)"
                " ON CONFLICT (hospital_id, staff_id) DO UPDATE SET info = excluded.info,"
                " seq = excluded.seq",
                *_columns(
                    [
                        (hid, sid, orjson.dumps(record).decode(), record["seq"])
                        for (hid, sid), record in changes.staff.items()
                    ],
                    4,
                ),
            )
        if self._bus is None:
            self._own_seq = seq
            # delivered at commit: other nodes read these events back (see _catch_up)
            await conn.execute(
                "WITH m AS (UPDATE meta SET value = $1 WHERE key = 'last_seq')"
                " SELECT pg_notify($2, $3)",
                seq,
                NOTIFY_CHANNEL,
                str(seq),
            )
        else:
            await conn.execute("UPDATE meta SET value = $1 WHERE key = 'last_seq'", seq)
            # announced on the bus once committed (see _run_writer)
            batch.own_first = last + 1
            batch.own = [row[4] for row in rows]
        batch.seq = seq
        return out

    async def prune(self, older_than_iso: str) -> int:
        """Delete events received before ``older_than_iso``, a small transaction at a time.

        Runs on its own pooled connection, not through the writer, and never takes the seq
        lock: each step deletes one window of old seqs and commits, so writers (which only add
        seqs above every window) are never blocked behind a long delete. ``pruned_through`` is
        raised first, so a replay racing the delete reports ``truncated`` rather than a silent
        hole; a prune interrupted half-way is finished by the next one.
        """
        async with self._pool.acquire() as conn:
            cut = await conn.fetchval(
                "SELECT max(seq) FROM events WHERE received_at < $1", older_than_iso
            )
            through = int(
                await conn.fetchval(
                    "UPDATE meta SET value = GREATEST(value, $1) WHERE key = 'pruned_through'"
                    " RETURNING value",
                    int(cut or 0),
                )
            )
            lowest = await conn.fetchval("SELECT min(seq) FROM events")
            if lowest is None or lowest > through:
                return 0
            deleted = 0
            start = int(lowest) - 1
            while start < through:
                end = min(start + self._prune_batch, through)
                async with conn.transaction():
                    await conn.execute(
                        "DELETE FROM event_rooms WHERE seq > $1 AND seq <= $2", start, end
                    )
                    deleted += _rowcount(
                        await conn.execute(
                            "DELETE FROM events WHERE seq > $1 AND seq <= $2", start, end
                        )
                    )
                start = end
            return deleted

    async def prune_records(self, inputs_before_iso: str, audit_before_iso: str) -> tuple[int, int]:
        """As ``prune``: on its own connection, a window of rows per transaction."""
        counts = []
        async with self._pool.acquire() as conn:
            for sql, cutoff in (
                (
                    "DELETE FROM inputs WHERE id IN (SELECT id FROM inputs"
                    " WHERE received_at < $1 AND status <> 'pending' LIMIT $2)",
                    inputs_before_iso,
                ),
                (
                    "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < $1 LIMIT $2)",
                    audit_before_iso,
                ),
            ):
                total = 0
                while True:
                    deleted = _rowcount(await conn.execute(sql, cutoff, self._prune_batch))
                    total += deleted
                    if deleted < self._prune_batch:
                        break
                counts.append(total)
        return counts[0], counts[1]

    async def check_writable(self) -> str | None:
        if self._writer is None or self._pool is None:
            return "journal not open"
        try:
            async with self._pool.acquire() as conn:
                # A standby (or a primary demoted by failover) accepts connections and reads but
                # refuses writes; that is what this probe has to tell apart.
                recovering, read_only = await conn.fetchrow(
                    "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')"
                )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            return f"journal not writable: {exc}"
        if recovering or read_only == "on":
            return "journal not writable: database is read-only (standby or in recovery)"
        return None

    # --- reads ------------------------------------------------------------------------------

    async def read_room(self, room: str, since: int, until: int, limit: int) -> ReplayPage:
        rows = await self._pool.fetch(
            "SELECT e.seq, e.body FROM event_rooms r JOIN events e ON e.seq = r.seq"
            " WHERE r.room = $1 AND r.seq > $2 AND r.seq <= $3 ORDER BY r.seq LIMIT $4",
            room,
            since,
            until,
            limit,
        )
        # Read after the rows: prune raises the mark before it deletes, so a page that lost
        # rows to a concurrent prune is always reported truncated. Read from the table rather
        # than memory because any node may have pruned.
        pruned_through = await self._pool.fetchval(
            "SELECT value FROM meta WHERE key = 'pruned_through'"
        )
        return ReplayPage(
            items=[(seq, wire_only(body)) for seq, body in rows],
            truncated=since < int(pruned_through),
        )

    async def read_ids(self, ids: list[str]) -> dict[str, int]:
        if not ids:
            return {}
        rows = await self._pool.fetch(
            "SELECT id, seq FROM events WHERE id = ANY($1::text[])", list(ids)
        )
        return {r[0]: int(r[1]) for r in rows}

    async def read_events(self, ids: list[str]) -> list[Event]:
        if not ids:
            return []
        rows = await self._pool.fetch(
            "SELECT body FROM events WHERE id = ANY($1::text[]) ORDER BY seq", list(ids)
        )
        return [stored_event(r[0]) for r in rows]

    async def read_recent(self, types: list[str], received_after: str) -> list[Event]:
        rows = await self._pool.fetch(
            "SELECT body FROM events WHERE received_at > $1 AND type = ANY($2::text[])"
            " ORDER BY seq",
            received_after,
            list(types),
        )
        return [stored_event(r[0]) for r in rows]

    async def pending_inputs(self, source: str) -> list[StoredInput]:
        return await self.list_inputs("pending", source, 0, 1_000_000)

    async def list_inputs(
        self, status: str | None, source: str | None, since_id: int, limit: int
    ) -> list[StoredInput]:
        sql = f"SELECT {_INPUT_COLUMNS} FROM inputs WHERE id > $1"
        args: list[Any] = [since_id]
        if status:
            args.append(status)
            sql += f" AND status = ${len(args)}"
        if source:
            args.append(source)
            sql += f" AND source = ${len(args)}"
        args.append(limit)
        sql += f" ORDER BY id LIMIT ${len(args)}"
        return [_input_row(r) for r in await self._pool.fetch(sql, *args)]

    async def get_input(self, input_id: int) -> StoredInput | None:
        row = await self._pool.fetchrow(
            f"SELECT {_INPUT_COLUMNS} FROM inputs WHERE id = $1", input_id
        )
        return _input_row(row) if row is not None else None

    async def read_audit(
        self, since_id: int, limit: int, room: str | None, subject: str | None
    ) -> list[tuple[int, AuditRecord]]:
        sql = (
            "SELECT id, at, subject, role, action, room, outcome, reason, client FROM audit"
            " WHERE id > $1"
        )
        args: list[Any] = [since_id]
        if room:
            args.append(room)
            sql += f" AND room = ${len(args)}"
        if subject:
            args.append(subject)
            sql += f" AND subject = ${len(args)}"
        args.append(limit)
        sql += f" ORDER BY id LIMIT ${len(args)}"
        return [(int(r[0]), AuditRecord(*r[1:])) for r in await self._pool.fetch(sql, *args)]


@dataclass(slots=True)
class _Batch:
    """One write transaction: the seq it reached and its census changes (in memory once it
    has committed)."""

    seq: int
    census: CensusChanges
    # events other nodes committed since this node's last, read back in seq order: they are
    # handed to on_commit before this batch's own, so every node sees one history, in order
    foreign: list[Appended] = field(default_factory=list)
    # the seq lock is held (and what other nodes committed before it was read back)
    locked: bool = False
    # this batch's own events (stored bodies, seq own_first..seq), for the bus
    own_first: int = 0
    own: list[str] = field(default_factory=list)

    def adopt(self, body: str) -> None:
        """Take in another node's committed event (its stored body), next in seq order."""
        event = stored_event(body)
        self.census.observe(event)
        self.foreign.append(Appended(event, wire_only(body), duplicate=False))


def _input_row(r: Any, duplicate: bool = False) -> StoredInput:
    return StoredInput(int(r[0]), r[1], r[2], bytes(r[3]), r[4], duplicate, r[5], r[6], r[7])


def _audit_row(rec: AuditRecord) -> tuple[str, ...]:
    return (
        rec.at,
        rec.subject,
        rec.role,
        rec.action,
        rec.room,
        rec.outcome,
        rec.reason,
        rec.client,
    )


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as one list per column: the arrays ``unnest`` turns back into rows, so a batch
    of any size is one statement and one round trip."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


def _rowcount(status: str) -> int:
    # asyncpg returns the command tag: "INSERT 0 5", "DELETE 3".
    return int(status.rsplit(" ", 1)[-1])
