"""Testing helpers for plugin authors (and the hub's own tests).

- ``Pipeline``: an in-process hub without sockets. Feed it inbound messages (or raw HL7 /
  FHIR JSON) and assert on the events your plugin produced, journaled as the hub would.
- ``LiveHub``: a real ``hub serve`` process on free ports with its own state directory, for
  integration tests over HTTP, MLLP and Socket.IO.

Both are also pytest fixtures (``hub_pipeline``, ``live_hub``) through the ``clinical_hub``
pytest plugin that installing the hub registers.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from hub import hookimpl
from hub.auth import mint_token
from hub.config import HubConfig
from hub.events import Event
from hub.inputs import InboundMessage
from hub.plugins import PluginHost
from hub.runtime import HubContext


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Pipeline:
    """A hub in this process, journal in a temporary directory, no sockets.

    ``plugins`` are plugin objects or modules registered by name (``{"mine": my_module}``);
    with ``entry_points=True`` the installed plugins load as in production (``only`` limits
    them by entry-point name). ``settings`` are ``[plugins.settings.*]`` tables.

        async with Pipeline({"nurse_call": nurse_call}, settings={"nurse_call": {...}}) as hub:
            events = await hub.feed(InboundMessage(kind="nurse-call", source="test", body=...))
            assert [e.type for e in events] == ["patient_alert"]
    """

    def __init__(
        self,
        plugins: dict[str, object] | None = None,
        *,
        settings: dict[str, dict[str, Any]] | None = None,
        entry_points: bool = False,
        only: Iterable[str] | None = None,
        state: Path | None = None,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if state is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="hub-pipeline-")
            state = Path(self._tmp.name)
        config = HubConfig()
        config.journal.path = state / "journal.sqlite3"
        config.auth.secret = secrets.token_hex(24)
        config.plugins.settings = dict(settings or {})
        host = PluginHost()
        if entry_points:
            host.load_entry_points((), only=only)
        for name, plugin in (plugins or {}).items():
            host.register(plugin, name)
        self.hub = HubContext(config, host)
        self.events: list[Event] = []
        host.register(_Recorder(self.events), "hub.testing.recorder")

    async def __aenter__(self) -> Pipeline:
        self.hub.configure_plugins()
        await self.hub.journal.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.hub.journal.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    async def feed(self, message: InboundMessage) -> list[Event]:
        """Normalize and journal one message; the events it produced, in journal order.

        Raises ``hub.inputs.NormalizeFailed`` when a plugin rejected the message, produced an
        invalid event or raised, as the hub's inputs would see it.
        """
        appended = await self.hub.ingest(message)
        return [a.event for a in appended if not a.duplicate]

    async def hl7(self, raw: bytes | str, source: str = "mllp:test") -> list[Event]:
        """Feed one HL7 v2 message (segments separated by CR, LF or CRLF)."""
        from adapters.hl7.client import split_messages
        from adapters.hl7.message import parse

        data = raw.encode() if isinstance(raw, str) else raw
        [one] = split_messages(data)
        message = parse(one)
        meta = {"control_id": message.control_id, "type": message.message_code}
        return await self.feed(InboundMessage(kind="hl7v2", source=source, body=message, meta=meta))

    async def fhir(self, body: dict[str, Any], source: str = "default") -> list[Event]:
        """Feed a FHIR resource or Bundle as the ``source`` FHIR receiver would."""
        from adapters.fhir.notification import parse_delivery
        from adapters.fhir.receiver import FhirSource, SourceConfig

        receiver = FhirSource(SourceConfig(name=source, accept_hub_tokens=True))
        delivery = parse_delivery(body)
        entries, problems = receiver._checked(delivery)
        if problems:
            raise ValueError("; ".join(p["diagnostics"] for p in problems))
        return await self.feed(receiver._message(delivery, entries))

    def of(self, event_type: str) -> list[Event]:
        """Every event of a type journaled so far (through any plugin)."""
        return [e for e in self.events if e.type == event_type]


class _Recorder:
    def __init__(self, events: list[Event]) -> None:
        self._events = events

    @hookimpl
    def event_journaled(self, event: Event) -> None:
        self._events.append(event)


class LiveHub:
    """``hub serve`` in a child process with its own state directory and free ports.

    ``settings`` become ``HUB_PLUGINS__SETTINGS``; ``plugins`` (entry-point names) becomes
    ``HUB_PLUGINS``. The default MLLP listener is moved to ``mllp_port``.
    """

    def __init__(
        self,
        state: Path,
        *,
        secret: str | None = None,
        settings: dict[str, Any] | None = None,
        plugins: Iterable[str] | None = None,
        config: Path | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.state = state
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.mllp_port = free_port()
        self.secret = secret or "live-hub-" + secrets.token_hex(20)
        self.settings = {"hl7_mllp": {"listeners": [{"name": "default", "port": self.mllp_port}]}}
        self.settings.update(settings or {})
        self.plugins = list(plugins) if plugins is not None else None
        self.config = config
        self.extra_env = dict(extra_env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = state / "hub.log"

    def token(self, role: str = "service", sub: str = "test", **claims: Any) -> str:
        return mint_token(self.secret, sub=sub, role=role, **claims)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(
            HUB_SERVER__PORT=str(self.port),
            HUB_JOURNAL__PATH=str(self.state / "journal.sqlite3"),
            HUB_AUTH__SECRET=self.secret,
            HUB_AUTH__SECRET_FILE=str(self.state / "secret"),
            HUB_LOGGING__LEVEL="INFO",
            HUB_PLUGINS__SETTINGS=json.dumps(self.settings),
            PYTHONUNBUFFERED="1",
        )
        if self.config is not None:
            env["HUB_CONFIG"] = str(self.config)
        if self.plugins is not None:
            env["HUB_PLUGINS"] = ",".join(self.plugins)
        env.update(self.extra_env)
        return env

    def command(self) -> list[str]:
        """What ``start`` runs; a subclass may start the hub another way (a wrapper script)."""
        return [sys.executable, "-m", "hub", "serve"]

    def start(self, timeout_s: float = 20) -> LiveHub:
        import httpx

        self.state.mkdir(parents=True, exist_ok=True)
        logf = self.log.open("ab")
        self.proc = subprocess.Popen(
            self.command(),
            cwd=self.state,
            env=self.env(),
            stdout=logf,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
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
