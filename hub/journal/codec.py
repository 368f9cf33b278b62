"""How a journaled event is stored, shared by the backends.

The stored body is the wire JSON plus the two internal fields a reload needs; keeping them in
one document lets replay send stored text without re-encoding. The wire form drops them.
"""

from __future__ import annotations

from typing import Any

import orjson

from hub.events import Event


def stored_form(event: Event) -> dict[str, Any]:
    body = event.wire()
    body["_rooms"] = list(event.rooms)
    body["_loc"] = list(event.patient_location) if event.patient_location else None
    return body


def wire_only(stored: str) -> str:
    # Internal keys are written last, so cutting at the last "_rooms" key keeps valid JSON cheaply
    # even when a payload happens to carry a key of that name.
    cut = stored.rfind(',"_rooms":')
    return stored[:cut] + "}" if cut != -1 else stored


def event_fields(body: dict[str, Any]) -> dict[str, Any]:
    """``Event`` fields from a stored body (``Event.model_validate(event_fields(...))``)."""
    envelope = {k: body.pop(k) for k in ("id", "seq", "type", "version", "received_at", "source")}
    rooms = body.pop("_rooms", [])
    loc = body.pop("_loc", None)
    return {
        **envelope,
        "timestamp": body.get("timestamp"),
        "rooms": tuple(rooms),
        "data": body,
        "patient_location": tuple(loc) if loc else None,
    }


def stored_event(body: str) -> Event:
    """The event a stored body describes."""
    return Event.model_validate(event_fields(orjson.loads(body)))


def batch_weight(kind: str, payload: Any) -> int:
    """Records a queued write adds to a transaction, to bound group-commit size."""
    if kind == "events":
        return max(1, len(payload))
    if kind == "accept":
        return 1 + len(payload[1])
    return 1
