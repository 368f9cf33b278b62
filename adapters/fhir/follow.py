"""What a FHIR source needs beyond answering POSTs: reading what notifications only point at,
recovering missed events, and noticing silence.

- ``id-only`` notifications: the foci are read from the source's FHIR base URL; ``empty`` ones:
  the source is searched for what changed since the subscription's last event. The
  notification is stored first (answered 2xx), marked ``pending`` while reading, and the read
  resources are stored and processed as their own input. Pending reads are resumed at start.
- Gaps in event numbers (after a grace period) raise a ``system`` ``hospital_alert`` naming the
  source and start recovery: ``$events`` for the missing numbers where the server supports
  it, otherwise a ``_lastUpdated`` search from the last good event.
- No notification within twice ``heartbeat_s`` marks the source silent in ``/ready`` and raises
  a ``system`` alert; the next notification clears it with another.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from adapters.fhir.fetch import FetchError, FhirFetcher
from adapters.fhir.notification import Delivery, parse_delivery, parse_status, reference_key
from adapters.fhir.subscriptions import Gap, SubscriptionTracker
from hub.events import EventDraft, HospitalAlert

if TYPE_CHECKING:
    from adapters.fhir.receiver import SourceConfig
    from hub.runtime import HubContext

log = logging.getLogger("adapters.fhir")

# (resources, why) -> None: stores and processes resources read from the server
Deliver = Callable[[list[dict[str, Any]], str], Awaitable[str | None]]


class Follower:
    def __init__(self, config: SourceConfig, name: str, token: str | None) -> None:
        self.config = config
        self.name = name
        self.tracker = SubscriptionTracker(config.gap_grace_s)
        self.fetcher = (
            FhirFetcher(
                config.base_url,
                token,
                config.fetch_timeout_s,
                config.fetch_attempts,
                config.fetch_backoff_s,
            )
            if config.base_url
            else None
        )
        self._hub: HubContext | None = None
        self._deliver: Deliver | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self, hub: HubContext, deliver: Deliver) -> None:
        self._hub, self._deliver = hub, deliver
        self.spawn(self._watch(), "watchdog")

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.fetcher is not None:
            await self.fetcher.close()

    def health(self) -> str | None:
        silent = self.tracker.silent()
        return f"no notification for {', '.join(silent)}" if silent else None

    def spawn(self, coro: Awaitable[Any], label: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(f"{self.name}:{label}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- notifications ----------------------------------------------------------------------

    def noticed(self, delivery: Delivery) -> None:
        """Book-keep a stored, non-duplicate notification."""
        key = delivery.subscription or "(unnamed)"
        types = {t for e in delivery.entries if (t := e.resource_type)}
        times = [e.timestamp for e in delivery.events if e.timestamp]
        seen = self.tracker.seen(
            key,
            delivery.kind or "",
            [e.number for e in delivery.events if e.number is not None],
            delivery.events_since_start,
            time.monotonic(),
            max(times) if times else None,
            types,
        )
        if seen.reset:
            log.warning("fhir event counter went back", extra={"source": self.name})
        if seen.returned:
            self._alert(f"FHIR source {self.config.name}: notifications arrive again", key, {})

    def needs_reading(self, delivery: Delivery) -> bool:
        if delivery.kind not in ("event-notification", "query-event"):
            return False
        return any(e.resource is None for e in delivery.entries) or not delivery.entries

    async def read(self, delivery: Delivery) -> str | None:
        """Read what an id-only or empty notification points at and deliver it.

        Returns None when done, otherwise why not (the notification is then kept as an error,
        and ``hub reprocess`` tries again).
        """
        if self.fetcher is None:
            return "no base_url configured for this source: cannot read notified resources"
        try:
            if delivery.entries:
                refs = [e.reference for e in delivery.entries if e.resource is None and e.reference]
                resources = await self._read_all(refs)
                why = "id-only notification"
            else:
                key = delivery.subscription or "(unnamed)"
                sub = self.tracker.subscriptions.get(key)
                since = (sub.last_event_time if sub else None) or _recent()
                resources = await self._search(since, set())
                why = "empty notification"
        except FetchError as exc:
            self._failing(exc.text)
            return exc.text
        self._reading_again()
        assert self._deliver is not None
        return await self._deliver(resources, why) if resources else None

    def _failing(self, reason: str) -> None:
        """One alert while reads from the server keep failing (bad credentials, server down),
        not one per notification."""
        if self._hub is not None:
            self._hub.input_alerts.problem(
                self.name,
                "failing",
                [self.config.alert_hospital],
                f"FHIR source {self.config.name}: cannot read from {self.config.base_url}: "
                f"{reason}; notifications are kept and can be reprocessed",
            )

    def _reading_again(self) -> None:
        if self._hub is not None:
            self._hub.input_alerts.resolved(
                self.name, "failing", f"FHIR source {self.config.name}: reading again"
            )

    async def _read_all(self, refs: list[str]) -> list[dict[str, Any]]:
        assert self.fetcher is not None
        limit = asyncio.Semaphore(8)

        async def one(ref: str) -> dict[str, Any]:
            async with limit:
                assert self.fetcher is not None
                return await self.fetcher.read(ref)

        return list(await asyncio.gather(*(one(ref) for ref in refs)))

    async def _search(self, since: str, types: set[str]) -> list[dict[str, Any]]:
        assert self.fetcher is not None
        found: list[dict[str, Any]] = []
        for rtype in sorted(types or set(self.config.poll_types)):
            found += await self.fetcher.search_since(rtype, since, self.config.recovery_limit)
        return found

    # --- gaps and silence -------------------------------------------------------------------

    async def _watch(self) -> None:
        tick = max(0.05, min(1.0, self.config.gap_grace_s / 2))
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for gap in self.tracker.due_gaps(now):
                self.spawn(self._recover(gap), "recover")
            if self.config.heartbeat_s:
                for key in self.tracker.newly_silent(now, self.config.heartbeat_s):
                    self.spawn(self._silent(key), "silent")

    async def _silent(self, subscription: str) -> None:
        """Report a silent subscription, with what the server says of it when it can be asked.

        The Backport IG's answer to silence is a ``$status`` call: the server's status tells
        an operator whether the subscription is in error on the server's side, and its event
        count shows events that were sent but never arrived, which then go through the usual
        gap recovery.
        """
        period = 2 * (self.config.heartbeat_s or 0)
        message = f"FHIR source {self.config.name}: no notification or heartbeat for {period:g} s"
        extra: dict[str, Any] = {"silent": True}
        if self.fetcher is not None and subscription.count("/") >= 1:
            try:
                status = parse_status(
                    await self.fetcher.get(f"{self.fetcher.url(subscription)}/$status")
                )
            except (FetchError, ValueError) as exc:
                extra["server_status"] = "unknown"
                message += f"; $status failed: {exc}"
            else:
                if status is not None:
                    extra["server_status"] = status.status
                    message += f"; the server says the subscription is {status.status}"
                    self.tracker.note_count(
                        subscription, status.events_since_start, time.monotonic()
                    )
        self._alert(message, subscription, extra)

    async def _recover(self, gap: Gap) -> None:
        how = "$events" if self.fetcher is not None else "none (no base_url)"
        self._alert(
            f"FHIR source {self.config.name}: {gap.describe()}; recovering with {how}",
            gap.subscription,
            {"missed_from": gap.first, "missed_to": gap.last, "recovery": how},
        )
        if self.fetcher is None:
            return
        problem = await self._recover_from_server(gap)
        if problem is not None:
            self._alert(
                f"FHIR source {self.config.name}: recovery of {gap.describe()} failed: {problem}",
                gap.subscription,
                {"missed_from": gap.first, "missed_to": gap.last, "recovery": "failed"},
            )

    async def _recover_from_server(self, gap: Gap) -> str | None:
        assert self.fetcher is not None and self._deliver is not None
        sub = self.tracker.subscriptions.get(gap.subscription)
        try:
            bundle = await self.fetcher.events(gap.subscription, gap.first, gap.last)
            delivery = parse_delivery(bundle)
            resources = [e.resource for e in delivery.entries if e.resource is not None]
            refs = [e.reference for e in delivery.entries if e.resource is None and e.reference]
            resources += await self._read_all(refs)
            why = f"$events {gap.first}-{gap.last}"
        except (FetchError, ValueError) as exc:
            status = exc.status if isinstance(exc, FetchError) else None
            if status is not None and status not in (400, 404, 405, 501):
                return exc.text if isinstance(exc, FetchError) else str(exc)
            # the server has no $events: search for what changed since the last good event
            since = gap.since or _recent()
            try:
                resources = await self._search(since, sub.focus_types if sub else set())
            except FetchError as search_error:
                return search_error.text
            why = f"_lastUpdated search since {since}"
        log.info(
            "fhir gap recovered",
            extra={"source": self.name, "how": why, "resources": len(resources)},
        )
        return await self._deliver(resources, why) if resources else None

    def _alert(self, message: str, subscription: str, extra: dict[str, Any]) -> None:
        hub = self._hub
        if hub is None:
            return
        data = {
            "message": message,
            "source": self.config.name,
            "subscription": reference_key(subscription) or subscription,
            **extra,
        }
        draft = EventDraft(
            payload=HospitalAlert(
                hospital_id=self.config.alert_hospital, alert_type="system", alert_data=data
            ),
            source=self.name,
        )
        log.warning("fhir source alert", extra={"source": self.name, "alert": message[:120]})
        self.spawn(hub.publish([draft]), "alert")


def _recent() -> str:
    """When nothing better is known: the last hour (a search needs a lower bound)."""
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
