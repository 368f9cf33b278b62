"""What adapters hand the core: inbound messages, and the lifecycle every input follows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from hub.events import utc_now

if TYPE_CHECKING:
    from quart import Blueprint

    from hub.http_lean import LeanRoute
    from hub.runtime import HubContext


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message from one input, before normalization.

    ``kind`` names the format (``hl7v2``, ``fhir``, ``json`` ...) so plugins can skip what is
    not theirs cheaply; ``body`` is whatever the adapter parsed; ``meta`` carries transport
    facts (control id, sender) that are safe to log.
    """

    kind: str
    source: str
    body: Any
    meta: dict[str, Any] = field(default_factory=dict)
    received_at: datetime = field(default_factory=utc_now)


class RejectMessage(Exception):
    """Raised by a plugin's ``normalize`` to reject a message with a reason for its sender."""

    def __init__(self, reason: str, *, code: str = "rejected") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class NormalizeFailed(Exception):
    """A message could not be turned into events; ``reason`` is safe to tell its sender."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@runtime_checkable
class Input(Protocol):
    """An adapter's running component (an MLLP listener, a feed poller, ...)."""

    name: str

    async def start(self, hub: HubContext) -> None: ...

    async def stop(self) -> None: ...

    def health(self) -> str | None:
        """None when healthy, otherwise why not (shown by /ready)."""
        ...


@runtime_checkable
class HttpInput(Input, Protocol):
    """An input that receives over the hub's own HTTP server (FHIR rest-hook, feed pushes).

    Its blueprint is mounted when the app is built, before serving, so its routes share the
    hub's port, TLS termination and CORS policy.
    """

    def blueprint(self) -> Blueprint: ...


@runtime_checkable
class LeanHttpInput(Input, Protocol):
    """An input whose endpoints skip Quart (``hub.http_lean``): for high-rate pushes."""

    def routes(self) -> list[LeanRoute]: ...
