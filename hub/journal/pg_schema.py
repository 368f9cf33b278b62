"""The PostgreSQL schema of the journal, as numbered migrations the hub applies itself.

``upgrade(dsn)`` is what ``hub db upgrade`` runs, and ``PostgresJournal.open`` runs the same
steps, so a node may start against an empty database. Several nodes starting at once take turns
on a session advisory lock: the first applies what is missing, the others then find nothing to do.
Each step runs in its own transaction together with its ``schema_migrations`` row, so a step is
either applied and recorded or neither, and a crash half-way through is simply retried.

Steps are append-only: once released, a step's SQL never changes; a change is a new step. The
schema is read through the connection's ``search_path``, so a deployment can keep the hub in its
own PostgreSQL schema (``?search_path=hub`` in the DSN) beside other applications' tables.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import asyncpg

log = logging.getLogger("hub.journal.migrations")

# Arbitrary but fixed: every node must agree on it, and it must not collide with the seq lock.
MIGRATION_LOCK = 0x6875625F6D696772  # "hub_migr"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "journal, room index, inbound store, audit trail and census",
        """
        -- received_at stays ISO 8601 text (UTC, Z suffix, fixed precision) as in the SQLite
        -- journal: it sorts correctly as text and prune takes the same cut-off string.
        CREATE TABLE events (
            seq BIGINT PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            received_at TEXT NOT NULL,
            -- text, not jsonb: replay sends the stored bytes as they are, and jsonb would
            -- reorder keys and lose the trailing internal fields the wire form cuts off
            body TEXT NOT NULL
        );
        CREATE INDEX events_received ON events (received_at);
        CREATE TABLE event_rooms (
            room TEXT NOT NULL,
            seq BIGINT NOT NULL,
            PRIMARY KEY (room, seq)
        );
        -- prune deletes by seq range; without it each batch would scan the room index
        CREATE INDEX event_rooms_seq ON event_rooms (seq);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
        -- seeded here so writers only ever UPDATE them and never race to insert them
        INSERT INTO meta (key, value) VALUES ('last_seq', 0), ('pruned_through', 0);
        CREATE TABLE audit (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at TEXT NOT NULL,
            subject TEXT NOT NULL,
            role TEXT NOT NULL,
            action TEXT NOT NULL,
            room TEXT NOT NULL,
            outcome TEXT NOT NULL,
            reason TEXT NOT NULL,
            client TEXT NOT NULL
        );
        CREATE INDEX audit_room ON audit (room, id);
        CREATE INDEX audit_subject ON audit (subject, id);
        CREATE INDEX audit_at ON audit (at);
        CREATE TABLE inputs (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            source TEXT NOT NULL,
            dedupe_key TEXT UNIQUE,
            received_at TEXT NOT NULL,
            raw BYTEA NOT NULL,
            status TEXT NOT NULL,
            error TEXT,
            reply BYTEA
        );
        CREATE INDEX inputs_status ON inputs (status, source, id);
        CREATE INDEX inputs_received ON inputs (received_at);
        CREATE TABLE patient_locations (
            patient_id TEXT PRIMARY KEY,
            hospital_id TEXT NOT NULL,
            seq BIGINT NOT NULL
        );
        CREATE TABLE triage_cases (
            triage_id TEXT PRIMARY KEY,
            patient_id TEXT NOT NULL,
            seq BIGINT NOT NULL,
            info JSONB NOT NULL
        );
        CREATE INDEX triage_cases_patient ON triage_cases (patient_id);
        CREATE TABLE beds (
            hospital_id TEXT NOT NULL,
            bed_id TEXT NOT NULL,
            patient_id TEXT,
            info JSONB NOT NULL,
            seq BIGINT NOT NULL,
            PRIMARY KEY (hospital_id, bed_id)
        );
        CREATE INDEX beds_patient ON beds (patient_id) WHERE patient_id IS NOT NULL;
        CREATE TABLE staff (
            hospital_id TEXT NOT NULL,
            staff_id TEXT NOT NULL,
            info JSONB NOT NULL,
            seq BIGINT NOT NULL,
            PRIMARY KEY (hospital_id, staff_id)
        );
        """,
    ),
    Migration(
        2,
        "cluster identity, and leases on messages a node is still working on",
        """
        -- names this journal's channel on the bus, so two hubs sharing one Redis never
        -- take each other's events
        INSERT INTO meta (key, value)
        VALUES ('cluster_id', floor(random() * 9.0e15)::bigint)
        ON CONFLICT (key) DO NOTHING;
        -- a pending message (FHIR id-only: resources still to read) belongs to the node that
        -- holds an unexpired lease on it; when that node dies, another takes it over
        ALTER TABLE inputs ADD COLUMN lease_owner TEXT, ADD COLUMN lease_until TIMESTAMPTZ;
        CREATE INDEX inputs_pending ON inputs (source, lease_until) WHERE status = 'pending';
        """,
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


async def applied_versions(conn: Any) -> list[int]:
    """Versions recorded in ``schema_migrations``, oldest first; empty on a new database."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return []
    rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    return [int(r[0]) for r in rows]


async def migrate(conn: Any, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Apply the steps ``conn``'s database lacks, in order; returns the versions applied now."""
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)):
        raise ValueError("migration versions must be unique and increasing")
    # A session lock rather than one transaction around every step: a future step may need to
    # run outside a transaction (CREATE INDEX CONCURRENTLY), and the lock is released when the
    # connection ends, so a node killed mid-upgrade does not wedge the others.
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        # Inside the lock: concurrent CREATE TABLE IF NOT EXISTS can still collide in the
        # catalog and fail with a unique violation.
        await conn.execute(_BOOKKEEPING)
        done = set(await applied_versions(conn))
        unknown = sorted(done - set(versions))
        if unknown:
            # A newer hub upgraded this database; steps are additive, so an older node can
            # still run during a rolling upgrade, but somebody should know.
            log.warning(
                "database schema is newer than this hub",
                extra={"unknown_versions": unknown, "latest_known": versions[-1]},
            )
        applied: list[int] = []
        for step in migrations:
            if step.version in done:
                continue
            async with conn.transaction():
                await conn.execute(step.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, description) VALUES ($1, $2)",
                    step.version,
                    step.description,
                )
            log.info(
                "schema migration applied",
                extra={"version": step.version, "description": step.description},
            )
            applied.append(step.version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)


async def upgrade(dsn: str) -> list[int]:
    """Bring the database at ``dsn`` to the latest schema; what ``hub db upgrade`` runs.

    Safe to run on every start and from several nodes at once. Returns the versions applied by
    this call (empty when the schema was already current).
    """
    conn = await asyncpg.connect(dsn)
    try:
        return await migrate(conn)
    finally:
        await conn.close()
