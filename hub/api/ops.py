"""Operator endpoints: index, health, readiness, metrics, audit, plugins, schemas, OpenAPI."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from quart import Blueprint, Response, request

from hub import __version__
from hub.api.common import (
    HttpError,
    authenticate,
    error,
    hospital_reader,
    int_arg,
    json_response,
)
from hub.api.openapi import openapi_document
from hub.events import EVENT_TYPES, json_schema
from hub.realtime.fanout import Fanout
from hub.rooms import InvalidRoom, parse_room
from hub.runtime import HubContext

OPEN_TRIAGE = ("pending", "triaged", "assigned")


def blueprint(hub: HubContext) -> Blueprint:
    bp = Blueprint("ops", __name__)

    @bp.get("/")
    async def index() -> Response:
        return json_response(
            {
                "name": hub.config.name,
                "service": "clinical integration hub",
                "version": __version__,
                "links": {
                    "health": "/health",
                    "ready": "/ready",
                    "metrics": "/metrics",
                    "openapi": "/openapi.json",
                    "schemas": "/api/schemas",
                    "events": "/api/events",
                    "socket.io": "/socket.io/",
                },
            }
        )

    @bp.get("/health")
    async def health() -> Response:
        return json_response({"status": "alive"})

    @bp.get("/ready")
    async def ready() -> Response:
        problems = await hub.readiness()
        if problems:
            return json_response({"ready": False, "problems": problems}, 503)
        return json_response({"ready": True, "last_seq": hub.journal.last_seq})

    @bp.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(hub.metrics.registry), content_type=CONTENT_TYPE_LATEST)

    @bp.get("/openapi.json")
    async def openapi() -> Response:
        return json_response(openapi_document())

    @bp.get("/api/schemas")
    async def schemas() -> Response:
        return json_response({t: f"/api/schemas/{t}" for t in EVENT_TYPES})

    @bp.get("/api/schemas/<event_type>")
    async def schema(event_type: str) -> Response:
        if event_type not in EVENT_TYPES:
            return error(404, "unknown_event_type", f"no event type {event_type!r}")
        return json_response(json_schema(event_type))

    @bp.get("/api/audit")
    async def audit() -> Response:
        await authenticate(hub, roles=("admin",))
        since = int_arg("since", 0, 0, 2**62)
        limit = int_arg("limit", 100, 1, 1000)
        rows = await hub.journal.read_audit(
            since, limit, request.args.get("room"), request.args.get("subject")
        )
        return json_response(
            {
                "entries": [{"id": rid, **asdict(rec)} for rid, rec in rows],
                "next_since": rows[-1][0] if rows else since,
            }
        )

    @bp.get("/api/hospitals/<hospital_id>/beds")
    async def beds(hospital_id: str) -> Response:
        refused = await hospital_reader(hub, hospital_id)
        if refused is not None:
            return refused
        board = hub.census.bed_board(hospital_id)
        return json_response({"hospital_id": hospital_id, "beds": board})

    @bp.get("/api/hospitals/<hospital_id>/staff")
    async def staff(hospital_id: str) -> Response:
        refused = await hospital_reader(hub, hospital_id)
        if refused is not None:
            return refused
        members = hub.census.staff(hospital_id)
        on_duty = {"doctor": 0, "nurse": 0, "other": 0}
        for member in members:
            if member["available"]:
                on_duty[member["staff_type"]] = on_duty.get(member["staff_type"], 0) + 1
        return json_response(
            {
                "hospital_id": hospital_id,
                "on_duty": on_duty,
                "on_duty_total": sum(on_duty.values()),
                "staff": members,
            }
        )

    @bp.get("/api/plugins")
    async def plugins() -> Response:
        await authenticate(hub, roles=("admin",))
        return json_response(
            {
                "loaded": [asdict(p) for p in hub.plugins.list()],
                "failed": [asdict(f) for f in hub.plugins.failures],
            }
        )

    @bp.errorhandler(HttpError)
    async def _http_error(exc: HttpError) -> Response:
        return exc.response

    # --- console: the open triage queue of a hospital, and the operator's status page ----------

    @bp.get("/api/triage")
    async def triage() -> Response:
        principal = await authenticate(hub, roles=hub.config.auth.clinical_roles)
        hospital_id = request.args.get("hospital", "")
        if not hospital_id:
            return error(400, "bad_request", "hospital is required: /api/triage?hospital=H")
        try:
            room = parse_room(f"hospital_{hospital_id}")
        except InvalidRoom:
            return error(400, "bad_request", "invalid hospital id")
        decision = hub.authorize(principal, room)
        if not decision.allowed:
            return error(403, "forbidden", decision.reason)
        cases, complete = await open_triage_cases(hub, hospital_id)
        return json_response(
            {
                "hospital_id": hospital_id,
                "seq": hub.journal.last_seq,
                "complete": complete,
                "cases": cases,
            }
        )

    rates = RateWindow()

    @bp.get("/api/ops/status")
    async def ops_status() -> Response:
        await authenticate(hub, roles=("admin",))
        errors = await hub.journal.list_inputs("error", None, 0, INBOUND_ERRORS_CAP)
        return json_response(
            {
                "node": {
                    "name": hub.config.name,
                    "node_id": hub.node_id,
                    "version": __version__,
                    "uptime_s": round(time.monotonic() - rates.started, 1),
                },
                "journal": {
                    "backend": hub.config.journal.backend,
                    "last_seq": hub.journal.last_seq,
                },
                "inputs": input_status(hub),
                "messages": rates.sample(hub),
                "inbound_errors": {
                    "count": len(errors),
                    "capped": len(errors) >= INBOUND_ERRORS_CAP,
                    "list": "/api/inbound?status=error",
                },
                "realtime": realtime_status(hub),
            }
        )

    return bp


# --- /api/triage -------------------------------------------------------------------------------

TRIAGE_PAGE = 1000


async def open_triage_cases(hub: HubContext, hospital_id: str) -> tuple[list[dict[str, Any]], bool]:
    """The hospital's open triage cases, longest waiting first within each priority.

    The census says which cases are open (status, priority, hospital); it keeps no times, so
    the ``triage_queue`` room's history (within the journal's retention) gives each case's
    ``opened_at`` (first event) and ``since`` (when it entered its current status).
    ``complete`` is False when older events were pruned: cases opened before retention
    are then missing.
    """
    history: dict[str, dict[str, Any]] = {}
    since, until, complete = 0, hub.journal.last_seq, True
    while True:
        page = await hub.journal.read_room("triage_queue", since, until, TRIAGE_PAGE)
        complete = complete and not page.truncated
        for seq, wire in page.items:
            event = orjson.loads(wire)
            tid = event["triage_id"]
            case = history.get(tid)
            if case is None:
                case = history[tid] = {"triage_id": tid, "opened_at": event["timestamp"]}
            if case.get("status") != event["status"]:
                case["since"] = event["timestamp"]
            case.update(
                patient_id=event["patient_id"],
                status=event["status"],
                hospital_id=event.get("hospital_id"),
                priority=event.get("priority"),
                details=event.get("details") or {},
                updated_at=event["timestamp"],
                seq=seq,
            )
        if len(page.items) < TRIAGE_PAGE:
            break
        since = page.items[-1][0]
    by_patient: dict[str, dict[str, dict[str, Any]]] = {}
    cases = []
    for tid, case in history.items():
        if case["status"] not in OPEN_TRIAGE:
            continue
        patient = case["patient_id"]
        if patient not in by_patient:
            by_patient[patient] = hub.census.patient_triage_cases(patient)
        known = by_patient[patient].get(tid)
        if known is not None:  # the census is authoritative for the case's current state
            if known.get("status") not in OPEN_TRIAGE:
                continue
            case.update(
                status=known["status"],
                priority=known.get("priority"),
                hospital_id=known.get("hospital_id") or case["hospital_id"],
            )
        hospital = case["hospital_id"] or hub.census.patient_hospital(patient)
        if hospital != hospital_id:
            continue
        case["hospital_id"] = hospital
        cases.append(case)
    cases.sort(key=lambda c: (c["priority"] or 99, c["opened_at"], c["triage_id"]))
    return cases, complete


# --- /api/ops/status ---------------------------------------------------------------------------

INBOUND_ERRORS_CAP = 1000
RATE_WINDOW_S = 300.0


def _iso_from_monotonic(value: float, now_mono: float, now_wall: float) -> str:
    when = datetime.fromtimestamp(now_wall - (now_mono - value), UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def input_status(hub: HubContext) -> list[dict[str, Any]]:
    """Each input's name, kind, health and last message (as the watchdog sees them)."""
    open_problems: dict[str, list[str]] = {}
    for name, kind in hub.input_alerts.open_problems().items():
        open_problems.setdefault(name, []).append(kind)
    now_mono, now_wall = time.monotonic(), time.time()
    result = []
    for component in hub.inputs:
        try:
            health = component.health()
        except Exception as exc:
            health = f"health check raised {type(exc).__name__}"
        problems = open_problems.get(component.name, [])
        last = getattr(component, "last_activity", None)
        silence = getattr(component, "max_silence_s", None)
        result.append(
            {
                "name": component.name,
                "kind": component.name.split(":", 1)[0],
                "healthy": health is None and not problems,
                "problem": health or (", ".join(problems) if problems else None),
                "problems": problems,
                "last_activity": (
                    _iso_from_monotonic(last, now_mono, now_wall)
                    if isinstance(last, int | float)
                    else None
                ),
                "max_silence_s": silence if isinstance(silence, int | float) else None,
            }
        )
    return result


