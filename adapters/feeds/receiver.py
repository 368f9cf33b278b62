"""Push feeds: ``POST`` (updates) and ``PUT`` (snapshots) to ``/feeds/{beds|staff}/{source}``.

Each configured source is one input (``feed:{name}``) with its own credentials: an API key
(header ``X-API-Key`` or ``Authorization: Bearer <key>``) and/or the hub's service tokens.
Unauthenticated bodies are refused before they are read and never stored, so nobody without
credentials can fill the journal; every other refusal is stored as a ``rejected`` input.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from adapters.feeds.intake import Intake, Outcome, head
from adapters.feeds.records import FeedError, Form, Kind
from hub.auth import AuthError
from hub.http_lean import (
    BodyTooLarge,
    LeanRequest,
    LeanResponse,
    LeanRoute,
    lean_error,
    lean_json,
)

if TYPE_CHECKING:
    from adapters.feeds.config import SourceConfig
    from hub.journal import StoredInput
    from hub.runtime import HubContext


class FeedSource:
    """One configured push source: authentication, limits and its routes."""

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self.name = f"feed:{config.name}"
        self.intake = Intake(self.name, config)
        self.max_silence_s = config.max_silence_s
        self.last_activity = time.monotonic()
        self.alert_hospitals = list(config.alert_hospitals)
        env = config.api_key_env
        self._key = os.environ.get(env, "").encode() if env else None
        self._hub: HubContext | None = None

    async def start(self, hub: HubContext) -> None:
        self._hub = hub
        self.last_activity = time.monotonic()

    async def stop(self) -> None:
        self._hub = None

    def health(self) -> str | None:
        return "not started" if self._hub is None else None

    async def authenticate(self, hub: HubContext, request: LeanRequest) -> LeanResponse | None:
        """None when the caller is who this source expects, otherwise the refusal."""
        header = request.headers.get("authorization", "")
        bearer = header[7:].strip() if header[:7].lower() == "bearer " else ""
        if self._key is not None:
            offered_key = request.headers.get(self.config.api_key_header.lower(), "")
            for offered in (offered_key, bearer):
                if offered and hmac.compare_digest(offered.encode(), self._key):
                    return None
        if self.config.accept_hub_tokens and bearer:
            try:
                principal = await hub.verifier.verify_async(bearer)
            except AuthError as exc:
                return lean_error(401, "unauthorized", exc.reason)
            if principal.role == "service" or principal.is_admin:
                return None
            return lean_error(
                403, "forbidden", f"role {principal.role!r} may not push feed updates"
            )
        return lean_error(401, "unauthorized", f"missing or wrong credentials for {self.name}")

    async def receive(self, request: LeanRequest, kind: Kind, form: Form) -> LeanResponse:
        hub = self._hub
        if hub is None:
            return lean_error(503, "unavailable", f"{self.name} is not running")
        refusal = await self.authenticate(hub, request)
        if refusal is not None:
            hub.metrics.input_errors.labels(self.name, "unauthorized").inc()
            self.intake.streak.failed(hub, f"refused credentials (HTTP {refusal.status})")
            return refusal
        limit = self.config.max_body_bytes
        length = request.content_length
        hospital = request.query.get("hospital") or None
        body: bytes | None = None
        if length is None or length <= limit:
            try:
                body = await request.body(limit)
            except BodyTooLarge:
                body = None
        if body is None:
            too_big = FeedError(413, "payload_too_large", f"body exceeds {limit} bytes")
            outcome = await self.intake.reject(hub, head(kind, form, hospital, "?"), too_big)
        else:
            outcome = await self.intake.handle(
                hub,
                kind,
                form,
                body,
                request.headers.get("content-type", ""),
                hospital,
                request.headers.get("idempotency-key") or None,
            )
        self._count(hub, outcome)
        return lean_json(outcome.body, outcome.status)

    def _count(self, hub: HubContext, outcome: Outcome) -> None:
        if outcome.ok:
            self.last_activity = time.monotonic()
            self.intake.streak.succeeded(hub)
        else:
            self.intake.streak.failed(hub, f"refused input (HTTP {outcome.status})")

    async def reprocess(self, stored: StoredInput) -> None:
        assert self._hub is not None
        await self.intake.reprocess(self._hub, stored)

    def routes(self) -> list[LeanRoute]:
        """POST (updates) and PUT (snapshots) per kind, on the hub's lean HTTP path: a bed
        board pushing single records is bounded by per-request cost (docs/benchmarks.md)."""
        out = []
        for kind in self.config.kinds:
            forms: tuple[tuple[str, Form], ...] = (("POST", "update"), ("PUT", "snapshot"))
            for method, form in forms:

                def route(
                    form: Form = form, kind: Kind = kind
                ) -> Callable[[LeanRequest], Awaitable[LeanResponse]]:
                    async def handler(request: LeanRequest) -> LeanResponse:
                        return await self.receive(request, kind, form)

                    return handler

                out.append(LeanRoute(method, f"/feeds/{kind}/{self.config.name}", route()))
        return out
