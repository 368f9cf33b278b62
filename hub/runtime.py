"""The running hub: wires config, journal, plugins, pipeline and realtime together.

Data flows one way: an input hands an ``InboundMessage`` to ``ingest``; plugins ``normalize``
it into drafts; ``publish`` journals them (durably) and, from the journal's commit callback,
observers see them and the fan-out emits them, in ``seq`` order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from hub.alerts.escalation import EscalationWatch
from hub.auth import Principal, TokenVerifier, load_or_create_secret
from hub.config import ConfigError, HubConfig
from hub.events import Event, EventDraft, iso, new_event_id, utc_now
from hub.input_alerts import InputAlerts
from hub.inputs import InboundMessage, Input, NormalizeFailed, RejectMessage
from hub.journal import Appended, InputRecord, Journal, SQLiteJournal, StoredInput
from hub.metrics import Metrics
from hub.plugins import PluginFailed, PluginHost
from hub.policy import RoomDecision, combine
from hub.rooms import Room

log = logging.getLogger("hub")

_current: HubContext | None = None


def current_hub() -> HubContext:
    """The running hub of this process (for ``hub.emit``); raises when none is running."""
    if _current is None or not _current.started:
        raise RuntimeError("no hub is running in this process; use hub.client.HubClient")
    return _current


class Census:
    """Where the hub believes patients and triage cases are; read-only view for policies."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    def patient_hospitals(self, patient_id: str) -> frozenset[str]:
        return self._journal.patient_hospitals(patient_id)

    def triage_patient(self, triage_id: str) -> str | None:
        return self._journal.triage_patient(triage_id)

    def patient_hospital(self, patient_id: str) -> str | None:
        """The one hospital the patient is known in, or None (unknown, or not one)."""
        hospitals = self._journal.patient_hospitals(patient_id)
        return next(iter(hospitals)) if len(hospitals) == 1 else None

    def patient_triage_cases(self, patient_id: str) -> dict[str, dict[str, Any]]:
        """The patient's triage cases by id, each with its last status, hospital and priority."""
        return self._journal.patient_triage_cases(patient_id)

    def bed_board(self, hospital_id: str) -> list[dict[str, Any]]:
        """Every bed the hub knows in a hospital, with its latest status and patient."""
        return self._journal.bed_board(hospital_id)

    def patient_bed(self, patient_id: str) -> dict[str, Any] | None:
        """The bed a patient occupies, as the hub last heard."""
        return self._journal.patient_bed(patient_id)

    def bed(self, hospital_id: str, bed_id: str) -> dict[str, Any] | None:
        """One bed's latest record: status, patient, ``updated_at`` (the event's time)."""
        return self._journal.bed(hospital_id, bed_id)

    def staff(self, hospital_id: str) -> list[dict[str, Any]]:
        """Staff of a hospital as last heard: ``staff_id``, ``staff_type``, ``available``."""
        return self._journal.staff(hospital_id)


@dataclass(frozen=True, slots=True)
class Normalized:
    """What the plugins made of one message: ``(local id, draft)`` pairs and who raised."""

    drafts: list[tuple[str, EventDraft]]
    failed: list[PluginFailed]

    def failure(self) -> NormalizeFailed | None:
        if not self.failed:
            return None
        names = ", ".join(f"{f.plugin} ({f.error})" for f in self.failed)
        return NormalizeFailed("plugin_error", f"plugin failed: {names}; kept for reprocessing")


@dataclass(frozen=True, slots=True)
class Accepted:
    """A stored inbound message, the answer its sender gets and the events it produced."""

    stored: StoredInput
    reply: bytes | None
    events: list[Appended]


