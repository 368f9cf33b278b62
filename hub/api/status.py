"""The operator's status page: the node, its inputs' health, message rates, inbound errors and
connected clients (admin)."""

from __future__ import annotations

import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

from prometheus_client.metrics import MetricWrapperBase
from quart import Blueprint, Response

from hub import __version__
from hub.api.common import HttpError, authenticate, json_response
from hub.realtime.fanout import Fanout
from hub.runtime import HubContext


def blueprint(hub: HubContext) -> Blueprint:
    bp = Blueprint("status", __name__)

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

    @bp.errorhandler(HttpError)
    async def _http_error(exc: HttpError) -> Response:
        return exc.response

    return bp


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
