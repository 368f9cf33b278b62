"""The path every feed body takes, pushed or polled: parse, then store-then-answer.

A body that cannot be read is kept as a ``rejected`` input and refused with a 4xx naming the
row and column. A readable one goes through ``HubContext.accept``: the raw body, every event
made from it and the answer are committed together before anyone is answered, so a snapshot
of 2,000 beds is one durable write and one stored input.

The stored raw body starts with one line saying how to read it again (``feed beds snapshot
hospital=H1 type=text/csv``), so ``POST /api/inbound/{id}/reprocess`` needs nothing else.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from hashlib import sha256
from typing import TYPE_CHECKING, Any

import orjson

from adapters.feeds.records import FeedBatch, FeedError, Form, Kind, parse_csv, parse_json
from hub.events import iso, utc_now
from hub.inputs import InboundMessage, NormalizeFailed

if TYPE_CHECKING:
    from adapters.feeds.config import _Common
    from hub.journal import StoredInput
    from hub.runtime import HubContext

log = logging.getLogger("adapters.feeds")

_JSON_TYPES = frozenset({"application/json", "text/json"})
_CSV_TYPES = frozenset({"text/csv", "application/csv", "text/comma-separated-values"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the sender is told, and whether the input counted as a success."""

    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status < 400

    def json(self) -> bytes:
        return orjson.dumps(self.body)


