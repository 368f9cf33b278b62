"""Shared fixtures: a real hub process on a free port, tokens for it, and clients."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.auth import mint_token
from hub.config import HubConfig
from hub.testing import LiveHub
from tests.journal_backends import (
    BACKENDS,
    Backend,
    JournalFactory,
    schema_dsn,
    temporary_database,
)

SECRET = "test-secret-" + "x" * 40
ROOT = Path(__file__).resolve().parent.parent


class HubProcess(LiveHub):
    """A hub started with ``python -m hub serve`` in its own state directory, signed with the
    suite's secret and the repository's config file."""

    def __init__(self, state: Path, extra_env: dict[str, str] | None = None) -> None:
        super().__init__(
            state, secret=SECRET, config=ROOT / "config" / "hub.toml", extra_env=extra_env
        )


def token(
    role: str = "nurse",
    hospitals: list[str] | None = None,
    patients: list[str] | None = None,
    sub: str = "user-1",
    ttl_s: float = 3600,
    secret: str = SECRET,
) -> str:
    return mint_token(
        secret, sub=sub, role=role, hospitals=hospitals, patients=patients, ttl_s=ttl_s
    )


def embedded_config(state: Path) -> HubConfig:
    """Defaults with the journal in ``state`` and a fixed secret, for in-process hubs."""
    cfg = HubConfig()
    cfg.journal.path = state / "journal.sqlite3"
    cfg.auth.secret = "s" * 40
    return cfg


def uid(prefix: str) -> str:
    """Fresh ids keep tests independent on a shared hub."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    hub = HubProcess(tmp_path_factory.mktemp("hub")).start()
    yield hub
    hub.stop()


@pytest.fixture
def fresh_hub(tmp_path: Path) -> Iterator[HubProcess]:
    """A hub of the test's own, for tests that restart or kill it."""
    hub = HubProcess(tmp_path)
    yield hub
    hub.stop()


@pytest.fixture(scope="session")
def service_token() -> str:
    return token(role="service", sub="svc-test")


@pytest.fixture(scope="session")
def admin_token() -> str:
    return token(role="admin", sub="admin-1")


def publish(hub: HubProcess, event_type: str, body: dict[str, Any], tok: str) -> httpx.Response:
    return httpx.post(
        f"{hub.url}/api/events/{event_type}",
        json=body,
        headers={"Authorization": f"Bearer {tok}"},
        timeout=10,
    )


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database for the module (skips when the server is unreachable)."""
    yield from temporary_database()


@pytest.fixture(params=BACKENDS)
def journal_storage(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Backend, Path | str]:
    """Where this test's journal lives: a file, or the module's PostgreSQL database. Sync, so
    the database is made (or the test skipped) outside the test's event loop."""
    if request.param == "sqlite":
        return "sqlite", tmp_path / "j.sqlite3"
    return "postgresql", request.getfixturevalue("pg_database")


@pytest.fixture
async def journal_factory(
    journal_storage: tuple[Backend, Path | str],
) -> AsyncIterator[JournalFactory]:
    """Opens journals of the test's backend (``sqlite`` / ``postgresql``) on its own storage;
    calling it again reopens the same storage. Journals left open are closed at teardown."""
    backend, location = journal_storage
    if backend == "postgresql":
        assert isinstance(location, str)
        location = await schema_dsn(location)
    factory = JournalFactory(backend, location)
    yield factory
    await factory.close_all()