class HubContext:
    def __init__(self, config: HubConfig, plugins: PluginHost | None = None) -> None:
        self.config = config
        self.metrics = Metrics()
        self.plugins = plugins or PluginHost()
        self.plugins.on_error = lambda name, hook: self.metrics.plugin_errors.labels(
            name, hook
        ).inc()
        secret = load_or_create_secret(config.auth) if "HS256" in config.auth.algorithms else None
        self.secret = secret
        self.verifier = TokenVerifier(config.auth, secret)
        # hostname:pid by default: unique per process, so a restarted node does not mistake a
        # dead one's leases for its own unless the operator names nodes on purpose
        self.node_id = config.cluster.node_id or f"{socket.gethostname()}:{os.getpid()}"
        self.journal: Journal = self._journal(config)
        self.census = Census(self.journal)
        self.input_alerts = InputAlerts(self)
        self.escalations = EscalationWatch(self)
        self.plugins.on_hung = self._plugin_hung
        self.inputs: list[Input] = []
        self.background: set[asyncio.Task[Any]] = set()
        self._dispatch: Any = None  # set by the realtime layer: Callable[[Appended], None]
        self.fanout: Any = None
        self.started = False
        self.draining = False  # shutting down: not ready, no new input
        self._inputs_stopped = False
        self._configured = False
        self._registered = False

    def _journal(self, config: HubConfig) -> Journal:
        cfg = config.journal
        if cfg.backend == "postgresql":
            try:
                from hub.journal.postgres import PostgresJournal
            except ImportError as exc:
                raise ConfigError(
                    "journal.backend = postgresql needs the postgres extra: "
                    f"pip install 'clinical-integration-hub[postgres]' ({exc})"
                ) from exc
            assert cfg.dsn is not None
            cluster = config.cluster
            bus = None
            if cluster.bus == "redis":
                try:
                    import redis  # noqa: F401  (checked here so a missing extra is a config error)

                    from hub.journal.bus import RedisBus
                except ImportError as exc:
                    raise ConfigError(
                        "cluster.bus = redis needs the redis extra: "
                        f"pip install 'clinical-integration-hub[redis]' ({exc})"
                    ) from exc
                bus = RedisBus(cluster.redis_url)
            return PostgresJournal(
                cfg.dsn,
                group_commit_max=cfg.group_commit_max,
                on_commit=self._committed,
                tail_interval_s=cluster.catch_up_interval_s,
                bus=bus,
                node_id=self.node_id,
                lease_s=cluster.lease_s,
                migrate_on_open=cfg.migrate_on_open,
            )
        return SQLiteJournal(
            cfg.path, group_commit_max=cfg.group_commit_max, on_commit=self._committed
        )

    def configure_plugins(self) -> None:
        """Run the plugins' ``configure`` hooks once; raises ``ConfigError`` for bad settings."""
        if not self._configured:
            self.plugins.hook_timeout_s = self.config.plugins.hook_timeout_s
            self.plugins.apply_isolation(self.config.plugins.isolate)
            self.plugins.configure(hub=self)
            self._configured = True

    def _plugin_hung(self, name: str, hook: str) -> None:
        self.input_alerts.problem(
            f"plugin:{name}",
            "hung",
            ["system"],
            f"plugin {name} did not answer {hook} within {self.plugins.hook_timeout_s:g} s; "
            "it is skipped until the hub restarts, and the messages it missed are kept as "
            "errors for reprocessing",
        )

    def register_inputs(self) -> list[Input]:
        """Configure the plugins and collect their inputs, once (before serving)."""
        self.configure_plugins()
        if not self._registered:
            self.plugins.call("register_inputs", hub=self, register=self.inputs.append)
            self._registered = True
        return self.inputs

    def plugin_settings(self, name: str) -> dict[str, Any]:
        return dict(self.config.plugins.settings.get(name, {}))

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self.register_inputs()
        await self.journal.open()
        for component in self.inputs:
            try:
                await component.start(self)
            except Exception:
                log.exception("input failed to start", extra={"input": component.name})
        self._spawn(self._prune_loop(), "journal-prune")
        self._spawn(self._watch_inputs(), "input-watchdog")
        self._spawn(self.escalations.run(), "alert-escalation")
        self.started = True
        global _current
        _current = self
        log.info(
            "hub started",
            extra={"last_seq": self.journal.last_seq, "inputs": [i.name for i in self.inputs]},
        )

    async def drain(self) -> None:
        """The first step of a graceful shutdown: report not ready (so a load balancer sends
        nothing new), stop every input (MLLP stops accepting; a message being handled still
        gets its answer; HTTP inputs answer 503 so senders retry elsewhere)."""
        self.draining = True
        log.info("draining", extra={"inputs": [i.name for i in self.inputs]})
        await self._stop_inputs()

    async def _stop_inputs(self) -> None:
        if self._inputs_stopped:
            return
        self._inputs_stopped = True
        for component in reversed(self.inputs):
            try:
                await component.stop()
            except Exception:
                log.exception("input failed to stop", extra={"input": component.name})

    async def stop(self) -> None:
        await self._stop_inputs()
        for task in list(self.background):
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        await self.journal.close()
        self.plugins.shutdown()
        self.started = False

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def _watch_inputs(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self.input_alerts.check_silence(self.inputs, time.monotonic())
            except Exception:
                log.exception("input watchdog failed")

    async def _prune_loop(self) -> None:
        cfg = self.config.journal
        while True:
            now = utc_now()
            cutoff = iso(now - timedelta(days=cfg.retention_days))
            try:
                removed = await self.journal.prune(cutoff)
                inputs, audits = await self.journal.prune_records(
                    iso(now - timedelta(days=cfg.inputs_retention_days)),
                    iso(now - timedelta(days=cfg.audit_retention_days)),
                )
                if removed or inputs or audits:
                    log.info(
                        "journal pruned",
                        extra={"events": removed, "inputs": inputs, "audit": audits},
                    )
            except Exception:
                log.exception("journal prune failed")
            await asyncio.sleep(cfg.prune_interval_s)

    async def readiness(self) -> dict[str, str]:
        """Problems by component; empty when ready."""
        problems: dict[str, str] = {}
        if self.draining:
            problems["hub"] = "shutting down"
            return problems
        if not self.started:
            problems["hub"] = "starting"
            return problems
        reason = await self.journal.check_writable()
        if reason:
            problems["journal"] = reason
        for component in self.inputs:
            try:
                health = component.health()
            except Exception as exc:
                health = f"health check raised {type(exc).__name__}"
            if health:
                problems[f"input:{component.name}"] = health
        return problems

    # --- pipeline -----------------------------------------------------------------------------

    def set_dispatcher(self, dispatch: Any, fanout: Any = None) -> None:
        self._dispatch = dispatch
        self.fanout = fanout  # the realtime layer's Fanout (connected clients), for status

    def _committed(self, appended: list[Appended], records: int, seconds: float) -> None:
        """Journal commit callback: runs on the loop, in seq order, before callers resume."""
        if records:  # zero: other nodes' events arriving over the bus, nothing written here
            self.metrics.journal_write_seconds.observe(seconds)
            self.metrics.journal_batch_size.observe(records)
        for item in appended:
            if item.duplicate:
                self.metrics.duplicates.inc()
                continue
            event = item.event
            self.metrics.events.labels(event.type).inc()
            self.escalations.observe(event)
            self.plugins.call("event_journaled", event=event)
            if self._dispatch is not None:
                with self.metrics.emit_seconds.time():
                    self._dispatch(item)

    def _events(self, drafts: list[EventDraft], ids: list[str]) -> list[Event]:
        received = utc_now()
        received_iso = iso(received)
        events = []
        for draft, event_id in zip(drafts, ids, strict=True):
            payload = draft.payload
            data = payload.model_dump(mode="json", exclude={"timestamp"})
            timestamp = payload.timestamp or received
            events.append(
                Event(
                    id=event_id,
                    seq=0,
                    type=payload.event_type,
                    timestamp=iso(timestamp),
                    received_at=received_iso,
                    source=draft.source,
                    rooms=tuple(payload.rooms()),
                    data=data,
                    patient_location=payload.patient_location(),
                )
            )
        return events

    async def publish(self, drafts: list[EventDraft]) -> list[Appended]:
        """Journal drafts atomically; returns once durable. Fan-out happens on commit."""
        if not drafts:
            return []
        events = self._events(drafts, [d.id or new_event_id() for d in drafts])
        return await self.journal.append(events)

    async def normalize(self, message: InboundMessage) -> Normalized:
        """Every plugin's drafts for ``message``, each with a local id (``plugin:index``).

        Raises ``NormalizeFailed`` when a plugin rejects the message or produces an invalid
        event: then nothing from the message may be journaled. A plugin that raises anything
        else is isolated: the others' drafts stand and it is listed in ``failed``, so the
        message can be kept as an error and reprocessed once the plugin is fixed.
        """
        try:
            results, failed = await self.plugins.call_each_async(
                "normalize", (RejectMessage, ValidationError), message=message
            )
        except RejectMessage as exc:
            raise NormalizeFailed(exc.code, exc.reason) from exc
        except ValidationError as exc:
            first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
            where = ".".join(str(p) for p in first["loc"])
            raise NormalizeFailed(
                "invalid_event", f"cannot normalize: {where} {first['msg']}"
            ) from exc
        drafts = [
            (f"{plugin}:{i}", draft) for plugin, result in results for i, draft in enumerate(result)
        ]
        return Normalized(drafts, failed)

    async def ingest(self, message: InboundMessage, id_prefix: str | None = None) -> list[Appended]:
        """Normalize one inbound message through the plugins and journal what they produce.

        Raises ``NormalizeFailed`` as ``normalize`` does (nothing is journaled), and also when
        a plugin raised (after journaling the other plugins' events).
        With ``id_prefix`` (the stored input's identity) drafts get deterministic ids, so
        processing the same stored message again journals nothing twice.
        """
        try:
            normalized = await self.normalize(message)
        except NormalizeFailed as exc:
            self.metrics.input_errors.labels(message.source, exc.code).inc()
            raise
        drafts = [draft for _, draft in normalized.drafts]
        if id_prefix is None:
            appended = await self.publish(drafts)
        else:
            ids = [d.id or f"{id_prefix}:{local}" for local, d in normalized.drafts]
            appended = await self.journal.append(self._events(drafts, ids)) if drafts else []
        failure = normalized.failure()
        if failure is not None:
            self.metrics.input_errors.labels(message.source, failure.code).inc()
            raise failure
        self.metrics.inputs.labels(message.source, "accepted").inc()
        return appended

    async def accept(
        self,
        message: InboundMessage,
        raw: bytes,
        dedupe_key: str | None,
        answer: Callable[[NormalizeFailed | None], bytes | None],
        problem: str | None = None,
    ) -> Accepted:
        """Normalize a message, then store it, its events and its answer in one commit.

        This is the inputs' fast path: one durable write per message instead of storing the
        raw message, journaling its events and recording the answer separately. Whatever
        ``answer`` returns for the outcome is what the sender gets, and what a duplicate of
        the message (same ``dedupe_key``) gets again later, with no new events. ``problem``
        (the adapter's, e.g. invalid entries it left out) keeps the message as an error even
        when the plugins succeeded on the rest.
        """
        failure: NormalizeFailed | None
        try:
            normalized = await self.normalize(message)
            pairs = normalized.drafts
            failure = normalized.failure()
        except NormalizeFailed as exc:
            pairs, failure = [], exc
        reply = answer(failure)
        record = InputRecord(
            source=message.source,
            dedupe_key=dedupe_key,
            raw=raw,
            received_at=iso(message.received_at),
            status="error" if failure or problem else "processed",
            reply=reply,
            error="; ".join(t for t in (problem, failure.reason if failure else None) if t) or None,
        )
        drafts = [draft for _, draft in pairs]
        events = self._events(drafts, [d.id or "" for d in drafts])
        stored, appended = await self.journal.accept_input(
            record, [(local, event) for (local, _), event in zip(pairs, events, strict=True)]
        )
        if stored.duplicate:
            self.metrics.inputs.labels(message.source, "duplicate").inc()
            return Accepted(stored, stored.reply, [])
        if failure is not None:
            self.metrics.input_errors.labels(message.source, failure.code).inc()
        else:
            self.metrics.inputs.labels(message.source, "accepted").inc()
        return Accepted(stored, reply, appended)

    # --- authorization ------------------------------------------------------------------------

    def authorize(self, principal: Principal, room: Room) -> RoomDecision:
        answers = self.plugins.call("authorize_room", principal=principal, room=room, hub=self)
        return combine(answers)
