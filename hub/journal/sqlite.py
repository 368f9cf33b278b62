"""SQLite journal: the embedded default.

One writer thread owns the write connection; appends and audit records from many coroutines are
gathered into one transaction (group commit), so one fsync covers every event in the batch and
each caller's future resolves only after that commit. The thread takes everything queued while
the previous commit was being synced, so batches grow with load without the event loop's help,
and it hands each batch's results back with one callback on the loop. ``synchronous=FULL`` in
WAL mode makes a commit survive power loss, which is what lets the hub answer 202 (or ACK) after
``append``.
Reads use their own connection and thread, so a long replay never blocks writes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from hub.events import Event
from hub.journal.base import Appended, AuditRecord, InputRecord, ReplayPage, StoredInput
from hub.journal.census import CensusChanges, CensusReads, MemoryCensus
from hub.journal.codec import batch_weight, stored_event, stored_form, wire_only
from hub.journal.queued import QueuedWrites

log = logging.getLogger("hub.journal")

# (kind, payload, future): a write for the writer thread, or ("call", function, future) to run a
# function on the write connection outside any transaction.
_Item = tuple[str, Any, "asyncio.Future[Any]"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    received_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS event_rooms (
    room TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (room, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_received ON events(received_at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    subject TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    room TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    client TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_room ON audit(room, id);
CREATE TABLE IF NOT EXISTS inputs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    dedupe_key TEXT UNIQUE,
    received_at TEXT NOT NULL,
    raw BLOB NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    reply BLOB
);
CREATE INDEX IF NOT EXISTS inputs_status ON inputs(status, source);
CREATE INDEX IF NOT EXISTS inputs_received ON inputs(received_at);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
CREATE TABLE IF NOT EXISTS triage_cases (
    triage_id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    info TEXT
);
CREATE TABLE IF NOT EXISTS beds (
    hospital_id TEXT NOT NULL,
    bed_id TEXT NOT NULL,
    patient_id TEXT,
    info TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (hospital_id, bed_id)
);
CREATE TABLE IF NOT EXISTS staff (
    hospital_id TEXT NOT NULL,
    staff_id TEXT NOT NULL,
    info TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (hospital_id, staff_id)
);
CREATE TABLE IF NOT EXISTS patient_locations (
    patient_id TEXT PRIMARY KEY,
    hospital_id TEXT NOT NULL,
    seq INTEGER NOT NULL
);
"""


