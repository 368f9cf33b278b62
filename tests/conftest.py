"""Shared fixtures: a real hub process on a free port, tokens for it, and clients."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.auth import mint_token
from hub.config import HubConfig

SECRET = "test-secret-" + "x" * 40
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HubProcess:
    """A hub started with ``python -m hub serve`` in its own state directory."""

    def __init__(self, state: Path, extra_env: dict[str, str] | None = None) -> None:
        self.state = state
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.mllp_port = free_port()
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = state / "hub.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(
            HUB_SERVER__PORT=str(self.port),
            HUB_JOURNAL__PATH=str(self.state / "journal.sqlite3"),
            HUB_AUTH__SECRET=SECRET,
            HUB_AUTH__SECRET_FILE=str(self.state / "secret"),
            HUB_LOGGING__LEVEL="INFO",
            HUB_CONFIG=str(ROOT / "config" / "hub.toml"),
            HUB_PLUGINS__SETTINGS=json.dumps(
                {"hl7_mllp": {"listeners": [{"name": "default", "port": self.mllp_port}]}}
            ),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def start(self) -> HubProcess:
        logf = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "serve"],
            cwd=self.state,
            env=self.env(),
            stdout=logf,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited early:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        # the caller never gets a handle to stop it, so a hub that did not come up must not
        # outlive the test session
        self.stop()
        raise RuntimeError(f"hub did not become ready:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


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
