"""deploy/entrypoint.sh, the container's entrypoint, run for real: under /bin/sh with the venv's
`hub` first on PATH, against the real PostgreSQL (a database of each test's own), starting real
hub processes that answer /ready."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.config import JournalConfig
from hub.journal.pg_schema import LATEST_VERSION
from hub.testing import LiveHub, free_port
from tests.test_journal_postgres import _run, fetch, temporary_database

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
VENV_BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(
    not (VENV_BIN / "hub").exists(), reason="run with the venv's pytest: its `hub` goes on PATH"
)


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    yield from temporary_database()


class Node(LiveHub):
    """A hub started the way the container starts it: ``sh deploy/entrypoint.sh [args]``.

    LiveHub's free ports, state directory and environment (signing secret, MLLP listener
    moved off 2575); ``env`` values of None remove a variable.
    """

    def __init__(self, state: Path, env: dict[str, str | None] | None = None) -> None:
        super().__init__(state)
        self.changes = {"HUB_LOGGING__FORMAT": "text", **(env or {})}
        self.args: tuple[str, ...] = ()
        state.mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str]:
        env = super().env()
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
        for key, value in self.changes.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def run(self, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        """The entrypoint to its end: a refusal, or a one-off command."""
        return subprocess.run(
            ["/bin/sh", str(ENTRYPOINT), *args],
            cwd=self.state,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def command(self) -> list[str]:
        return ["/bin/sh", str(ENTRYPOINT), *self.args]

    def start(self, *args: str, timeout_s: float = 10) -> Node:  # type: ignore[override]
        self.args = args
        super().start(timeout_s)
        return self

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def healthcheck() -> list[str]:
    """The Containerfile's HEALTHCHECK command (exec form)."""
    text = (ROOT / "Containerfile").read_text().replace("\\\n", " ")
    match = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", text, re.MULTILINE)
    assert match, "Containerfile has no exec-form HEALTHCHECK"
    return list(json.loads(match.group(1)))


def schema_versions(dsn: str) -> list[int]:
    present = _run(fetch(dsn, "SELECT to_regclass('schema_migrations') IS NOT NULL"))
    if not present[0][0]:
        return []
    return [r[0] for r in _run(fetch(dsn, "SELECT version FROM schema_migrations ORDER BY 1"))]


def test_a_postgresql_node_migrates_serves_and_stops_on_sigterm(
    pg_dsn: str, tmp_path: Path
) -> None:
    node = Node(tmp_path, {"HUB_JOURNAL__BACKEND": "postgresql", "HUB_JOURNAL__DSN": pg_dsn})
    node.start()
    try:
        assert schema_versions(pg_dsn)[-1] == LATEST_VERSION
        assert "applied migrations: 1" in node.output()
        assert httpx.get(node.url + "/ready").json()["ready"] is True
        # exec: the process the entrypoint started as is now the hub itself, with no shell
        # left in between to swallow the signal
        assert node.proc is not None
        argv = Path(f"/proc/{node.proc.pid}/cmdline").read_bytes().split(b"\0")
        assert b"serve" in argv and not any(b"entrypoint" in a for a in argv), argv
        began = time.monotonic()
        node.proc.send_signal(signal.SIGTERM)
        assert node.proc.wait(timeout=8) == 0, node.output()
        assert time.monotonic() - began < 5
    finally:
        node.stop()


def test_sqlite_by_default_with_the_secret_from_a_file_and_options_for_serve(
    tmp_path: Path,
) -> None:
    # what compose does with a `secrets:` file; the port comes as an option to `hub serve`
    node = Node(tmp_path, {"HUB_AUTH__SECRET": None, "HUB_SERVER__PORT": None})
    (tmp_path / "secret").write_text(node.secret + "\n")
    node.start("--port", str(node.port))
    check = {**os.environ, "HUB_SERVER__PORT": str(node.port)}
    try:
        assert (tmp_path / "journal.sqlite3").exists()
        assert not (tmp_path / "var").exists(), "no development secret may be generated"
        ok = httpx.get(
            node.url + "/api/plugins", headers={"Authorization": f"Bearer {node.token('admin')}"}
        )
        assert ok.status_code == 200
        other = LiveHub(tmp_path / "other").token("admin")  # signed with another secret
        bad = httpx.get(node.url + "/api/plugins", headers={"Authorization": f"Bearer {other}"})
        assert bad.status_code == 401
        assert subprocess.run(healthcheck(), env=check, timeout=10).returncode == 0
    finally:
        node.stop()
    down = subprocess.run(healthcheck(), env=check, capture_output=True, timeout=10)
    assert down.returncode == 1