def _connect(path: Path, synchronous: str = "FULL") -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class SQLiteJournal(CensusReads, QueuedWrites):
    def __init__(
        self,
        path: Path,
        group_commit_max: int = 512,
        on_commit: Callable[[list[Appended], int, float], None] | None = None,
        durable: bool = True,
    ) -> None:
        # durable=False (no fsync at commit) exists only to measure what durability costs
        # (bench/journal_durability.py); the hub always runs durable, its ACKs depend on it.
        self._synchronous = "FULL" if durable else "OFF"
        self._path = path
        self._group_commit_max = group_commit_max
        self._on_commit = on_commit
        self._reader_pool = ThreadPoolExecutor(2, thread_name_prefix="journal-read")
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # None asks the writer thread to stop once everything queued before it is written.
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._writer_thread: threading.Thread | None = None
        self._last_seq = 0
        self._pruned_through = 0
        self._memory = MemoryCensus()

    @property
    def last_seq(self) -> int:
        return self._last_seq

    async def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        loop = self._loop = asyncio.get_running_loop()
        self._writer_thread = threading.Thread(
            target=self._run_writer, name="journal-write", daemon=True
        )
        self._writer_thread.start()
        self._wconn = await self._submit("call", self._open_writer)
        self._rconn = await loop.run_in_executor(self._reader_pool, _connect, self._path)

    def _open_writer(self) -> sqlite3.Connection:
        conn = _connect(self._path, self._synchronous)
        conn.executescript(SCHEMA)
        row = conn.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()
        self._last_seq = row[0] if row else 0
        row = conn.execute("SELECT value FROM meta WHERE key='pruned_through'").fetchone()
        self._pruned_through = row[0] if row else 0
        memory = self._memory
        memory.locations = dict(
            conn.execute("SELECT patient_id, hospital_id FROM patient_locations")
        )
        columns = {row[1] for row in conn.execute("PRAGMA table_info(triage_cases)")}
        if "info" not in columns:  # journals written before triage status was kept
            conn.execute("ALTER TABLE triage_cases ADD COLUMN info TEXT")
        memory.triage = {
            tid: orjson.loads(info) if info else {"patient_id": pid}
            for tid, pid, info in conn.execute(
                "SELECT triage_id, patient_id, info FROM triage_cases"
            )
        }
        for hid, bid, info in conn.execute(
            "SELECT hospital_id, bed_id, info FROM beds ORDER BY seq"
        ):
            memory.load_bed(hid, bid, orjson.loads(info))
        for hid, sid, info in conn.execute("SELECT hospital_id, staff_id, info FROM staff"):
            memory.load_staff(hid, sid, orjson.loads(info))
        return conn

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        thread, self._writer_thread = self._writer_thread, None
        if thread is not None:
            self._queue.put(None)  # after every write already queued; it closes the connection
            await loop.run_in_executor(self._reader_pool, thread.join)
        if self._rconn is not None:
            await loop.run_in_executor(self._reader_pool, self._rconn.close)
        self._reader_pool.shutdown()

    # --- writes -----------------------------------------------------------------------------

    def _submit(self, kind: str, payload: Any) -> asyncio.Future[Any]:
        assert self._writer_thread is not None, "journal not open"
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put((kind, payload, fut))
        return fut

    async def pending_inputs(self, source: str) -> list[StoredInput]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader_pool, self._pending_inputs, source)

    async def claim_pending(self, source: str) -> list[StoredInput]:
        # one process owns this file: nobody else could be working on them
        return await self.pending_inputs(source)

    def _pending_inputs(self, source: str) -> list[StoredInput]:
        return self._list_inputs("pending", source, 0, 1_000_000)

    _INPUT_COLUMNS = "id, source, dedupe_key, raw, status, reply, error, received_at"

    @staticmethod
    def _input_row(r: Any, duplicate: bool = False) -> StoredInput:
        return StoredInput(r[0], r[1], r[2], bytes(r[3]), r[4], duplicate, r[5], r[6], r[7])

    async def list_inputs(
        self, status: str | None, source: str | None, since_id: int, limit: int
    ) -> list[StoredInput]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._reader_pool, self._list_inputs, status, source, since_id, limit
        )

    def _list_inputs(
        self, status: str | None, source: str | None, since_id: int, limit: int
    ) -> list[StoredInput]:
        conn = self._rconn
        assert conn is not None
        sql = f"SELECT {self._INPUT_COLUMNS} FROM inputs WHERE id > ?"
        args: list[Any] = [since_id]
        if status:
            sql += " AND status = ?"
            args.append(status)
        if source:
            sql += " AND source = ?"
            args.append(source)
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        return [self._input_row(r) for r in conn.execute(sql, args)]

    async def get_input(self, input_id: int) -> StoredInput | None:
        rows = await self.list_inputs(None, None, input_id - 1, 1)
        return rows[0] if rows and rows[0].id == input_id else None

    def _write_input(self, conn: sqlite3.Connection, payload: Any) -> StoredInput:
        source, key, raw, received_at, status, error = payload
        if key is not None:
            row = conn.execute(
                f"SELECT {self._INPUT_COLUMNS} FROM inputs WHERE dedupe_key = ?", (key,)
            ).fetchone()
            if row is not None:
                return self._input_row(row, duplicate=True)
        cur = conn.execute(
            "INSERT INTO inputs(source, dedupe_key, received_at, raw, status, error)"
            " VALUES (?,?,?,?,?,?)",
            (source, key, received_at, raw, status, error),
        )
        assert cur.lastrowid is not None
        return StoredInput(cur.lastrowid, source, key, raw, status, False, None, error, received_at)

    def _run_writer(self) -> None:
        """The writer thread: every use of the write connection happens here, one at a time."""
        q = self._queue
        held: list[_Item | None] = []  # taken from the queue but kept out of the last batch
        last_size = 0
        while True:
            first = held.pop() if held else q.get()
            if first is None:
                if self._wconn is not None:
                    self._wconn.close()
                return
            if first[0] == "call":
                self._run_call(first)
                continue
            items = [first]
            count = _weight(first)
            # Everything already waiting joins this transaction: the group commit. A "call"
            # (prune, a probe) runs outside any transaction, so it waits for the next round.
            deadline = 0.0
            while count < self._group_commit_max:
                try:
                    nxt = q.get_nowait()
                except queue.Empty:
                    if len(items) >= last_size:
                        break
                    now = time.perf_counter()
                    deadline = deadline or now + _LINGER
                    if now >= deadline:
                        break
                    try:
                        nxt = q.get(timeout=deadline - now)
                    except queue.Empty:
                        break
                if nxt is None or nxt[0] == "call":
                    held.append(nxt)
                    break
                items.append(nxt)
                count += _weight(nxt)
            last_size = len(items)
            started = time.perf_counter()
            try:
                results = self._write(items)
            except Exception as exc:
                log.exception("journal write failed", extra={"batch": len(items)})
                self._to_loop(self._fail, items, exc)
                continue
            self._to_loop(self._committed, items, results, count, time.perf_counter() - started)

    def _run_call(self, item: _Item) -> None:
        _, fn, fut = item
        try:
            result = fn()
        except Exception as exc:
            self._to_loop(self._fail, [item], exc)
        else:
            self._to_loop(_resolve, fut, result)

    def _to_loop(self, callback: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: nobody is left waiting for the answer
            log.warning("journal result dropped: event loop closed")

    @staticmethod
    def _fail(items: list[_Item], exc: Exception) -> None:
        for _, _, fut in items:
            if not fut.done():
                fut.set_exception(exc)

    def _committed(
        self, items: list[_Item], results: list[Any], count: int, seconds: float
    ) -> None:
        """On the loop, once per commit and in commit order: callbacks first, then callers."""
        if self._on_commit is not None:
            appended = [
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

    def _write(self, items: list[_Item]) -> list[Any]:
        conn = self._wconn
        assert conn is not None
        batch = _Batch(self._last_seq, self._memory.changes())
        results: list[Any] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for kind, payload, _ in items:
                if kind == "events":
                    results.append(self._append(conn, [(ev.id, ev) for ev in payload], batch))
                elif kind == "accept":
                    results.append(self._accept(conn, payload, batch))
                elif kind == "input":
                    results.append(self._write_input(conn, payload))
                elif kind == "input_done":
                    input_id, status, reply, error = payload
                    conn.execute(
                        "UPDATE inputs SET status = ?, reply = ?, error = ? WHERE id = ?",
                        (status, reply, error, input_id),
                    )
                    results.append(None)
                elif kind == "audit":
                    rec: AuditRecord = payload
                    conn.execute(
                        "INSERT INTO audit(at, subject, role, action, room, outcome, reason,"
                        " client) VALUES (?,?,?,?,?,?,?,?)",
                        (
                            rec.at,
                            rec.subject,
                            rec.role,
                            rec.action,
                            rec.room,
                            rec.outcome,
                            rec.reason,
                            rec.client,
                        ),
                    )
                    results.append(None)
                else:
                    raise ValueError(f"unknown journal write {kind!r}")
            if batch.seq != self._last_seq:
                _store_census(conn, batch.census)
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('last_seq', ?)"
                    " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (batch.seq,),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._last_seq = batch.seq
        self._memory.commit(batch.census)
        return results

    def _accept(
        self,
        conn: sqlite3.Connection,
        payload: tuple[InputRecord, list[tuple[str, Event]]],
        batch: _Batch,
    ) -> tuple[StoredInput, list[Appended]]:
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
        # Inserting first and looking only on a conflict saves a statement on every new message;
        # a resent one costs one more, and resends are rare.
        cur = conn.execute(_INSERT_INPUT + " ON CONFLICT(dedupe_key) DO NOTHING", row)
        if not cur.rowcount:
            found = conn.execute(
                f"SELECT {self._INPUT_COLUMNS} FROM inputs WHERE dedupe_key = ?",
                (record.dedupe_key,),
            ).fetchone()
            earlier = self._input_row(found, duplicate=True)
            if earlier.status != "error" or earlier.raw == record.raw:
                return earlier, []
            # A corrected resend under the control id of a message that failed: it is
            # new content, so it is processed; the failed one stays listed as an error.
            conn.execute("UPDATE inputs SET dedupe_key = NULL WHERE id = ?", (earlier.id,))
            cur = conn.execute(_INSERT_INPUT, row)
        input_id = cur.lastrowid
        assert input_id is not None
        stored, named = record.kept(input_id, events)
        return stored, self._append(conn, named, batch)

    def _append(
        self, conn: sqlite3.Connection, events: list[tuple[str, Event]], batch: _Batch
    ) -> list[Appended]:
        """Journal ``(id, event)`` pairs; an event is stored under the id paired with it."""
        appended: list[Appended] = []
        for event_id, ev in events:
            seq = batch.seq + 1
            # One copy sets both: a model_copy is the costliest Python step of an append.
            update: dict[str, Any] = (
                {"seq": seq} if ev.id == event_id else {"seq": seq, "id": event_id}
            )
            event = ev.model_copy(update=update)
            wire = orjson.dumps(stored_form(event)).decode()
            # The id's UNIQUE index is the idempotency check: a known id inserts nothing and
            # takes no seq, and only then is the stored event read back.
            if not conn.execute(
                "INSERT INTO events(seq, id, type, received_at, body) VALUES (?,?,?,?,?)"
                " ON CONFLICT(id) DO NOTHING",
                (seq, event_id, event.type, event.received_at, wire),
            ).rowcount:
                existing = conn.execute(
                    "SELECT body FROM events WHERE id=?", (event_id,)
                ).fetchone()
                stored = stored_event(existing[0])
                appended.append(Appended(stored, wire_only(existing[0]), duplicate=True))
                continue
            batch.seq = seq
            rooms = event.rooms
            if rooms:
                conn.execute(_rooms_sql(len(rooms)), [v for room in rooms for v in (room, seq)])
            batch.census.observe(event)
            appended.append(Appended(event, wire_only(wire), duplicate=False))
        return appended

    async def prune(self, older_than_iso: str) -> int:
        deleted: int = await self._submit("call", functools.partial(self._prune, older_than_iso))
        return deleted

    def _prune(self, older_than_iso: str) -> int:
        conn = self._wconn
        assert conn is not None
        row = conn.execute(
            "SELECT MAX(seq) FROM events WHERE received_at < ?", (older_than_iso,)
        ).fetchone()
        through = row[0] if row and row[0] else 0
        if through <= self._pruned_through:
            return 0
        conn.execute("BEGIN IMMEDIATE")
        try:
            deleted = conn.execute("DELETE FROM events WHERE seq <= ?", (through,)).rowcount
            conn.execute("DELETE FROM event_rooms WHERE seq <= ?", (through,))
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('pruned_through', ?)"
                " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (through,),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._pruned_through = through
        return int(deleted)

    async def prune_records(self, inputs_before_iso: str, audit_before_iso: str) -> tuple[int, int]:
        counts = []
        for sql, cutoff in (
            (_PRUNE_INPUTS, inputs_before_iso),
            (
                "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < ? LIMIT ?)",
                audit_before_iso,
            ),
        ):
            total = 0
            while True:
                # one small transaction per step, queued like any write: the writers' own
                # transactions go in between, so a large backlog never holds them up
                step = functools.partial(self._delete_step, sql, cutoff)
                deleted: int = await self._submit("call", step)
                total += deleted
                if deleted < PRUNE_STEP:
                    break
            counts.append(total)
        return counts[0], counts[1]

    def _delete_step(self, sql: str, cutoff: str) -> int:
        conn = self._wconn
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            deleted = conn.execute(sql, (cutoff, PRUNE_STEP)).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return int(deleted)

    async def check_writable(self) -> str | None:
        if self._writer_thread is None:
            return "journal not open"
        problem: str | None = await self._submit("call", self._check_writable)
        return problem

    def _check_writable(self) -> str | None:
        conn = self._wconn
        if conn is None:
            return "journal not open"
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            return f"journal not writable: {exc}"
        return None

    # --- reads ------------------------------------------------------------------------------

    async def read_room(self, room: str, since: int, until: int, limit: int) -> ReplayPage:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._reader_pool, self._read_room, room, since, until, limit
        )

    def _read_room(self, room: str, since: int, until: int, limit: int) -> ReplayPage:
        conn = self._rconn
        assert conn is not None
        rows = conn.execute(
            "SELECT e.seq, e.body FROM event_rooms r JOIN events e ON e.seq = r.seq"
            " WHERE r.room = ? AND r.seq > ? AND r.seq <= ? ORDER BY r.seq LIMIT ?",
            (room, since, until, limit),
        ).fetchall()
        return ReplayPage(
            items=[(seq, wire_only(body)) for seq, body in rows],
            truncated=since < self._pruned_through,
        )

    async def read_ids(self, ids: list[str]) -> dict[str, int]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader_pool, self._read_ids, ids)

    async def read_events(self, ids: list[str]) -> list[Event]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader_pool, self._read_events, ids)

    def _read_events(self, ids: list[str]) -> list[Event]:
        conn = self._rconn
        assert conn is not None
        rows: list[tuple[int, str]] = []
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows.extend(conn.execute(f"SELECT seq, body FROM events WHERE id IN ({marks})", chunk))
        return [stored_event(body) for _, body in sorted(rows)]

    async def read_recent(self, types: list[str], received_after: str) -> list[Event]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._reader_pool, self._read_recent, types, received_after
        )

    def _read_recent(self, types: list[str], received_after: str) -> list[Event]:
        conn = self._rconn
        assert conn is not None
        marks = ",".join("?" * len(types))
        rows = conn.execute(
            f"SELECT body FROM events WHERE received_at > ? AND type IN ({marks}) ORDER BY seq",
            [received_after, *types],
        )
        return [stored_event(body) for (body,) in rows]

    def _read_ids(self, ids: list[str]) -> dict[str, int]:
        conn = self._rconn
        assert conn is not None
        found: dict[str, int] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            found.update(conn.execute(f"SELECT id, seq FROM events WHERE id IN ({marks})", chunk))
        return found

    async def read_audit(
        self, since_id: int, limit: int, room: str | None, subject: str | None
    ) -> list[tuple[int, AuditRecord]]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._reader_pool, self._read_audit, since_id, limit, room, subject
        )

    def _read_audit(
        self, since_id: int, limit: int, room: str | None, subject: str | None
    ) -> list[tuple[int, AuditRecord]]:
        conn = self._rconn
        assert conn is not None
        sql = (
            "SELECT id, at, subject, role, action, room, outcome, reason, client FROM audit"
            " WHERE id > ?"
        )
        args: list[Any] = [since_id]
        if room:
            sql += " AND room = ?"
            args.append(room)
        if subject:
            sql += " AND subject = ?"
            args.append(subject)
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        return [(row[0], AuditRecord(*row[1:])) for row in conn.execute(sql, args)]


