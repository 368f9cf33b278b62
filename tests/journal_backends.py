"""Both journal backends behind one factory, so a behaviour test runs once on each.

``journal_factory`` (tests/conftest.py) is parametrized ``sqlite`` / ``postgresql``; each call
opens a new journal of that backend on the test's own storage (a file in ``tmp_path``, or a
schema of its own in a throwaway database), so calling it again after ``close`` is a restart.

The PostgreSQL server is ``HUB_TEST_POSTGRES_DSN`` (default: trust auth on 127.0.0.1:5432, as CI
starts it). A database is created per test module and dropped at its end; each test gets its
own schema in it (through ``search_path`` in the DSN), so tests start from an empty journal
without paying for a CREATE DATABASE each. When the server cannot be reached, the
``postgresql`` tests skip and the ``sqlite`` ones still run.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from hub.journal import Journal, SQLiteJournal
from hub.journal.postgres import PostgresJournal

SERVER_DSN = os.environ.get(
    "HUB_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)

Backend = Literal["sqlite", "postgresql"]
BACKENDS: tuple[Backend, ...] = ("sqlite", "postgresql")


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


async def schema_dsn(database: str) -> str:
    """A DSN on ``database`` whose tables live in a new schema of their own."""
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


class JournalFactory:
    """Opens journals of one backend on one storage and closes, at teardown, those a test
    left open. Every call opens a new journal on the same storage: a restart."""

    def __init__(self, backend: Backend, location: Path | str) -> None:
        self.backend = backend
        self.location = location  # the SQLite file, or the PostgreSQL DSN (with its schema)
        self._opened: list[Journal] = []

    @property
    def integrity_error(self) -> type[Exception]:
        """What a write that breaks a constraint (a NOT NULL column) raises."""
        if self.backend == "sqlite":
            return sqlite3.IntegrityError
        return asyncpg.NotNullViolationError

    async def __call__(self, *, postgresql: dict[str, Any] | None = None, **kw: Any) -> Journal:
        """A journal opened with ``kw`` (options both backends take, e.g. ``on_commit``,
        ``group_commit_max``), plus ``postgresql`` options only that backend has."""
        journal: Journal
        if self.backend == "sqlite":
            assert isinstance(self.location, Path)
            journal = SQLiteJournal(self.location, **kw)
        else:
            assert isinstance(self.location, str)
            journal = PostgresJournal(self.location, **kw, **(postgresql or {}))
        await journal.open()
        self._opened.append(journal)
        return journal

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of a query straight on the storage, beside any open journal."""
        if self.backend == "postgresql":
            assert isinstance(self.location, str)
            return [tuple(r) for r in await fetch(self.location, sql)]
        with closing(sqlite3.connect(self.location)) as conn:
            return [tuple(r) for r in conn.execute(sql).fetchall()]

    async def close_all(self) -> None:
        for journal in self._opened:
            # a journal the test closed already says so; closing twice is not allowed
            if await journal.check_writable() != "journal not open":
                await journal.close()
