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

from quart import Blueprint, Response, request

from adapters.feeds.intake import Intake, Outcome, head
from adapters.feeds.records import FeedError, Form, Kind
from hub.api.common import error, json_response
from hub.auth import AuthError

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

    async def authenticate(self, hub: HubContext) -> Response | None:
        """None when the caller is who this source expects, otherwise the refusal."""
        header = request.headers.get("Authorization", "")
        bearer = header[7:].strip() if header[:7].lower() == "bearer " else ""
        if self._key is not None:
            for offered in (request.headers.get(self.config.api_key_header, ""), bearer):
                if offered and hmac.compare_digest(offered.encode(), self._key):
                    return None
        if self.config.accept_hub_tokens and bearer:
            try:
                principal = await hub.verifier.verify_async(bearer)
            except AuthError as exc:
                return error(401, "unauthorized", exc.reason)
            if principal.role == "service" or principal.is_admin:
                return None
            return error(403, "forbidden", f"role {principal.role!r} may not push feed updates")
        return error(401, "unauthorized", f"missing or wrong credentials for {self.name}")

    async def receive(self, kind: Kind, form: Form) -> Response:
        hub = self._hub
        if hub is None:
            return error(503, "unavailable", f"{self.name} is not running")
        refusal = await self.authenticate(hub)
        if refusal is not None:
            hub.metrics.input_errors.labels(self.name, "unauthorized").inc()
            self.intake.streak.failed(hub, f"refused credentials (HTTP {refusal.status_code})")
            return refusal
        limit = self.config.max_body_bytes
        length = request.content_length
        body = b""
        if length is None or length <= limit:
            data = await request.get_data(cache=False)
            assert isinstance(data, bytes)
            body = data
        hospital = request.args.get("hospital") or None
        if (length is not None and length > limit) or len(body) > limit:
            too_big = FeedError(413, "payload_too_large", f"body exceeds {limit} bytes")
            outcome = await self.intake.reject(hub, head(kind, form, hospital, "?"), too_big)
        else:
            outcome = await self.intake.handle(
                hub,
                kind,
                form,
                body,
                request.headers.get("Content-Type", ""),
                hospital,
                request.headers.get("Idempotency-Key") or None,
            )
        self._count(hub, outcome)
        return json_response(outcome.body, outcome.status)

    def _count(self, hub: HubContext, outcome: Outcome) -> None:
        if outcome.ok:
            self.last_activity = time.monotonic()
            self.intake.streak.succeeded(hub)
        else:
            self.intake.streak.failed(hub, f"refused input (HTTP {outcome.status})")

    async def reprocess(self, stored: StoredInput) -> None:
        assert self._hub is not None
        await self.intake.reprocess(self._hub, stored)

    def blueprint(self) -> Blueprint:
        name = self.config.name
        bp = Blueprint(f"feeds_{name}", __name__)
        for kind in self.config.kinds:

            def route(form: Form, kind: Kind = kind) -> Callable[[], Awaitable[Response]]:
                async def handler() -> Response:
                    return await self.receive(kind, form)

                return handler

            path = f"/feeds/{kind}/{name}"
            bp.add_url_rule(path, f"post_{kind}", route("update"), methods=["POST"])
            bp.add_url_rule(path, f"put_{kind}", route("snapshot"), methods=["PUT"])
        return bp
