"""HTTP events API: publish an event (service tokens) and read a room's history."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError
from quart import Blueprint, Response, request

from hub.api.common import HttpError, authenticate, error, int_arg, json_response, raw_json
from hub.events import (
    HUB_EVENT_TYPES,
    EventDraft,
    UnknownEventType,
    parse_payload,
)
from hub.journal.base import AuditRecord
from hub.rooms import InvalidRoom, parse_room
from hub.runtime import HubContext

PUBLISH_ROLES = ("service",)


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(p) for p in e["loc"]) or "(body)",
            "error": e["msg"],
            "type": e["type"],
        }
        for e in exc.errors()
    ]


def blueprint(hub: HubContext) -> Blueprint:
    bp = Blueprint("events", __name__)

    @bp.post("/api/events/<event_type>")
    async def publish(event_type: str) -> Response:
        await authenticate(hub, PUBLISH_ROLES)
        mimetype = request.mimetype
        if mimetype and mimetype != "application/json":
            return error(415, "unsupported_media_type", "send application/json")
        raw = await request.get_data(as_text=False)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return error(400, "malformed_json", f"body is not valid JSON: {exc}")
        if not isinstance(body, dict):
            return error(400, "bad_request", "body must be a JSON object")
        event_id = body.pop("id", None)
        if event_id is not None and (
            not isinstance(event_id, str) or not 1 <= len(event_id) <= 128
        ):
            return error(
                422,
                "invalid_event",
                "id must be a string of 1-128 characters",
                errors=[{"field": "id", "error": "invalid id", "type": "string_type"}],
            )
        if event_type in HUB_EVENT_TYPES:
            return error(
                403,
                "forbidden",
                f"{event_type} is raised by the hub itself; acknowledge an alert with "
                "ack_alert over Socket.IO or POST /api/alerts/{id}/ack",
            )
        try:
            payload = parse_payload(event_type, body)
        except UnknownEventType as exc:
            return error(404, "unknown_event_type", str(exc))
        except ValidationError as exc:
            return error(
                422, "invalid_event", f"{event_type} failed validation", errors=field_errors(exc)
            )
        # X-Hub-Source lets a publishing system name itself in the event's source.
        caller = request.headers.get("X-Hub-Source", "").strip()[:64]
        source = f"api:{caller}" if caller else "api"
        appended = await hub.publish([EventDraft(payload=payload, source=source, id=event_id)])
        item = appended[0]
        hub.metrics.inputs.labels("api", "duplicate" if item.duplicate else "accepted").inc()
        return json_response(
            {"id": item.event.id, "seq": item.event.seq, "duplicate": item.duplicate}, 202
        )

    @bp.get("/api/events")
    async def history() -> Response:
        principal = await authenticate(hub)
        try:
            room = parse_room(request.args.get("room"))
        except InvalidRoom as exc:
            return error(400, "invalid_room", str(exc))
        since = int_arg("since", 0, 0, 2**62)
        limit = int_arg("limit", 100, 1, 1000)
        decision = hub.authorize(principal, room)
        if room.audited or not decision.allowed:
            await hub.journal.audit(
                AuditRecord.now(
                    principal,
                    "read",
                    room.name,
                    decision.allowed,
                    decision.reason if not decision.allowed else "",
                    request.remote_addr or "unknown",
                )
            )
        if not decision.allowed:
            return error(403, "forbidden", decision.reason)
        page = await hub.journal.read_room(room.name, since, hub.journal.last_seq, limit)
        next_since = page.items[-1][0] if page.items else since
        # Stored events are already wire JSON: splice them instead of decoding and re-encoding.
        events = ",".join(wire for _, wire in page.items)
        head = orjson.dumps(
            {
                "room": room.name,
                "next_since": next_since,
                "truncated": page.truncated,
                "more": len(page.items) == limit,
            }
        ).decode()
        return raw_json(f'{head[:-1]},"events":[{events}]}}')

    @bp.errorhandler(HttpError)
    async def _http_error(exc: HttpError) -> Response:
        return exc.response

    return bp
