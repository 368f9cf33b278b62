"""Polled feeds: GET a configured URL on an interval; each answer is a snapshot.

Conditional requests (``If-None-Match`` / ``If-Modified-Since`` from the last answer) let an
unchanged board cost a 304 and nothing else; an answer with the same content as one already
stored is a duplicate and makes no events either. Failures (network errors, non-2xx answers,
bodies the adapter cannot read or the plugins refuse) back off exponentially up to
``max_backoff_s`` and raise one ``failing`` system alert per streak, cleared by the next
success. A failing poller does not make the hub unready: the hub can still serve everything
else, and the alert is what tells people.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from typing import TYPE_CHECKING, Any

import httpx

from adapters.feeds.intake import Intake

if TYPE_CHECKING:
    from adapters.feeds.config import PollConfig
    from hub.journal import StoredInput
    from hub.runtime import HubContext

log = logging.getLogger("adapters.feeds")

_ACCEPT = {
    "json": "application/json",
    "csv": "text/csv",
    "auto": "application/json, text/csv;q=0.9",
}


class Poller:
    """One configured URL, read by its own task while the hub runs."""

    def __init__(self, config: PollConfig) -> None:
        self.config = config
        self.name = f"feed:{config.kind}:{config.name}"
        self.intake = Intake(self.name, config)
        self.max_silence_s = config.max_silence_s
        self.last_activity = time.monotonic()
        self.alert_hospitals = list(config.alert_hospitals)
        self.etag: str | None = None
        self.last_modified: str | None = None
        self.polls = 0
        self._headers = {"Accept": _ACCEPT[config.format]}
        if config.token_env:
            self._headers["Authorization"] = f"Bearer {os.environ[config.token_env]}"
        if config.api_key_env:
            self._headers[config.api_key_header] = os.environ[config.api_key_env]
        self._hub: HubContext | None = None
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    async def start(self, hub: HubContext) -> None:
        self._hub = hub
        self.last_activity = time.monotonic()
        self._client = httpx.AsyncClient(timeout=self.config.timeout_s, follow_redirects=True)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._hub = None

    def health(self) -> str | None:
        return "not started" if self._hub is None else None

    def delay(self) -> float:
        """Seconds to the next poll: the interval, or a doubling backoff while failing."""
        failures = self.intake.streak.count
        if not failures:
            return self.config.interval_s
        backoff = min(self.config.max_backoff_s, self.config.interval_s * 2.0 ** min(failures, 20))
        # spread retries so hubs that lost the same server do not return in step
        return float(backoff * random.uniform(0.9, 1.0))

    async def _run(self) -> None:
        while True:
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("feed poll crashed", extra={"input": self.name})
            await asyncio.sleep(self.delay())

    async def poll(self) -> str:
        """Read the URL once; returns what happened (changed, not_modified, duplicate, failed)."""
        hub, client = self._hub, self._client
        assert hub is not None and client is not None
        self.polls += 1
        headers = dict(self._headers)
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        try:
            response = await client.get(self.config.url, headers=headers)
        except httpx.HTTPError as exc:
            return self._failed(hub, f"{type(exc).__name__} reading {self.config.url}")
        if response.status_code == 304:
            self.intake.streak.succeeded(hub)
            return "not_modified"
        if response.status_code != 200:
            return self._failed(
                hub,
                f"HTTP {response.status_code} from {self.config.url}",
                status=response.status_code,
            )
        body = response.content
        if len(body) > self.config.max_body_bytes:
            return self._failed(hub, f"body exceeds {self.config.max_body_bytes} bytes")
        content_type = {"json": "application/json", "csv": "text/csv"}.get(
            self.config.format, response.headers.get("Content-Type", "")
        )
        outcome = await self.intake.handle(
            hub, self.config.kind, "poll", body, content_type, self.config.hospital
        )
        if not outcome.ok:
            detail = outcome.body.get("detail", outcome.body.get("error"))
            return self._failed(
                hub, f"unusable answer: {detail}", input_id=outcome.body.get("input_id")
            )
        self.etag = response.headers.get("ETag")
        self.last_modified = response.headers.get("Last-Modified")
        self.last_activity = time.monotonic()
        self.intake.streak.succeeded(hub)
        return "duplicate" if outcome.body.get("duplicate") else "changed"

    def _failed(self, hub: HubContext, reason: str, **data: Any) -> str:
        hub.metrics.input_errors.labels(self.name, "poll_failed").inc()
        log.warning("feed poll failed", extra={"input": self.name, "reason": reason})
        self.intake.streak.failed(hub, reason, **{k: v for k, v in data.items() if v is not None})
        return "failed"

    async def reprocess(self, stored: StoredInput) -> None:
        assert self._hub is not None
        await self.intake.reprocess(self._hub, stored)