def body_format(content_type: str, body: bytes) -> str:
    """``json`` or ``csv``; raises FeedError 415 for anything else."""
    mimetype = content_type.split(";", 1)[0].strip().lower()
    if mimetype in _JSON_TYPES or mimetype.endswith("+json"):
        return "json"
    if mimetype in _CSV_TYPES:
        return "csv"
    if mimetype in ("", "text/plain", "application/octet-stream"):
        # curl --data-binary @file sends no useful type; the first character decides
        return "json" if body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[") else "csv"
    raise FeedError(
        415, "unsupported_media_type", f"send application/json or text/csv, not {mimetype}"
    )


def head(kind: Kind, form: Form, hospital: str | None, fmt: str) -> bytes:
    return f"feed {kind} {form} hospital={hospital or '-'} format={fmt}\n".encode()


def read_head(raw: bytes) -> tuple[Kind, Form, str | None, str, bytes]:
    line, _, body = raw.partition(b"\n")
    _, kind, form, hospital, fmt = line.decode().split(" ")
    value = hospital.split("=", 1)[1]
    return kind, form, None if value == "-" else value, fmt.split("=", 1)[1], body  # type: ignore[return-value]


def _reply(outcome: Outcome) -> bytes:
    """Stored answer: ``STATUS\\n`` then the JSON, so a duplicate is answered by slicing."""
    return b"%d\n" % outcome.status + outcome.json()


def _outcome(reply: bytes) -> Outcome:
    status, _, body = reply.partition(b"\n")
    return Outcome(int(status), orjson.loads(body))


class FailureStreak:
    """Consecutive failures of one input: one ``failing`` alert per streak, one when it ends."""

    def __init__(self, name: str, hospitals: list[str], threshold: int) -> None:
        self.name, self.hospitals, self.threshold = name, hospitals, threshold
        self.count = 0
        self.last_reason: str | None = None

    def failed(self, hub: HubContext, reason: str, **data: Any) -> None:
        self.count += 1
        self.last_reason = reason
        if self.count >= self.threshold:
            hub.input_alerts.problem(
                self.name,
                "failing",
                self.hospitals,
                f"{self.name}: {reason} ({self.count} attempts in a row)",
                reason=reason,
                attempts=self.count,
                **data,
            )

    def succeeded(self, hub: HubContext) -> None:
        if self.count:
            hub.input_alerts.resolved(
                self.name, "failing", f"{self.name}: working again", attempts=self.count
            )
        self.count = 0
        self.last_reason = None


class Intake:
    """Parsing and storing for one input (a push source or a poller)."""

    def __init__(self, name: str, config: _Common) -> None:
        self.name = name
        self.config = config
        self.streak = FailureStreak(name, list(config.alert_hospitals), config.alert_after_failures)

    def parse(
        self, kind: Kind, form: Form, fmt: str, body: bytes, hospital: str | None
    ) -> FeedBatch:
        if fmt == "json":
            records, own_hospital = parse_json(kind, body)
        else:
            records, own_hospital = parse_csv(kind, body), None
        if not records and form == "update":
            raise FeedError(422, "empty", "no records in the body")
        return FeedBatch(
            kind=kind,
            source=self.config.name,
            form=form,
            records=records,
            hospital=hospital or own_hospital or self.config.hospital,
            status_map=self.config.status_map,
            staff_type_map=self.config.staff_type_map,
        )

    async def reject(self, hub: HubContext, raw: bytes, error: FeedError) -> Outcome:
        hub.metrics.input_errors.labels(self.name, error.code).inc()
        await hub.journal.store_input(
            self.name, None, raw, iso(utc_now()), "rejected", error.detail
        )
        return Outcome(error.status, error.body())

    async def handle(
        self,
        hub: HubContext,
        kind: Kind,
        form: Form,
        body: bytes,
        content_type: str,
        hospital: str | None = None,
        idempotency_key: str | None = None,
    ) -> Outcome:
        """Parse, store and normalize one body; the outcome to tell its sender."""
        try:
            fmt = body_format(content_type, body)
        except FeedError as exc:
            return await self.reject(hub, head(kind, form, hospital, "?") + body, exc)
        raw = head(kind, form, hospital, fmt) + body
        try:
            batch = self.parse(kind, form, fmt, body, hospital)
        except FeedError as exc:
            return await self.reject(hub, raw, exc)
        if form == "update":
            key = f"{self.name}|key|{idempotency_key}" if idempotency_key else None
        else:
            # the same snapshot twice (an unchanged bed board) is a duplicate: no events
            key = f"{self.name}|{kind}|{sha256(raw).hexdigest()}"
        message = InboundMessage(
            kind="feed",
            source=self.name,
            body=batch,
            meta={"feed": kind, "form": form, "records": len(batch.records)},
        )

        def answer(failure: NormalizeFailed | None) -> bytes:
            if failure is None:
                body = {"status": "accepted", "records": len(batch.records), **batch.tally}
                return _reply(Outcome(200, body))
            # a plugin that crashed is the hub's fault, not the sender's data
            status = 500 if failure.code == "plugin_error" else 422
            detail = {"error": failure.code, "detail": failure.reason, **(batch.rejection or {})}
            return _reply(Outcome(status, detail))

        accepted = await hub.accept(message, raw, key, answer)
        assert accepted.reply is not None
        outcome = _outcome(accepted.reply)
        outcome.body.update(input_id=accepted.stored.id, duplicate=accepted.stored.duplicate)
        log.info(
            "feed input handled",
            extra={
                "source": self.name,
                "input_id": accepted.stored.id,
                "feed": kind,
                "form": form,
                "records": len(batch.records),
                "events": len(accepted.events),
                "status": outcome.status,
                "duplicate": accepted.stored.duplicate,
            },
        )
        return outcome

    async def reprocess(self, hub: HubContext, stored: StoredInput) -> None:
        """Run a kept input through the plugins again (e.g. after adding a status_map entry).

        Its events get the ids they would have had the first time, and records the census
        already holds produce nothing, so only what is missing is journaled.
        """
        kind, form, hospital, fmt, body = read_head(stored.raw)
        try:
            batch = self.parse(kind, form, fmt, body, hospital)
        except FeedError as exc:
            await hub.journal.finish_input(stored.id, "rejected", stored.reply, exc.detail)
            return
        message = InboundMessage(kind="feed", source=self.name, body=batch, meta={"feed": kind})
        error = None
        try:
            await hub.ingest(message, id_prefix=f"{self.name}:{stored.id}")
        except NormalizeFailed as exc:
            error = exc.reason
        reply = _reply(Outcome(200, {"status": "accepted", **batch.tally})) if not error else None
        await hub.journal.finish_input(
            stored.id, "error" if error else "processed", reply or stored.reply, error
        )