def _samples(metric: MetricWrapperBase) -> dict[tuple[str, ...], float]:
    """A counter's or gauge's current values by label values (``_created`` samples left out)."""
    values: dict[tuple[str, ...], float] = {}
    for family in metric.collect():
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            values[tuple(sample.labels.values())] = sample.value
    return values


def _counters(hub: HubContext) -> dict[str, float]:
    """The counters whose rates the status page shows, flattened to ``name[:label...]``."""
    m = hub.metrics
    flat: dict[str, float] = {}
    for prefix, metric in (
        ("events", m.events),
        ("inputs", m.inputs),
        ("input_errors", m.input_errors),
        ("deliveries", m.deliveries),
    ):
        for labels, value in _samples(metric).items():
            flat[":".join((prefix, *labels))] = value
    flat["duplicates"] = sum(_samples(m.duplicates).values())
    flat["plugin_errors"] = sum(_samples(m.plugin_errors).values())
    return flat


def _count(value: float) -> float:
    """Counters are whole numbers; Prometheus keeps them as floats."""
    return int(value) if float(value).is_integer() else value


class RateWindow:
    """Message counts from the Prometheus counters, and per-minute rates over the last
    ``RATE_WINDOW_S`` seconds of status requests (since start until there is such history)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        # the counters start at zero with the process: that is the first sample
        self._history: deque[tuple[float, dict[str, float]]] = deque([(self.started, {})])

    def sample(self, hub: HubContext) -> dict[str, Any]:
        now, counts = time.monotonic(), _counters(hub)
        while len(self._history) > 1 and now - self._history[1][0] >= RATE_WINDOW_S:
            self._history.popleft()
        then, before = self._history[0]
        if now - self._history[-1][0] >= 1.0:
            self._history.append((now, counts))
        elapsed = now - then
        # over less than a minute, the count so far (no extrapolation from a few seconds)
        per = max(elapsed, 60.0)

        def per_min(key: str) -> float:
            return round((counts.get(key, 0.0) - before.get(key, 0.0)) * 60.0 / per, 2)

        def group(prefix: str) -> dict[str, dict[str, float]]:
            return {
                key[len(prefix) + 1 :]: {"total": _count(counts[key]), "per_min": per_min(key)}
                for key in sorted(counts)
                if key.startswith(prefix + ":")
            }

        events = group("events")
        inputs = group("inputs")
        errors = group("input_errors")
        deliveries = group("deliveries")

        def total(items: dict[str, dict[str, float]]) -> dict[str, float]:
            return {
                "total": _count(sum(v["total"] for v in items.values())),
                "per_min": round(sum(v["per_min"] for v in items.values()), 2),
            }

        return {
            "window_s": round(elapsed, 1),
            "events": {**total(events), "by_type": events},
            "inputs": {**total(inputs), "by_adapter_outcome": inputs},
            "input_errors": {**total(errors), "by_adapter_reason": errors},
            "deliveries": {**total(deliveries), "by_mode": deliveries},
            "duplicates": _count(counts.get("duplicates", 0.0)),
            "plugin_errors": _count(counts.get("plugin_errors", 0.0)),
        }


def realtime_status(hub: HubContext) -> dict[str, Any]:
    """Connected Socket.IO clients and the rooms they are in (only the gauge when the hub
    runs without its realtime layer, as in ``hub.testing.Pipeline``)."""
    gauge = _samples(hub.metrics.connected_clients)
    connected = int(sum(gauge.values()))
    fanout = hub.fanout
    if not isinstance(fanout, Fanout):
        return {"connected_clients": connected, "rooms": None, "rooms_by_kind": None}
    rooms: set[str] = set()
    for client in list(fanout.clients.values()):
        rooms.update(client.rooms)
    by_kind: dict[str, int] = {}
    for name in rooms:
        kind = "triage_queue" if name == "triage_queue" else name.split("_", 1)[0]
        by_kind[kind] = by_kind.get(kind, 0) + 1
    return {
        "connected_clients": len(fanout.clients),
        "rooms": len(rooms),
        "rooms_by_kind": by_kind,
    }