# How long a batch smaller than the previous one waits for the rest of those writers. A commit
# costs about as much CPU as journaling several messages (the fsync and the pages it rewrites),
# so under load halving the commits is worth a fraction of a millisecond of ACK latency; a lone
# writer (the previous batch was one item) never waits.
_LINGER = 300e-6

PRUNE_STEP = 1000
_PRUNE_INPUTS = (
    "DELETE FROM inputs WHERE id IN (SELECT id FROM inputs"
    " WHERE received_at < ? AND status != 'pending' LIMIT ?)"
)

_INSERT_INPUT = (
    "INSERT INTO inputs(source, dedupe_key, received_at, raw, status, reply, error)"
    " VALUES (?,?,?,?,?,?,?)"
)


@dataclass(slots=True)
class _Batch:
    """One write transaction: the seq it reached and its census changes (in memory once it
    has committed)."""

    seq: int
    census: CensusChanges


def _store_census(conn: sqlite3.Connection, changes: CensusChanges) -> None:
    """The census rows a transaction changed, in their final state, with its events."""
    if changes.locations:
        conn.executemany(
            "INSERT INTO patient_locations(patient_id, hospital_id, seq) VALUES (?,?,?)"
            " ON CONFLICT(patient_id) DO UPDATE SET hospital_id=excluded.hospital_id,"
            " seq=excluded.seq",
            [(pid, hid, seq) for pid, (hid, seq) in changes.locations.items()],
        )
    if changes.triage:
        conn.executemany(
            "INSERT INTO triage_cases(triage_id, patient_id, seq, info) VALUES (?,?,?,?)"
            " ON CONFLICT(triage_id) DO UPDATE SET patient_id=excluded.patient_id,"
            " seq=excluded.seq, info=excluded.info",
            [
                (tid, case["patient_id"], seq, orjson.dumps(case).decode())
                for tid, (case, seq) in changes.triage.items()
            ],
        )
    if changes.beds:
        conn.executemany(
            "INSERT INTO beds(hospital_id, bed_id, patient_id, info, seq) VALUES (?,?,?,?,?)"
            " ON CONFLICT(hospital_id, bed_id) DO UPDATE SET patient_id=excluded.patient_id,"
            " info=excluded.info, seq=excluded.seq",
            [
                (hid, bid, info.get("patient_id"), orjson.dumps(info).decode(), info["seq"])
                for (hid, bid), info in changes.beds.items()
            ],
        )
    if changes.staff:
        conn.executemany(
            "INSERT INTO staff(hospital_id, staff_id, info, seq) VALUES (?,?,?,?)"
            " ON CONFLICT(hospital_id, staff_id) DO UPDATE SET info=excluded.info,"
            " seq=excluded.seq",
            [
                (hid, sid, orjson.dumps(record).decode(), record["seq"])
                for (hid, sid), record in changes.staff.items()
            ],
        )


@functools.cache
def _rooms_sql(count: int) -> str:
    # One statement for all of an event's rooms: executemany steps once per row.
    return "INSERT INTO event_rooms(room, seq) VALUES " + ",".join(["(?,?)"] * count)


def _resolve(fut: asyncio.Future[Any], result: Any) -> None:
    if not fut.done():
        fut.set_result(result)


def _weight(item: _Item) -> int:
    return batch_weight(item[0], item[1])