def test_no_secret_is_refused_unless_a_development_secret_is_allowed(tmp_path: Path) -> None:
    unset = {"HUB_AUTH__SECRET": None, "HUB_AUTH__SECRET_FILE": None}
    refused = Node(tmp_path, unset).run()
    assert refused.returncode == 2, refused.stderr
    assert "HUB_AUTH__SECRET" in refused.stderr and "HUB_ALLOW_DEV_SECRET" in refused.stderr
    assert not (tmp_path / "var").exists(), "the hub must not have started"

    node = Node(tmp_path, {**unset, "HUB_ALLOW_DEV_SECRET": "1"})
    node.start()
    try:
        assert (tmp_path / "var" / "dev-secret").exists()
        assert "DEVELOPMENT signing secret" in node.output()
    finally:
        node.stop()


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"HUB_AUTH__SECRET": None}, "HUB_AUTH__SECRET_FILE"),  # named, but no such file
        (
            {
                "HUB_AUTH__SECRET": None,
                "HUB_AUTH__SECRET_FILE": None,
                "HUB_AUTH__JWKS_URL": "https://idp.invalid/jwks",
            },
            "HUB_AUTH__ALGORITHMS",  # HS256 still accepted: it would use a generated secret
        ),
        ({"HUB_DB_WAIT_S": "soon", "HUB_JOURNAL__BACKEND": "postgresql"}, "HUB_DB_WAIT_S"),
        ({"HUB_DB_PASSWORD_FILE": "/nonexistent/db-password"}, "HUB_DB_PASSWORD_FILE"),
        ({"HUB_JOURNAL__BACKEND": "postgresql"}, "HUB_JOURNAL__DSN"),  # the hub's own check
    ],
)
def test_misconfiguration_is_refused_before_the_hub_starts(
    tmp_path: Path, env: dict[str, str | None], names: str
) -> None:
    if env.get("HUB_DB_WAIT_S"):
        env = {**env, "HUB_JOURNAL__DSN": "postgresql://hub@127.0.0.1:1/hub"}
    out = Node(tmp_path, env).run()
    assert out.returncode == 2, out.stderr
    assert names in out.stderr
    assert "serving on" not in out.stderr


def test_the_database_wait_is_bounded(tmp_path: Path) -> None:
    dsn = f"postgresql://hub:not-for-logs@127.0.0.1:{free_port()}/hub"
    node = Node(
        tmp_path,
        {"HUB_JOURNAL__BACKEND": "postgresql", "HUB_JOURNAL__DSN": dsn, "HUB_DB_WAIT_S": "2"},
    )
    began = time.monotonic()
    out = node.run()
    took = time.monotonic() - began
    assert out.returncode == 1, out.stderr
    assert "did not answer within 2 s (HUB_DB_WAIT_S)" in out.stderr
    assert "not-for-logs" not in out.stderr + out.stdout
    assert "serving on" not in out.stderr
    assert 2 <= took < 8


@pytest.mark.skipif(
    "migrate_on_open" not in JournalConfig.model_fields,
    reason="needs journal.migrate_on_open (HUB_JOURNAL__MIGRATE_ON_OPEN) in hub/config.py, "
    "passed to PostgresJournal(migrate_on_open=...)",
)
def test_without_migrations_the_hub_refuses_an_empty_database(pg_dsn: str, tmp_path: Path) -> None:
    node = Node(
        tmp_path,
        {"HUB_JOURNAL__BACKEND": "postgresql", "HUB_JOURNAL__DSN": pg_dsn, "HUB_MIGRATE": "0"},
    )
    out = node.run()
    assert out.returncode != 0
    assert "run `hub db upgrade`" in out.stderr
    assert "applied migrations" not in out.stdout
    assert schema_versions(pg_dsn) == []


def test_a_command_is_run_as_given_without_the_node_checks(tmp_path: Path) -> None:
    (tmp_path / "db-password").write_text("pw-from-file\n")
    # none of these would let `hub serve` start: no secret, and a database that never answers
    node = Node(
        tmp_path,
        {
            "HUB_AUTH__SECRET": None,
            "HUB_AUTH__SECRET_FILE": None,
            "HUB_JOURNAL__BACKEND": "postgresql",
            "HUB_JOURNAL__DSN": f"postgresql://hub@127.0.0.1:{free_port()}/hub",
            "HUB_DB_PASSWORD_FILE": str(tmp_path / "db-password"),
        },
    )
    code = "import os; print(os.getpid(), os.getppid(), os.environ['PGPASSWORD'])"
    proc = subprocess.Popen(
        ["/bin/sh", str(ENTRYPOINT), "python3", "-c", code],
        cwd=tmp_path,
        env=node.env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    stdout, _ = proc.communicate(timeout=20)
    pid, ppid, password = stdout.split()
    # exec'd in place (the same process), with the password file read into PGPASSWORD
    assert (proc.returncode, int(pid), password) == (0, proc.pid, "pw-from-file")
    assert int(ppid) == os.getpid()

    usage = node.run("hub", "token", "--help")
    assert usage.returncode == 0 and usage.stdout.startswith("usage: hub token")
